//! The PIN's way to the card, in the token's turn: the gate every PIN passes (the token's state
//! read once, fresh; the caller's check; the format rule; the lock) and the memory of PINs the
//! card refused (see [`super::refused`]).

use super::refused::Login;
use super::{Admit, CardCore};
use crate::error::{Error, Result};
use crate::pin::{Pin, PinState};
use crate::token::TokenInfo;

impl CardCore {
    /// Runs `operation`, which sends `pin` to the card (and to `key`'s own login, if it has
    /// one), in the token's turn: through the PIN gate first, and with a refusal of the PIN
    /// remembered so that it never reaches that login again (see [`super::refused`]). A
    /// PIN-pad reader takes its own PIN, which the agent never sees.
    pub(super) fn with_pin_turn<R>(
        &self,
        token: &TokenInfo,
        pin: &Pin,
        key: Option<&[u8]>,
        admit: Admit<'_>,
        operation: impl FnOnce(&TokenInfo) -> Result<R>,
    ) -> Result<R> {
        self.with_turn(token.token_ref, || {
            let token = self.pin_gate(token, pin, admit)?;
            if token.pin_pad {
                return operation(&token);
            }
            let serial = token.serial.as_str();
            let user = self.refused.digest(serial, Login::User, pin);
            let for_key = key.map(|id| self.refused.digest(serial, Login::Key(id), pin));
            if self.refused.contains(serial, &user) {
                return Err(Error::PinAlreadyRefused {
                    tries_left: token.known_tries_left(),
                });
            }
            if for_key
                .as_ref()
                .is_some_and(|d| self.refused.contains(serial, d))
            {
                // The key's own PIN: the card does not say its count.
                return Err(Error::PinAlreadyRefused { tries_left: None });
            }
            let outcome = operation(&token);
            match (&outcome, for_key) {
                (Err(Error::PinIncorrect { .. }), _) => self.refused.remember(serial, user),
                (Err(Error::KeyPinIncorrect), Some(digest)) => {
                    self.refused.remember(serial, digest)
                }
                _ => {}
            }
            outcome
        })
    }

    /// The PIN gate, in the token's turn: the token's state read once, fresh, then the caller's
    /// own check of it ([`Admit`]), the format rule and the lock state, before anything reaches
    /// the card.
    fn pin_gate(&self, expected: &TokenInfo, pin: &Pin, admit: Admit<'_>) -> Result<TokenInfo> {
        let token = self.token_state(expected)?;
        admit(&token)?;
        // On a PIN-pad reader the reader takes the PIN: there is nothing here to check, and
        // what a request carried is never sent (see `Pin::on_reader`).
        if !token.pin_pad {
            token.pin_limits.check(pin)?;
        }
        if token.pin_state == PinState::Locked {
            return Err(Error::PinLocked);
        }
        Ok(token)
    }
}
