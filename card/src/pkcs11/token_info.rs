//! What a module's tokens say about themselves: the token list, one token's information, and
//! the state read before each operation.

use cryptoki::slot::Slot;

use super::load::{bounded, clean_text, Bounded};
use super::{map_error, slot, Module};
use crate::error::{Error, Result};
use crate::pin::{PinLimits, PinState};
use crate::token::{TokenInfo, TokenRef};

impl Module {
    /// Tokens present in this module's slots. A slot whose token vanishes while we read it is
    /// skipped rather than failing the whole listing.
    ///
    /// C_GetSlotList runs on its own thread, bounded like C_Initialize: a module that hangs
    /// there is given up on for good. A token whose information is nonsense is an error, not
    /// a token: when no slot gives a token, the first such error is returned.
    pub fn tokens(&self, provider: usize) -> Result<Vec<TokenInfo>> {
        if let Some(function) = self.stopped.get() {
            return Err(self.not_answering(function));
        }
        let context = self.context.clone();
        let slots = match bounded(self.timeout, move || context.get_slots_with_token()) {
            Ok(listed) => listed.map_err(|e| map_error("C_GetSlotList", e))?,
            Err(Bounded::TimedOut) => {
                let _ = self.stopped.set("C_GetSlotList");
                return Err(self.not_answering("C_GetSlotList"));
            }
            Err(Bounded::NoThread) => {
                return Err(Error::Internal("no thread for C_GetSlotList".to_owned()))
            }
        };
        let mut tokens = Vec::new();
        let mut garbage = None;
        for slot in slots {
            match self.token_info(provider, slot) {
                Ok(token) => tokens.push(token),
                Err(e @ Error::ModuleGarbage { .. }) => {
                    tracing::warn!(module = %self.path.display(), error = %e, "token skipped");
                    garbage.get_or_insert(e);
                }
                Err(_) => {}
            }
        }
        match garbage {
            Some(e) if tokens.is_empty() => Err(e),
            _ => Ok(tokens),
        }
    }

    /// What a token seen earlier says about itself now (see [`removed`]).
    pub fn token(&self, token_ref: TokenRef) -> Result<TokenInfo> {
        self.token_info(token_ref.provider, slot(token_ref.slot_id)?)
            .map_err(removed)
    }

    /// [`Module::token`] for a token about to be used: only C_GetTokenInfo (its serial and
    /// PIN flags). The slot's description is the reader's, which stays while the card does; a
    /// card reader's module answers C_GetSlotInfo by asking PC/SC about the reader.
    pub fn token_state(&self, expected: &TokenInfo) -> Result<TokenInfo> {
        let token_ref = expected.token_ref;
        let slot = slot(token_ref.slot_id)?;
        self.read_token(token_ref.provider, slot, |_| {
            expected.slot_description.clone()
        })
        .map_err(removed)
    }

    fn token_info(&self, provider: usize, slot: Slot) -> Result<TokenInfo> {
        self.read_token(provider, slot, |slot| {
            self.context
                .get_slot_info(slot)
                .map(|s| s.slot_description().trim().to_owned())
                .unwrap_or_default()
        })
    }

    fn read_token(
        &self,
        provider: usize,
        slot: Slot,
        slot_description: impl FnOnce(Slot) -> String,
    ) -> Result<TokenInfo> {
        let info = self
            .context
            .get_token_info(slot)
            .map_err(|e| map_error("C_GetTokenInfo", e))?;
        // An uninitialised token (SoftHSM's spare slot, a blank card) holds no keys; listing it
        // would only make "which card?" ambiguous.
        if !info.token_initialized() {
            return Err(Error::NoToken { serial: None });
        }
        let slot_description = slot_description(slot);
        // cryptoki replaces bytes that are not UTF-8 with U+FFFD; a card's own text never has
        // them, and a serial that changes meaning cannot identify a card.
        let field = |name: &str, value: &str| {
            clean_text(value).ok_or_else(|| {
                self.garbage(
                    "C_GetTokenInfo",
                    format!("the token {name} is not UTF-8 text"),
                )
            })
        };
        let label = field("label", info.label())?;
        let serial = field("serial number", info.serial_number())?;
        let manufacturer = field("manufacturer", info.manufacturer_id())?;
        let model = field("model", info.model())?;
        let pin_state = if info.user_pin_locked() {
            PinState::Locked
        } else if info.user_pin_final_try() {
            PinState::FinalTry
        } else if info.user_pin_count_low() {
            PinState::CountLow
        } else {
            PinState::Ok
        };
        Ok(TokenInfo {
            token_ref: TokenRef {
                provider,
                slot_id: slot.id(),
            },
            label,
            manufacturer,
            model,
            serial,
            slot_description,
            module: self.path.display().to_string(),
            pin_limits: PinLimits::from_token(
                info.min_pin_length() as u64,
                info.max_pin_length() as u64,
            ),
            pin_state,
            tries_left: None,
            demo: false,
            pin_pad: info.protected_authentication_path(),
        })
    }
}

/// A token seen earlier that can no longer be read has, for the person using it, been removed:
/// modules report that with anything from CKR_TOKEN_NOT_PRESENT to CKR_GENERAL_ERROR.
fn removed(e: Error) -> Error {
    match e {
        Error::Pkcs11 { .. } | Error::NoToken { .. } => Error::CardRemoved,
        other => other,
    }
}
