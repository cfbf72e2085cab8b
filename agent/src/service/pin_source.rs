//! Where a PIN may come from: the one table, enforced here for every channel.
//!
//! | caller | PIN in the request | on the card's final try |
//! |---|---|---|
//! | a page of card-agent's own API, our extension's pages | never ([`Error::PinFromPage`]) | — |
//! | a HiPKI or SmartPKI page (on a trusted site: admission comes first), our pages on the legacy port | yes (their pages send it), unless `pin_entry = "dialog"` | only the dialog; with no dialog program, [`Error::FinalTryNeedsDialog`] — the PIN is never sent |
//! | a local program of the same user | yes | yes |
//!
//! A request without a PIN gets the agent's own dialog, except under `pin_entry = "page"`
//! (kiosks without a desktop), where a page's request must carry one ([`Error::PinRequired`]).
//! A PIN that may not be used is dropped (wiped) unsent; a PIN the card refused is never sent
//! to it again (the card core's rule, for every source: see `card_core::refused`).
//!
//! The table is applied to the card's state as the operation's turn reads it, right before the
//! login (the one read of it per operation): a page's PIN whose request waited while the card
//! reached its final try is wiped unsent, and the dialog asks (see [`Service::with_pin`]).

use card_agent_protocol::secret::SecretString;

use super::{discard_if_gone, still_wanted, Api, Caller, Service, Who};
use crate::card_core::Admit;
use crate::config::PinEntry;
use crate::error::{Error, Result};
use crate::pin::{Pin, PinState};
use crate::pinentry::PinRequest;
use crate::token::TokenInfo;

/// Whether a caller's request may carry the PIN (the table's middle column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPin {
    /// Never: the agent's dialog asks.
    Never,
    /// Yes, except on the card's final try, when only the dialog may ask.
    UnlessFinalTry,
    /// Yes.
    Always,
}

/// The table's row for `who`.
pub fn request_pin(who: &Who) -> RequestPin {
    match who {
        Who::Site {
            api: Api::CardAgent,
            ..
        }
        | Who::OwnExtensionPage => RequestPin::Never,
        Who::Site {
            api: Api::HiPki | Api::SmartPki,
            ..
        }
        | Who::OwnLegacyPage => RequestPin::UnlessFinalTry,
        Who::LocalProgram => RequestPin::Always,
    }
}

/// Where the PIN for one operation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The PIN the request carried.
    Request,
    /// The agent's own dialog.
    Dialog,
}

/// Decides the source, or the refusal, for a caller, the `pin_entry` setting, whether the
/// request carried a PIN, and the token's PIN state.
pub fn decide(who: &Who, setting: PinEntry, offered: bool, state: PinState) -> Result<Source> {
    let final_try = state == PinState::FinalTry;
    let from_a_page = !matches!(who, Who::LocalProgram);
    match (request_pin(who), offered) {
        (RequestPin::Never, true) => Err(Error::PinFromPage),
        (RequestPin::UnlessFinalTry, true) if setting == PinEntry::Dialog => Err(Error::BadInput(
            "this agent takes PINs only in its own dialog (pin_entry = \"dialog\"); send the request without a PIN".to_owned(),
        )),
        // The last try is the user's to spend, in the agent's own dialog: the page's PIN is
        // dropped unsent.
        (RequestPin::UnlessFinalTry, true) if final_try => Ok(Source::Dialog),
        (RequestPin::UnlessFinalTry | RequestPin::Always, true) => Ok(Source::Request),
        (_, false) if setting == PinEntry::Page && from_a_page && !final_try => {
            Err(Error::PinRequired)
        }
        (_, false) => Ok(Source::Dialog),
    }
}

