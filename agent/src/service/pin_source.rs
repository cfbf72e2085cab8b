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
//! A PIN that may not be used is dropped (wiped) unsent; a rejected PIN is never sent again.

use card_agent_protocol::secret::SecretString;

use super::{Api, Caller, Service, Who};
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
#[derive(Debug, PartialEq, Eq)]
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
    /// The PIN for one operation on `token`, from the source the table allows.
    pub(super) fn obtain_pin(
        &self,
        caller: &Caller,
        from_request: Option<SecretString>,
        token: &TokenInfo,
        holder: &str,
    ) -> Result<Pin> {
        // A PIN-pad reader takes the PIN itself: nothing is asked here. A PIN that came with
        // the request is wiped unused (a legacy page always sends one), except from a caller
        // that may never send one, which is refused as always.
        if token.pin_pad {
            if from_request.is_some() && request_pin(caller.who()) == RequestPin::Never {
                return Err(Error::PinFromPage);
            }
            drop(from_request);
            return Ok(self.pin_on_reader(caller, token, holder));
        }
        let source = decide(
            caller.who(),
            self.settings.pin_entry,
            from_request.is_some(),
            token.pin_state,
        )?;
        match (source, from_request) {
            (Source::Request, Some(pin)) => Ok(Pin::new(pin.into_inner())),
            (_, offered) => {
                // A PIN that may not be used (the card's final try) is wiped here, unsent; the
                // dialog alone may ask now, and without one the request is refused as such.
                let dropped = offered.is_some();
                drop(offered);
                let dialogs = self.dialogs().map_err(|e| match e {
                    Error::NoPinDialog { tried } if dropped => Error::FinalTryNeedsDialog { tried },
                    e => e,
                })?;
                self.ask_pin(dialogs, caller, token, holder)
            }
        }
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
        let _turn = self.dialog_turn.lock().unwrap_or_else(|p| p.into_inner());
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
