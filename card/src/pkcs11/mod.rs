//! PKCS#11 modules through `cryptoki`: tokens, certificate objects, login and the raw
//! private-key operation.
//!
//! Every operation opens its own session and closes it at the end. A card pulled out of the
//! reader invalidates its sessions; opening a fresh one per operation means a broken session is
//! never reused, and the next operation after re-insertion simply works.
//!
//! CKR codes become domain errors here and nowhere else.

pub mod discovery;
mod key_flags;
mod load;
mod objects;
pub mod open_gpki;
mod reauth;
mod token_info;

pub use load::MODULE_TIMEOUT;
use objects::{always_authenticate, find_private_key, has_key_object};
use reauth::typed;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use card_agent_p11_reauth::{Failure as ReauthFailure, Module as Reauth, Operation};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::certificate::CertificateInfo;
use crate::error::{Error, Result};
use crate::pin::{Pin, PinState};
use crate::signer::RawMechanism;
use crate::token::{TokenCertificate, TokenInfo};

/// Most certificate objects a token may report; a card holds a handful, so more means a broken
/// or hostile module and we stop reading.
const MAX_CERTIFICATES: usize = 64;

/// A loaded and initialised PKCS#11 module.
pub struct Module {
    path: PathBuf,
    context: Pkcs11,
    description: String,
    manufacturer: String,
    /// CK_INFO libraryVersion, `major.minor`.
    version: Option<String>,
    /// How long C_Initialize and C_GetSlotList may take.
    timeout: Duration,
    /// Set when the module stopped answering: the call that hung, never retried.
    stopped: OnceLock<&'static str>,
    /// The last nonsense the module answered, for reports.
    garbage: std::sync::Mutex<Option<String>>,
    /// The re-authentication sequence for CKA_ALWAYS_AUTHENTICATE keys, opened on first use.
    reauth: OnceLock<std::result::Result<Box<Reauth>, String>>,
    /// Each key's CKA_ALWAYS_AUTHENTICATE, read once.
    key_flags: key_flags::KeyFlags,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Module {
    /// Path of the shared library.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The library's own description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The library's manufacturer (CK_INFO manufacturerID).
    pub fn manufacturer(&self) -> &str {
        &self.manufacturer
    }

    /// The library's version (CK_INFO libraryVersion, `major.minor`), when it said.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// What went wrong with the module after it loaded, for reports: the call it stopped
    /// answering, else the last nonsense it answered.
    pub fn fault(&self) -> Option<String> {
        if let Some(function) = self.stopped.get() {
            return Some(self.not_answering(function).to_string());
        }
        self.garbage.lock().ok().and_then(|g| g.clone())
    }

    fn not_answering(&self, function: &'static str) -> Error {
        Error::ModuleNotAnswering {
            module: self.path.display().to_string(),
            function,
            seconds: self.timeout.as_secs(),
        }
    }

    /// The error for a nonsense answer, remembered for [`Module::fault`].
    fn garbage(&self, function: &'static str, what: impl Into<String>) -> Error {
        let error = Error::ModuleGarbage {
            module: self.path.display().to_string(),
            function,
            what: what.into(),
        };
        if let Ok(mut last) = self.garbage.lock() {
            *last = Some(error.to_string());
        }
        error
    }

    /// Every certificate object on the token, parsed. Objects that are not X.509 certificates
    /// are skipped; a certificate that does not parse is an error naming its label.
    pub fn certificates(&self, slot_id: u64) -> Result<Vec<TokenCertificate>> {
        let session = self.open(slot_id)?;
        let handles = session
            .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
            .map_err(|e| map_error("C_FindObjects", e))?;
        let mut out = Vec::new();
        for handle in handles.into_iter().take(MAX_CERTIFICATES) {
            let (value, id, label) = self.read_cert_object(&session, handle)?;
            let Some(value) = value else { continue };
            let info = CertificateInfo::parse(&value)
                .map_err(|e| Error::Certificate(format!("object {label:?}: {e}")))?;
            let has_private_key = has_key_object(&session, &id)?;
            out.push(TokenCertificate {
                info,
                id,
                label,
                has_private_key,
            });
        }
        Ok(out)
    }

    /// Logs in with `pin` and out again. The caller has already checked the PIN's format.
    pub fn verify_pin(&self, token: &TokenInfo, pin: &Pin) -> Result<()> {
        let session = self.open(token.token_ref.slot_id)?;
        self.login(&session, token, pin)?;
        let _ = session.logout();
        Ok(())
    }

    /// Logs in and performs the raw private-key operation with the key whose CKA_ID is `key_id`.
    /// The caller has already checked the PIN's format.
    pub fn sign_raw(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        mechanism: RawMechanism,
        input: &[u8],
    ) -> Result<Vec<u8>> {
        let session = self.open(token.token_ref.slot_id)?;
        self.login(&session, token, pin)?;
        let mechanism = match mechanism {
            RawMechanism::RsaPkcs1 => Mechanism::RsaPkcs,
            RawMechanism::Ecdsa => Mechanism::Ecdsa,
        };
        let result = find_private_key(&session, key_id).and_then(|key| {
            let always = || always_authenticate(&session, key);
            if self.key_flags.always_authenticate(token, key_id, always) {
                self.reauthenticated(
                    &session,
                    Operation::Sign,
                    &mechanism,
                    key,
                    typed(token, pin),
                    input,
                )
                .map_err(|e| self.reauth_error(token, e, "C_Sign"))
            } else {
                session
                    .sign(&mechanism, key, input)
                    .map_err(|e| map_error("C_Sign", e))
            }
        });
        let _ = session.logout();
        if result.is_err() {
            self.key_flags.forget(token, key_id);
        }
        result
    }

    /// Logs in and decrypts a PKCS#1 v1.5 ciphertext (CKM_RSA_PKCS) with the key whose CKA_ID
    /// is `key_id`. The caller has already checked the PIN's format.
    pub fn decrypt_raw(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        let session = self.open(token.token_ref.slot_id)?;
        self.login(&session, token, pin)?;
        let result = find_private_key(&session, key_id).and_then(|key| {
            let always = || always_authenticate(&session, key);
            let decrypted = if self.key_flags.always_authenticate(token, key_id, always) {
                let mechanism = Mechanism::RsaPkcs;
                let op = Operation::Decrypt;
                match self.reauthenticated(
                    &session,
                    op,
                    &mechanism,
                    key,
                    typed(token, pin),
                    ciphertext,
                ) {
                    Err(ReauthFailure::Call(e)) => Err(e),
                    Err(other) => return Err(self.reauth_error(token, other, "C_Decrypt")),
                    Ok(plain) => Ok(plain),
                }
            } else {
                session.decrypt(&Mechanism::RsaPkcs, key, ciphertext)
            };
            decrypted.map_err(|e| match e {
                CkError::Pkcs11(
                    RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange,
                    _,
                ) => Error::BadInput("the ciphertext was not made for this card's key".to_owned()),
                CkError::Pkcs11(RvError::PinIncorrect, _) => self.after_wrong_pin(token),
                other => map_error("C_Decrypt", other),
            })
        });
        let _ = session.logout();
        if result.is_err() {
            self.key_flags.forget(token, key_id);
        }
        result
    }

    fn open(&self, slot_id: u64) -> Result<Session> {
        self.context
            .open_ro_session(slot(slot_id)?)
            .map_err(|e| map_error("C_OpenSession", e))
    }

    /// One C_Login, never retried. A stale login from an earlier operation is cleared first so
    /// the card always judges this PIN.
    ///
    /// On a PIN-pad reader the login carries no PIN: the module has the person type it on the
    /// reader (a PIN that came with the request is not used).
    fn login(&self, session: &Session, token: &TokenInfo, pin: &Pin) -> Result<()> {
        let _ = session.logout();
        let auth = typed(token, pin).map(|p| AuthPin::from(p.expose().to_owned()));
        match session.login(UserType::User, auth.as_ref()) {
            Ok(()) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(self.after_wrong_pin(token)),
            Err(e) => Err(map_error("C_Login", e)),
        }
    }

    /// Reads the flags again after a wrong PIN: the card may now be on its final try or locked.
    fn after_wrong_pin(&self, token: &TokenInfo) -> Error {
        match self.token(token.token_ref).map(|t| t.pin_state) {
            Ok(PinState::Locked) => Error::PinLocked,
            Ok(state) => Error::PinIncorrect {
                tries_left: state.tries_left(),
            },
            Err(_) => Error::PinIncorrect { tries_left: None },
        }
    }
}

fn slot(slot_id: u64) -> Result<Slot> {
    Slot::try_from(slot_id).map_err(|_| Error::NoToken { serial: None })
}

/// The one translation of CKR codes into domain errors.
pub fn map_error(function: &'static str, error: CkError) -> Error {
    match error {
        CkError::Pkcs11(rv, _) => match rv {
            RvError::PinIncorrect => Error::PinIncorrect { tries_left: None },
            RvError::PinLocked => Error::PinLocked,
            RvError::PinLenRange | RvError::PinInvalid => {
                Error::PinFormat(crate::pin::PinFormatError::NotDigits)
            }
            RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::DeviceError => Error::CardRemoved,
            RvError::SlotIdInvalid => Error::NoToken { serial: None },
            RvError::TokenNotRecognized => Error::UnknownCard { atr: String::new() },
            RvError::KeyTypeInconsistent
            | RvError::MechanismInvalid
            | RvError::KeyFunctionNotPermitted => Error::Unsupported(format!("{function}: {rv}")),
            RvError::FunctionCanceled => Error::UserCancelled,
            other => Error::Pkcs11 {
                function,
                reason: format!("{other:?}"),
            },
        },
        other => Error::Pkcs11 {
            function,
            reason: other.to_string(),
        },
    }
}