impl Service {
    /// Runs a card operation on `token` for `caller` with the PIN from the source the table
    /// allows, and the operation's outcome unless the caller stopped waiting meanwhile.
    ///
    /// `operation` gets the PIN and the check ([`Admit`]) to pass to the card core, which
    /// runs it on the token's fresh state in the token's turn. A PIN the request carried is
    /// sent only if that state still allows it. The only state that does not is a page's PIN
    /// on the card's final try, reached while the request waited: nothing reaches the card,
    /// the page's PIN is wiped unsent, and the dialog asks, as the table's final-try row says.
    pub(super) fn with_pin<T>(
        &self,
        caller: &Caller,
        offered: Option<SecretString>,
        token: &TokenInfo,
        holder: &str,
        what: &'static str,
        operation: impl Fn(&Pin, Admit<'_>) -> Result<T>,
    ) -> Result<T> {
        let offered = offered.map(|p| Pin::new(p.into_inner()));
        let (pin, source) = self.obtain_pin(caller, offered, token, holder)?;
        let admit = |fresh: &TokenInfo| self.still_allowed(caller, what, source, fresh);
        let outcome = match operation(&pin, &admit) {
            Err(Error::PinStateChanged) => {
                drop(pin);
                let fresh = self.core.token_state(token)?;
                let pin = self.dialog_pin(caller, &fresh, holder, true)?;
                let admit =
                    |fresh: &TokenInfo| self.still_allowed(caller, what, Source::Dialog, fresh);
                operation(&pin, &admit)
            }
            outcome => outcome,
        };
        discard_if_gone(caller, what, outcome)
    }

    /// The check in the token's turn (see [`Admit`]): the caller still waits, and a PIN from
    /// the request is still allowed on the card's fresh state.
    fn still_allowed(
        &self,
        caller: &Caller,
        what: &str,
        source: Source,
        fresh: &TokenInfo,
    ) -> Result<()> {
        if !still_wanted(caller, what) {
            return Err(Error::CallerGone);
        }
        if source == Source::Request
            && decide(caller.who(), self.settings.pin_entry, true, fresh.pin_state)?
                != Source::Request
        {
            return Err(Error::PinStateChanged);
        }
        Ok(())
    }

    /// The PIN for one operation on `token`, from the source the table allows, and that
    /// source. `token`'s state may be as remembered: a PIN from the request is checked again
    /// in the turn; any other outcome (a dialog, a PIN-pad notice, a refusal) is decided on
    /// the state read now, so a person sees the card's own count.
    fn obtain_pin(
        &self,
        caller: &Caller,
        from_request: Option<Pin>,
        token: &TokenInfo,
        holder: &str,
    ) -> Result<(Pin, Source)> {
        // A PIN-pad reader takes the PIN itself: nothing is asked here. A PIN that came with
        // the request is wiped unused (a legacy page always sends one), except from a caller
        // that may never send one, which is refused as always.
        if token.pin_pad {
            if from_request.is_some() && request_pin(caller.who()) == RequestPin::Never {
                return Err(Error::PinFromPage);
            }
            drop(from_request);
            let token = self.core.token_state(token)?;
            // No PIN from the request: nothing for the turn to check again.
            return Ok((self.pin_on_reader(caller, &token, holder), Source::Dialog));
        }
        let (who, setting, offered) = (
            caller.who(),
            self.settings.pin_entry,
            from_request.is_some(),
        );
        let fresh;
        let (source, token) = match decide(who, setting, offered, token.pin_state) {
            Ok(Source::Request) => (Source::Request, token),
            _ => {
                fresh = self.core.token_state(token)?;
                (decide(who, setting, offered, fresh.pin_state)?, &fresh)
            }
        };
        match (source, from_request) {
            (Source::Request, Some(pin)) => Ok((pin, Source::Request)),
            (_, offered) => {
                // A PIN that may not be used (the card's final try) is wiped here, unsent.
                let dropped = offered.is_some();
                drop(offered);
                let pin = self.dialog_pin(caller, token, holder, dropped)?;
                Ok((pin, Source::Dialog))
            }
        }
    }

    /// The PIN from the agent's own dialog, for `token` in the state given. When the request's
    /// PIN was `dropped` (the card's final try), a missing dialog program refuses the request
    /// as such.
    fn dialog_pin(
        &self,
        caller: &Caller,
        token: &TokenInfo,
        holder: &str,
        dropped: bool,
    ) -> Result<Pin> {
        let dialogs = self.dialogs().map_err(|e| match e {
            Error::NoPinDialog { tried } if dropped => Error::FinalTryNeedsDialog { tried },
            e => e,
        })?;
        self.ask_pin(dialogs, caller, token, holder)
    }

    /// The PIN-pad case: the notice dialog, kept open while the reader takes the PIN. Without
    /// a dialog program (or with `pin_entry = "page"`) the operation goes on without it: the
    /// reader itself shows that it waits for the PIN.
    fn pin_on_reader(&self, caller: &Caller, token: &TokenInfo, holder: &str) -> Pin {
        if self.settings.pin_entry == PinEntry::Page {
            return Pin::on_reader(None);
        }
        let card = card_name(token);
        let site = caller.site().map(|o| o.as_str().to_owned());
        let request = PinRequest {
            site: site.as_deref(),
            holder,
            card: &card,
            tries_left: token.known_tries_left(),
            after_wrong_pin: false,
            lang: caller.lang,
        };
        let notice = self
            .dialogs()
            .and_then(|dialogs| dialogs.show_reader_notice(&caller.client, &request));
        match notice {
            Ok(notice) => Pin::on_reader(Some(notice)),
            Err(e) => {
                tracing::warn!(error = %e, "no PIN-pad notice shown");
                Pin::on_reader(None)
            }
        }
    }

    fn ask_pin(
        &self,
        dialogs: &dyn super::Dialogs,
        caller: &Caller,
        token: &TokenInfo,
        holder: &str,
    ) -> Result<Pin> {
        let _turn = self.dialog_turn.take();
        let card = card_name(token);
        let site = caller.site().map(|o| o.as_str().to_owned());
        dialogs.ask_pin(
            &caller.client,
            &PinRequest {
                site: site.as_deref(),
                holder,
                card: &card,
                tries_left: token.known_tries_left(),
                after_wrong_pin: !matches!(token.pin_state, PinState::Ok),
                lang: caller.lang,
            },
        )
    }
}

/// The card as the dialogs name it.
fn card_name(token: &TokenInfo) -> String {
    if token.demo {
        format!("DEMO ({})", token.serial)
    } else {
        format!("{} ({})", token.label, token.serial)
    }
}
