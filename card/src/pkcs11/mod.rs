//! PKCS#11 modules through `cryptoki`: tokens, certificate objects, login and the raw
//! private-key operation.
//!
//! Every operation opens its own session and closes it at the end. A card pulled out of the
//! reader invalidates its sessions; opening a fresh one per operation means a broken session is
//! never reused, and the next operation after re-insertion simply works.
//!
//! CKR codes become domain errors here and nowhere else.

pub mod discovery;

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::certificate::CertificateInfo;
use crate::error::{Error, Result};
use crate::pin::{Pin, PinLimits, PinState};
use crate::signer::RawMechanism;
use crate::token::{TokenCertificate, TokenInfo, TokenRef};

/// Most certificate objects a token may report; a card holds a handful, so more means a broken
/// or hostile module and we stop reading.
const MAX_CERTIFICATES: usize = 64;

/// A loaded and initialised PKCS#11 module.
pub struct Module {
    path: PathBuf,
    context: Pkcs11,
    description: String,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Module {
    /// Loads and initialises the module at `path`. The error is a reason for a person; loading
    /// failures are reported, never fatal to the agent.
    pub fn load(path: &Path) -> std::result::Result<Module, String> {
        if !path.exists() {
            return Err("file not found".to_owned());
        }
        let context = Pkcs11::new(path).map_err(|e| format!("cannot load: {e}"))?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(format!("C_Initialize failed: {e}")),
        }
        let description = context
            .get_library_info()
            .map(|i| i.library_description().trim().to_owned())
            .unwrap_or_default();
        Ok(Module {
            path: path.to_path_buf(),
            context,
            description,
        })
    }

    /// Path of the shared library.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The library's own description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Tokens present in this module's slots. A slot whose token vanishes while we read it is
    /// skipped rather than failing the whole listing.
    pub fn tokens(&self, provider: usize) -> Result<Vec<TokenInfo>> {
        let slots = self
            .context
            .get_slots_with_token()
            .map_err(|e| map_error("C_GetSlotList", e))?;
        Ok(slots
            .into_iter()
            .filter_map(|slot| self.token_info(provider, slot).ok())
            .collect())
    }

    /// What a token seen earlier says about itself now. A token that can no longer be read
    /// has, for the person using it, been removed: modules report that with anything from
    /// CKR_TOKEN_NOT_PRESENT to CKR_GENERAL_ERROR.
    pub fn token(&self, token_ref: TokenRef) -> Result<TokenInfo> {
        self.token_info(token_ref.provider, slot(token_ref.slot_id)?)
            .map_err(|e| match e {
                Error::Pkcs11 { .. } | Error::NoToken { .. } => Error::CardRemoved,
                other => other,
            })
    }

    fn token_info(&self, provider: usize, slot: Slot) -> Result<TokenInfo> {
        let info = self
            .context
            .get_token_info(slot)
            .map_err(|e| map_error("C_GetTokenInfo", e))?;
        // An uninitialised token (SoftHSM's spare slot, a blank card) holds no keys; listing it
        // would only make "which card?" ambiguous.
        if !info.token_initialized() {
            return Err(Error::NoToken { serial: None });
        }
        let slot_description = self
            .context
            .get_slot_info(slot)
            .map(|s| s.slot_description().trim().to_owned())
            .unwrap_or_default();
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
            label: info.label().trim().to_owned(),
            manufacturer: info.manufacturer_id().trim().to_owned(),
            model: info.model().trim().to_owned(),
            serial: info.serial_number().trim().to_owned(),
            slot_description,
            module: self.path.display().to_string(),
            pin_limits: PinLimits::from_token(
                info.min_pin_length() as u64,
                info.max_pin_length() as u64,
            ),
            pin_state,
            tries_left: None,
            demo: false,
        })
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
            let (value, id, label) = read_cert_object(&session, handle)?;
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
        let result = find_private_key(&session, key_id).and_then(|key| {
            let mechanism = match mechanism {
                RawMechanism::RsaPkcs1 => Mechanism::RsaPkcs,
                RawMechanism::Ecdsa => Mechanism::Ecdsa,
            };
            session
                .sign(&mechanism, key, input)
                .map_err(|e| map_error("C_Sign", e))
        });
        let _ = session.logout();
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
            session
                .decrypt(&Mechanism::RsaPkcs, key, ciphertext)
                .map_err(|e| match e {
                    CkError::Pkcs11(
                        RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange,
                        _,
                    ) => Error::BadInput(
                        "the ciphertext was not made for this card's key".to_owned(),
                    ),
                    other => map_error("C_Decrypt", other),
                })
        });
        let _ = session.logout();
        result
    }

    fn open(&self, slot_id: u64) -> Result<Session> {
        self.context
            .open_ro_session(slot(slot_id)?)
            .map_err(|e| map_error("C_OpenSession", e))
    }

    /// One C_Login, never retried. A stale login from an earlier operation is cleared first so
    /// the card always judges this PIN.
    fn login(&self, session: &Session, token: &TokenInfo, pin: &Pin) -> Result<()> {
        let _ = session.logout();
        let auth = AuthPin::from(pin.expose().to_owned());
        match session.login(UserType::User, Some(&auth)) {
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

fn read_cert_object(
    session: &Session,
    handle: ObjectHandle,
) -> Result<(Option<Vec<u8>>, Vec<u8>, String)> {
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::Value,
                AttributeType::Id,
                AttributeType::Label,
            ],
        )
        .map_err(|e| map_error("C_GetAttributeValue", e))?;
    let (mut value, mut id, mut label) = (None, Vec::new(), String::new());
    for attr in attrs {
        match attr {
            Attribute::Value(v) => value = Some(v),
            Attribute::Id(v) => id = v,
            Attribute::Label(v) => label = String::from_utf8_lossy(&v).trim().to_owned(),
            _ => {}
        }
    }
    Ok((value, id, label))
}

/// Before login most tokens hide private keys, so a public key with the same CKA_ID counts as
/// evidence of the pair.
fn has_key_object(session: &Session, id: &[u8]) -> Result<bool> {
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        let found = session
            .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
            .map_err(|e| map_error("C_FindObjects", e))?;
        if !found.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn find_private_key(session: &Session, key_id: &[u8]) -> Result<ObjectHandle> {
    session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(key_id.to_vec()),
        ])
        .map_err(|e| map_error("C_FindObjects", e))?
        .into_iter()
        .next()
        .ok_or(Error::KeyNotFound)
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
