//! Plain data about tokens and the certificates on them, independent of where they came from
//! (a PKCS#11 module or the demo token).

use crate::certificate::CertificateInfo;
use crate::pin::{PinLimits, PinState};

/// Where a token lives: which provider of the card core, and which slot in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenRef {
    /// Index of the provider (loaded module or demo token) in the card core.
    pub provider: usize,
    /// PKCS#11 slot ID within that provider.
    pub slot_id: u64,
}

/// What a token says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    /// Where it lives.
    pub token_ref: TokenRef,
    /// CKA label, trimmed.
    pub label: String,
    /// Manufacturer ID, trimmed.
    pub manufacturer: String,
    /// Model, trimmed.
    pub model: String,
    /// Serial number, trimmed.
    pub serial: String,
    /// Slot description, trimmed; on card readers this is the reader name.
    pub slot_description: String,
    /// Module path, or `demo`.
    pub module: String,
    /// PIN lengths the token accepts.
    pub pin_limits: PinLimits,
    /// PIN state from the token flags.
    pub pin_state: PinState,
    /// Tries left when the token tells more than its flags (the demo token does).
    pub tries_left: Option<u8>,
    /// True for the demo token.
    pub demo: bool,
    /// The reader has its own PIN pad (CKF_PROTECTED_AUTHENTICATION_PATH): the PIN is typed
    /// there, never in a page or a dialog, and the login carries no PIN.
    pub pin_pad: bool,
}

impl TokenInfo {
    /// Tries left, from the exact counter when there is one, else from the flags.
    pub fn known_tries_left(&self) -> Option<u8> {
        self.tries_left.or(self.pin_state.tries_left())
    }
}

/// A certificate object on a token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenCertificate {
    /// Parsed certificate.
    pub info: CertificateInfo,
    /// CKA_ID, which links it to its private key.
    pub id: Vec<u8>,
    /// CKA_LABEL.
    pub label: String,
    /// Whether a private key with the same CKA_ID exists.
    pub has_private_key: bool,
}
