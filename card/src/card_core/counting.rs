//! The card of fast tests, in this crate and in the agent's service and daemon tests (feature
//! `testing`): the demo token behind a provider that counts what reaches it, so a test can tell
//! that nothing was sent to the card, that certificates were read once, or that the module's
//! slots were not listed again; it can run a hook before each private-key operation (a slow or
//! watched card) and become another card in the same slot. The real modules are tested in
//! tests/.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use card_agent_protocol::types::Module as ModuleReport;

use super::{CardCore, TokenProvider};
use crate::demo::DemoToken;
use crate::error::Result;
use crate::pin::Pin;
use crate::signer::RawMechanism;
use crate::token::{TokenCertificate, TokenInfo, TokenRef};

/// Runs before each signature or decryption reaches the demo token.
type Hook = Box<dyn Fn() + Send + Sync>;

/// The counting demo token. Its counters are shared: clone them before handing the card over.
pub struct CountingCard {
    demo: DemoToken,
    /// Logins and private-key operations (PIN checks, signatures, decryptions).
    pub operations: Arc<AtomicUsize>,
    /// Certificate reads.
    pub reads: Arc<AtomicUsize>,
    /// Listings of the module's tokens.
    pub listings: Arc<AtomicUsize>,
    /// Set: another card (another serial) is in the slot.
    pub swapped: Arc<AtomicBool>,
    before_operation: Option<Hook>,
    /// A PIN of the keys' own (CKA_ALWAYS_AUTHENTICATE with its own PIN): a signature whose PIN
    /// the user login accepts but this one does not fails as the key's login would.
    key_pin: Option<String>,
}

impl CountingCard {
    /// A fresh demo token with its counters at zero.
    pub fn new() -> Result<CountingCard> {
        Ok(CountingCard {
            demo: DemoToken::new()?,
            operations: Arc::default(),
            reads: Arc::default(),
            listings: Arc::default(),
            swapped: Arc::default(),
            before_operation: None,
            key_pin: None,
        })
    }

    /// Counts operations into `operations` (shared with other cards or the test).
    pub fn counting_into(mut self, operations: Arc<AtomicUsize>) -> Self {
        self.operations = operations;
        self
    }

    /// Runs `hook` before each signature or decryption (after counting it).
    pub fn before_operation(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.before_operation = Some(Box::new(hook));
        self
    }

    /// Gives the keys a PIN of their own, `pin`, asked after the user login for a signature.
    pub fn with_key_pin(mut self, pin: &str) -> Self {
        self.key_pin = Some(pin.to_owned());
        self
    }

    /// The provider and its module report, as [`CardCore::with_providers`] takes them.
    pub fn into_provider(self) -> (Box<dyn TokenProvider>, ModuleReport) {
        let report = ModuleReport {
            path: "counting".to_owned(),
            loaded: true,
            source: "test".to_owned(),
            error: None,
            description: None,
            version: None,
        };
        (Box::new(self), report)
    }

    /// A card core over this card alone.
    pub fn into_core(self) -> CardCore {
        CardCore::with_providers(vec![self.into_provider()])
    }

    fn as_inserted(&self, mut token: TokenInfo) -> TokenInfo {
        if self.swapped.load(Ordering::SeqCst) {
            token.serial.push_str("-OTHER");
        }
        token
    }

    fn operation(&self) {
        self.operations.fetch_add(1, Ordering::SeqCst);
        if let Some(hook) = &self.before_operation {
            hook();
        }
    }
}

impl TokenProvider for CountingCard {
    fn tokens(&self, provider: usize) -> Result<Vec<TokenInfo>> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        let tokens = TokenProvider::tokens(&self.demo, provider)?;
        Ok(tokens.into_iter().map(|t| self.as_inserted(t)).collect())
    }
    fn token(&self, token_ref: TokenRef) -> Result<TokenInfo> {
        TokenProvider::token(&self.demo, token_ref).map(|t| self.as_inserted(t))
    }
    fn certificates(&self, token_ref: TokenRef) -> Result<Vec<TokenCertificate>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        TokenProvider::certificates(&self.demo, token_ref)
    }
    fn verify_pin(&self, token: &TokenInfo, pin: &Pin) -> Result<()> {
        self.operations.fetch_add(1, Ordering::SeqCst);
        TokenProvider::verify_pin(&self.demo, token, pin)
    }
    fn sign_raw(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        mechanism: RawMechanism,
        input: &[u8],
    ) -> Result<Vec<u8>> {
        self.operation();
        if let Some(key_pin) = &self.key_pin {
            // The user login first, as a module does; then the key's own.
            TokenProvider::verify_pin(&self.demo, token, pin)?;
            if pin.expose() != key_pin {
                return Err(crate::error::Error::KeyPinIncorrect);
            }
        }
        TokenProvider::sign_raw(&self.demo, token, key_id, pin, mechanism, input)
    }
    fn decrypt_raw(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        self.operation();
        TokenProvider::decrypt_raw(&self.demo, token, key_id, pin, ciphertext)
    }
    fn name(&self) -> String {
        "counting".to_owned()
    }
}
