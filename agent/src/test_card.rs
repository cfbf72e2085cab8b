//! The card of the agent's unit tests: the demo token behind a provider that counts every
//! login and private-key operation reaching it (so a test can tell that nothing was sent to
//! the card), with an optional hook run before each private-key operation (a slow or watched
//! card). The service's rules and the daemon's timeout ladder are tested on it; the real
//! modules are tested in tests/.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use card_agent_protocol::types::Module as ModuleReport;

use crate::card_core::TokenProvider;
use crate::demo::DemoToken;
use crate::error::Result;
use crate::pin::Pin;
use crate::signer::RawMechanism;
use crate::token::{TokenCertificate, TokenInfo, TokenRef};

/// Runs before each signature or decryption reaches the demo token.
type Hook = Box<dyn Fn() + Send + Sync>;

/// The counting demo token.
pub(crate) struct CountingCard {
    demo: DemoToken,
    calls: Arc<AtomicUsize>,
    before_operation: Option<Hook>,
}

impl CountingCard {
    /// A fresh demo token counting into `calls`.
    pub(crate) fn new(calls: Arc<AtomicUsize>) -> CountingCard {
        CountingCard {
            demo: DemoToken::new().expect("the demo token"),
            calls,
            before_operation: None,
        }
    }

    /// Runs `hook` before each signature or decryption (after counting it).
    pub(crate) fn before_operation(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.before_operation = Some(Box::new(hook));
        self
    }

    /// The provider and its module report, as `CardCore::with_providers` takes them.
    pub(crate) fn into_provider(self) -> (Box<dyn TokenProvider>, ModuleReport) {
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

    fn operation(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(hook) = &self.before_operation {
            hook();
        }
    }
}

impl TokenProvider for CountingCard {
    fn tokens(&self, provider: usize) -> Result<Vec<TokenInfo>> {
        TokenProvider::tokens(&self.demo, provider)
    }
    fn token(&self, token_ref: TokenRef) -> Result<TokenInfo> {
        TokenProvider::token(&self.demo, token_ref)
    }
    fn certificates(&self, token_ref: TokenRef) -> Result<Vec<TokenCertificate>> {
        TokenProvider::certificates(&self.demo, token_ref)
    }
    fn verify_pin(&self, token: &TokenInfo, pin: &Pin) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
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
