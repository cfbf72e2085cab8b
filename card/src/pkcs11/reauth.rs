//! Keys with CKA_ALWAYS_AUTHENTICATE, and the PIN a module is given: the context-specific login
//! through `card-agent-p11-reauth`, with the PIN the user already gave (none on a PIN-pad
//! reader).

use card_agent_p11_reauth::{Failure as ReauthFailure, Module as Reauth, Operation};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;

use super::{map_error, Module};
use crate::error::Error;
use crate::pin::Pin;
use crate::token::TokenInfo;

impl Module {
    /// The operation on a key with CKA_ALWAYS_AUTHENTICATE: init, the context-specific login
    /// with the same PIN (one dialog, and never a second try: a refused PIN ends the
    /// operation), then the operation.
    pub(super) fn reauthenticated(
        &self,
        session: &Session,
        operation: Operation,
        mechanism: &Mechanism<'_>,
        key: ObjectHandle,
        pin: Option<&Pin>,
        input: &[u8],
    ) -> std::result::Result<Vec<u8>, ReauthFailure> {
        let reauth = self
            .reauth
            .get_or_init(|| {
                Reauth::load(&self.path)
                    .map(Box::new)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|_| ReauthFailure::Load)?;
        reauth.run(
            session,
            operation,
            mechanism,
            key,
            pin.map(|p| p.expose().as_bytes()),
            input,
        )
    }

    /// The domain error for a failed re-authenticated operation.
    pub(super) fn reauth_error(
        &self,
        token: &TokenInfo,
        failure: ReauthFailure,
        function: &'static str,
    ) -> Error {
        match failure {
            // On a PIN-pad reader the person typed the PIN again, wrongly: the card's own count.
            ReauthFailure::Call(CkError::Pkcs11(RvError::PinIncorrect, _)) if token.pin_pad => {
                self.after_wrong_pin(token)
            }
            // The user login accepted this PIN a moment ago: the key has a PIN of its own.
            ReauthFailure::Call(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                Error::KeyPinIncorrect
            }
            ReauthFailure::Call(e) => map_error(function, e),
            other => Error::Pkcs11 {
                function,
                reason: other.to_string(),
            },
        }
    }
}

/// The PIN to hand to the module: none on a PIN-pad reader, where the module reads it from
/// the reader's own keys.
pub(super) fn typed<'a>(token: &TokenInfo, pin: &'a Pin) -> Option<&'a Pin> {
    (!token.pin_pad).then_some(pin)
}
