//! The provider seam: where tokens come from. A PKCS#11 module, the demo token, or (in tests)
//! a scripted token all answer the same few questions, so the card core's rules (PIN gate,
//! one operation per token, remembered certificates) and the service above it are the same
//! whatever the source.

use crate::demo::DemoToken;
use crate::error::Result;
use crate::pin::Pin;
use crate::pkcs11::Module;
use crate::signer::RawMechanism;
use crate::token::{TokenCertificate, TokenInfo, TokenRef};

/// A source of tokens. Implementations do what the card does and nothing more: the PIN format
/// rule, the lock check and the per-token turn are the card core's, applied before any call
/// that takes a PIN.
pub trait TokenProvider: Send + Sync {
    /// Every token present, as provider number `provider` of the core.
    fn tokens(&self, provider: usize) -> Result<Vec<TokenInfo>>;
    /// Fresh information about one token (a token that cannot be read is `CardRemoved`).
    fn token(&self, token_ref: TokenRef) -> Result<TokenInfo>;
    /// The state of a token about to be used by an operation, read fresh (its serial and PIN
    /// flags): [`TokenProvider::token`] unless a provider can skip what cannot change while the
    /// card stays in its slot.
    fn token_state(&self, expected: &TokenInfo) -> Result<TokenInfo> {
        self.token(expected.token_ref)
    }
    /// The certificates on a token, read from it.
    fn certificates(&self, token_ref: TokenRef) -> Result<Vec<TokenCertificate>>;
    /// One login with `pin`, then logout (the PIN's format was checked).
    fn verify_pin(&self, token: &TokenInfo, pin: &Pin) -> Result<()>;
    /// Login, then the raw private-key operation of the key whose CKA_ID is `key_id`.
    fn sign_raw(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        mechanism: RawMechanism,
        input: &[u8],
    ) -> Result<Vec<u8>>;
    /// Login, then a PKCS#1 v1.5 decryption with the key whose CKA_ID is `key_id`.
    fn decrypt_raw(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>>;
    /// Whether this is the DEMO token (never chosen silently in place of a real card).
    fn is_demo(&self) -> bool {
        false
    }
    /// A name for logs (a module's path).
    fn name(&self) -> String;
    /// What went wrong with the provider since it loaded (a module that stopped answering, or
    /// answered nonsense), for the module list.
    fn fault(&self) -> Option<String> {
        None
    }
}

impl TokenProvider for Module {
    fn tokens(&self, provider: usize) -> Result<Vec<TokenInfo>> {
        Module::tokens(self, provider)
    }

    fn token(&self, token_ref: TokenRef) -> Result<TokenInfo> {
        Module::token(self, token_ref)
    }

    fn token_state(&self, expected: &TokenInfo) -> Result<TokenInfo> {
        Module::token_state(self, expected)
    }

    fn certificates(&self, token_ref: TokenRef) -> Result<Vec<TokenCertificate>> {
        Module::certificates(self, token_ref.slot_id)
    }

    fn verify_pin(&self, token: &TokenInfo, pin: &Pin) -> Result<()> {
        Module::verify_pin(self, token, pin)
    }

    fn sign_raw(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        mechanism: RawMechanism,
        input: &[u8],
    ) -> Result<Vec<u8>> {
        Module::sign_raw(self, token, key_id, pin, mechanism, input)
    }

    fn decrypt_raw(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        Module::decrypt_raw(self, token, key_id, pin, ciphertext)
    }

    fn name(&self) -> String {
        self.path().display().to_string()
    }

    fn fault(&self) -> Option<String> {
        Module::fault(self)
    }
}

/// The demo token is one token in one slot.
impl TokenProvider for DemoToken {
    fn tokens(&self, provider: usize) -> Result<Vec<TokenInfo>> {
        Ok(vec![self.info(TokenRef {
            provider,
            slot_id: 0,
        })])
    }

    fn token(&self, token_ref: TokenRef) -> Result<TokenInfo> {
        Ok(self.info(token_ref))
    }

    fn certificates(&self, _token_ref: TokenRef) -> Result<Vec<TokenCertificate>> {
        DemoToken::certificates(self)
    }

    fn verify_pin(&self, _token: &TokenInfo, pin: &Pin) -> Result<()> {
        self.login(pin)
    }

    fn sign_raw(
        &self,
        _token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        mechanism: RawMechanism,
        input: &[u8],
    ) -> Result<Vec<u8>> {
        self.login(pin)?;
        DemoToken::sign_raw(self, key_id, mechanism, input)
    }

    fn decrypt_raw(
        &self,
        _token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        self.login(pin)?;
        DemoToken::decrypt_raw(self, key_id, ciphertext)
    }

    fn is_demo(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        "demo".to_owned()
    }
}
