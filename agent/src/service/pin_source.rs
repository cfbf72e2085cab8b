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
        match (self.settings.pin_entry, from_request) {
            (PinEntry::Auto | PinEntry::Page, Some(pin)) => Ok(Pin::new(pin.into_inner())),
            (PinEntry::Dialog, Some(_)) => Err(Error::BadInput(
                "this agent takes PINs only in its own dialog (pin_entry = \"dialog\"); send the request without a PIN".to_owned(),
            )),
            (PinEntry::Page, None) => Err(Error::PinRequired),
            (PinEntry::Auto | PinEntry::Dialog, None) => self.ask_pin(caller, token, holder),
        }
    }

    fn ask_pin(&self, caller: &Caller, token: &TokenInfo, holder: &str) -> Result<Pin> {
        let dialog = self.dialog(caller)?;
        let _turn = self.dialog_turn.lock().unwrap_or_else(|p| p.into_inner());
        let card = if token.demo {
            format!("DEMO ({})", token.serial)
        } else {
            format!("{} ({})", token.label, token.serial)
        };
        let site = caller.origin.as_ref().map(|o| o.as_str().to_owned());
        let pin = dialog.ask_pin(&PinRequest {
            site: site.as_deref(),
            holder,
            card: &card,
            tries_left: token.known_tries_left(),
            after_wrong_pin: !matches!(token.pin_state, crate::pin::PinState::Ok),
            lang: caller.lang,
        })?;
        // The client cancelled (or left) while the PIN was being typed: the PIN is dropped
        // (wiped) and never reaches the card, so nothing is signed for a page that stopped
        // waiting.
        if caller.client.is_gone() {
            return Err(Error::UserCancelled);
        }
        Ok(pin)
    }
}
