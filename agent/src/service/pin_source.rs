//! Where a PIN comes from: the request (a page or local client typed it) or the agent's own
//! dialog, as the `pin_entry` setting allows. One place decides.

use card_agent_protocol::secret::SecretString;

use super::{Caller, Service};
use crate::config::PinEntry;
use crate::error::{Error, Result};
use crate::pin::Pin;
use crate::pinentry::PinRequest;
use crate::token::TokenInfo;

impl Service {
    /// The PIN for one operation on `token`.
    pub(super) fn obtain_pin(
        &self,
        caller: &Caller,
        from_request: Option<SecretString>,
        token: &TokenInfo,
        holder: &str,
    ) -> Result<Pin> {
        // A PIN-pad reader takes the PIN itself: nothing is asked here, and a PIN the request
        // carried is dropped (wiped) unused.
        if token.pin_pad {
            drop(from_request);
            return Ok(self.pin_on_reader(caller, token, holder));
        }
        match (self.settings.pin_entry, from_request) {
            (PinEntry::Auto | PinEntry::Page, Some(pin)) => Ok(Pin::new(pin.into_inner())),
            (PinEntry::Dialog, Some(_)) => Err(Error::BadInput(
                "this agent takes PINs only in its own dialog (pin_entry = \"dialog\"); send the request without a PIN".to_owned(),
            )),
            (PinEntry::Page, None) => Err(Error::PinRequired),
            (PinEntry::Auto | PinEntry::Dialog, None) => self.ask_pin(caller, token, holder),
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
        let site = caller.origin.as_ref().map(|o| o.as_str().to_owned());
        let request = PinRequest {
            site: site.as_deref(),
            holder,
            card: &card,
            tries_left: token.known_tries_left(),
            after_wrong_pin: false,
            lang: caller.lang,
        };
        let notice = self
            .dialog(caller)
            .and_then(|dialog| dialog.show_reader_notice(&request));
        match notice {
            Ok(notice) => Pin::on_reader(Some(Box::new(notice))),
            Err(e) => {
                tracing::warn!(error = %e, "no PIN-pad notice shown");
                Pin::on_reader(None)
            }
        }
    }

    fn ask_pin(&self, caller: &Caller, token: &TokenInfo, holder: &str) -> Result<Pin> {
        let dialog = self.dialog(caller)?;
        let _turn = self.dialog_turn.lock().unwrap_or_else(|p| p.into_inner());
        let card = card_name(token);
        let site = caller.origin.as_ref().map(|o| o.as_str().to_owned());
        dialog.ask_pin(&PinRequest {
            site: site.as_deref(),
            holder,
            card: &card,
            tries_left: token.known_tries_left(),
            after_wrong_pin: !matches!(token.pin_state, crate::pin::PinState::Ok),
            lang: caller.lang,
        })
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
