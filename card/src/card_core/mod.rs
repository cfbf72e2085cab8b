//! The card core: every token the agent can use, from every loaded PKCS#11 module or the demo
//! token, behind one set of operations.
//!
//! Two rules live here because every operation passes through:
//! - the PIN gate: a PIN is checked against [`crate::pin::PinLimits`] and the token's lock state
//!   *before* any login, so a malformed PIN never reaches a card and never costs a try, and a
//!   PIN the card refused is never sent to it again (see `refused`);
//! - one operation at a time per token: concurrent callers queue for the token's turn, first
//!   come first served (see [`turn`]), because a smart card is a single-threaded device and
//!   interleaved logins would confuse its state.
//!
//! Certificates are remembered per token (see [`CertificateCache`]): reading them from a card
//! takes many APDUs, and every signature starts by finding its certificate.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use card_agent_protocol::types::Module as ModuleReport;

mod cache;
mod choice;
#[cfg(any(test, feature = "testing"))]
pub mod counting;
mod listing;
mod pin_turn;
mod provider;
mod refused;
pub mod turn;

use crate::demo::DemoToken;
use crate::error::{Choice, Error, Result};
use crate::pin::Pin;
use crate::pkcs11::discovery::{self, ModuleCandidate};
use crate::pkcs11::Module;
use crate::signer::{self, CmsOptions, HashAlgorithm, RawMechanism, SignFormat, SignInput};
use crate::token::{TokenCertificate, TokenInfo, TokenRef};
pub use turn::{Turn, TurnGuard};

/// The caller's own check when an operation's turn comes, on the token's state just read
/// fresh (the only read of it in the operation), before anything reaches the card: that the
/// caller still wants the operation, and that the PIN's source is still allowed on this state
/// (a page's PIN may not be the one spent on the card's final try). An error stops the
/// operation with the card untouched.
pub type Admit<'a> = &'a dyn Fn(&TokenInfo) -> Result<()>;

use cache::CertificateCache;
pub use choice::{CertificateWanted, Purpose};
pub use listing::{Duplicate, Listing};
pub use provider::TokenProvider;
use refused::RefusedPins;

/// Which modules to load.
#[derive(Debug, Clone, Default)]
pub struct CoreOptions {
    /// Serve only the built-in demo token (never chosen silently).
    pub demo: bool,
    /// `--pkcs11-module` paths.
    pub command_line_modules: Vec<PathBuf>,
    /// The value of `CARD_AGENT_PKCS11_MODULE`, if set.
    pub environment_modules: Option<std::ffi::OsString>,
    /// `pkcs11_modules` from the config file.
    pub config_modules: Vec<PathBuf>,
    /// How long a module may take to answer C_Initialize or C_GetSlotList (default
    /// [`crate::pkcs11::MODULE_TIMEOUT`]).
    pub module_timeout: Option<Duration>,
}

/// All tokens the agent can use.
pub struct CardCore {
    providers: Vec<Box<dyn TokenProvider>>,
    modules: Vec<ModuleReport>,
    /// For each loaded module, its provider number and its entry in `modules`.
    reported: Vec<(usize, usize)>,
    turns: Mutex<HashMap<TokenRef, Arc<Turn>>>,
    certificates: CertificateCache,
    refused: RefusedPins,
}

impl CardCore {
    /// Loads the modules the options name (or the demo token). A module that fails to load is
    /// recorded in [`CardCore::modules`] with its reason; it never stops the others.
    pub fn open(options: &CoreOptions) -> Result<Self> {
        if options.demo {
            return Ok(Self::with_demo(DemoToken::new()?));
        }
        let candidates = discovery::candidates(
            &options.command_line_modules,
            options.environment_modules.as_deref(),
            &options.config_modules,
        );
        let timeout = options
            .module_timeout
            .unwrap_or(crate::pkcs11::MODULE_TIMEOUT);
        Ok(Self::load(candidates, timeout))
    }

    /// A core serving only the given demo token.
    pub fn with_demo(demo: DemoToken) -> Self {
        Self::with_providers(vec![(
            Box::new(demo),
            ModuleReport {
                path: "demo".to_owned(),
                loaded: true,
                source: "demo".to_owned(),
                error: None,
                description: Some("card-agent DEMO token (not a real card)".to_owned()),
                version: None,
            },
        )])
    }

    /// A core over the given providers, each with what the module list reports about it: the
    /// seam through which tests put a scripted token under the same rules as a real one.
    pub fn with_providers(providers: Vec<(Box<dyn TokenProvider>, ModuleReport)>) -> Self {
        let (providers, modules): (Vec<_>, Vec<_>) = providers.into_iter().unzip();
        CardCore {
            reported: (0..providers.len()).map(|i| (i, i)).collect(),
            providers,
            modules,
            turns: Mutex::default(),
            certificates: CertificateCache::default(),
            refused: RefusedPins::default(),
        }
    }

    fn load(candidates: Vec<ModuleCandidate>, timeout: Duration) -> Self {
        let mut providers = Vec::new();
        let mut modules = Vec::new();
        let mut reported = Vec::new();
        let mut seen = Vec::new();
        for candidate in candidates {
            // The same library loaded twice would share one C_Initialize state; load it once.
            let canonical =
                std::fs::canonicalize(&candidate.path).unwrap_or(candidate.path.clone());
            if seen.contains(&canonical) {
                continue;
            }
            seen.push(canonical);
            let mut report = ModuleReport {
                path: candidate.path.display().to_string(),
                loaded: false,
                source: candidate.source.as_str().to_owned(),
                error: None,
                description: None,
                version: None,
            };
            match Module::load_within(&candidate.path, timeout) {
                Ok(module) => {
                    report.loaded = true;
                    report.description = Some(module.description().to_owned());
                    report.version = module.version().map(str::to_owned);
                    reported.push((providers.len(), modules.len()));
                    providers.push(Box::new(module) as Box<dyn TokenProvider>);
                }
                Err(reason) => {
                    tracing::warn!(path = %report.path, %reason, "PKCS#11 module not loaded");
                    report.error = Some(reason);
                }
            }
            modules.push(report);
        }
        CardCore {
            providers,
            modules,
            reported,
            turns: Mutex::default(),
            certificates: CertificateCache::default(),
            refused: RefusedPins::default(),
        }
    }

    /// Every module tried, loaded or not; a loaded module that stopped answering since
    /// carries that as its error.
    pub fn modules(&self) -> Vec<ModuleReport> {
        let mut reports = self.modules.clone();
        for &(provider, report) in &self.reported {
            if let (Some(p), Some(r)) = (self.providers.get(provider), reports.get_mut(report)) {
                if let Some(fault) = p.fault() {
                    r.error = Some(fault);
                }
            }
        }
        reports
    }

    /// Whether this core serves the demo token.
    pub fn is_demo(&self) -> bool {
        self.providers.iter().any(|p| p.is_demo())
    }

    /// Every present token, each card once (see [`CardCore::listing`]). Fails with NO_MODULE
    /// when no module could be loaded at all.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        self.listing().map(|l| l.tokens)
    }

    /// Fresh information about one token.
    pub fn token(&self, token_ref: TokenRef) -> Result<TokenInfo> {
        self.provider(token_ref)?.token(token_ref)
    }

    /// Certificates on a token: remembered from an earlier read of the same token (same slot,
    /// same serial, no card event since, within a minute), else read from it.
    pub fn certificates(&self, token_ref: TokenRef) -> Result<Vec<TokenCertificate>> {
        let token = self.token(token_ref)?;
        self.certificates_of(&token)
    }

    /// [`CardCore::certificates`] for a token whose information was just read (by
    /// [`CardCore::tokens`]): the token's state is read once per operation, not again here.
    fn certificates_of(&self, token: &TokenInfo) -> Result<Vec<TokenCertificate>> {
        let token_ref = token.token_ref;
        if let Some(remembered) = self.certificates.get(token_ref, &token.serial) {
            return Ok(remembered);
        }
        self.with_turn(token_ref, || {
            // Callers that missed together queue here: the first reads the card, the others
            // find what it read (five tabs opening at once read a card's certificates once).
            if let Some(remembered) = self.certificates.get(token_ref, &token.serial) {
                return Ok(remembered);
            }
            let read = self.provider(token_ref)?.certificates(token_ref)?;
            self.certificates.put(token, &read);
            Ok(read)
        })
    }

    /// A card or reader changed somewhere: every remembered certificate is forgotten (a slot
    /// may hold another card now).
    pub fn cards_changed(&self) {
        self.certificates.clear();
    }

    /// A card left its reader (or the reader went): every PIN a card refused is forgotten (see
    /// `refused`: taking a card out and back in is how a person tries a refused PIN again).
    /// Which card left is not known here, so the refusals of every card go.
    pub fn card_left(&self) {
        self.certificates.clear();
        self.refused.clear();
    }

    /// Chooses a token: the one with `serial`, or the only one present. Never picks one of
    /// several at random.
    pub fn select_token(&self, serial: Option<&str>) -> Result<TokenInfo> {
        let tokens = self.tokens()?;
        match serial {
            Some(s) => tokens
                .into_iter()
                .find(|t| t.serial == s)
                .ok_or(Error::NoToken {
                    serial: Some(s.to_owned()),
                }),
            None => exactly_one(tokens, "several cards are present", Choice::Token),
        }
    }

    /// Finds a signing certificate: the one whose SHA-256 thumbprint is `sha256`, or, when none
    /// is named, the only signing certificate with a key across all tokens.
    pub fn find_certificate(&self, sha256: Option<&str>) -> Result<(TokenInfo, TokenCertificate)> {
        self.choose_certificate(&CertificateWanted {
            sha256,
            ..CertificateWanted::default()
        })
    }

    /// The one rule for choosing a certificate to sign or decrypt with, for every channel:
    /// among the tokens whose slot description contains `slot_description` (all when it is
    /// absent or empty), the certificate whose thumbprint is `sha256`, or when none is named
    /// the only one with a private key fit for `purpose` (never a CA's). None is
    /// `CertNotFound`; several are `Ambiguous` — never one picked at random.
    ///
    /// The token's state (PIN tries) that comes with it may be as remembered with its
    /// certificates, up to the cache's age: an operation's turn reads it fresh before anything
    /// reaches the card (see [`Admit`]), and whoever shows it to a person reads it first.
    pub fn choose_certificate(
        &self,
        wanted: &CertificateWanted<'_>,
    ) -> Result<(TokenInfo, TokenCertificate)> {
        if let Some(found) = self.remembered_choice(wanted) {
            return Ok(found);
        }
        let slot = wanted.slot_description.filter(|s| !s.is_empty());
        let tokens: Vec<TokenInfo> = self
            .tokens()?
            .into_iter()
            .filter(|t| slot.is_none_or(|s| t.slot_description.contains(s)))
            .collect();
        if tokens.is_empty() {
            return Err(Error::NoCard);
        }
        let mut candidates = Vec::new();
        for token in tokens {
            for cert in self.certificates_of(&token)? {
                candidates.push((token.clone(), cert));
            }
        }
        wanted.pick(candidates)
    }

    /// A certificate named by its thumbprint, found among the remembered ones (no card event
    /// since, within the cache's time) on exactly one token, with that token as remembered:
    /// nothing is read from the module. The operation's turn reads the token's state once,
    /// fresh, right before the login (a card changed since is `CardRemoved` there). `None`
    /// (nothing remembered, another slot wanted, or no thumbprint: which certificate is "the
    /// only one" depends on every token present) means the full listing decides.
    fn remembered_choice(
        &self,
        wanted: &CertificateWanted<'_>,
    ) -> Option<(TokenInfo, TokenCertificate)> {
        wanted.sha256?;
        let mut holding = self.certificates.holding(|c| wanted.accepts(c));
        let (token, certificates) = holding.pop().filter(|_| holding.is_empty())?;
        let slot_fits = wanted
            .slot_description
            .filter(|s| !s.is_empty())
            .is_none_or(|s| token.slot_description.contains(s));
        if !slot_fits {
            return None;
        }
        let candidates = certificates.into_iter().map(|c| (token.clone(), c));
        wanted.pick(candidates).ok()
    }

    /// Checks a PIN against the card (one login, never retried).
    pub fn verify_pin(&self, token: &TokenInfo, pin: &Pin) -> Result<()> {
        self.verify_pin_if(token, pin, &|_| Ok(()))
    }

    /// [`CardCore::verify_pin`], started only if `admit` accepts the token's fresh state when
    /// the token's turn comes (see [`Admit`]): otherwise the card is not touched.
    pub fn verify_pin_if(&self, token: &TokenInfo, pin: &Pin, admit: Admit<'_>) -> Result<()> {
        self.with_pin_turn(token, pin, None, admit, |token| {
            self.provider(token.token_ref)?.verify_pin(token, pin)
        })
    }

    /// Signs with the key of `cert` on `token`.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        &self,
        token: &TokenInfo,
        cert: &TokenCertificate,
        pin: &Pin,
        hash_alg: HashAlgorithm,
        input: &SignInput,
        format: SignFormat,
        cms: &CmsOptions,
    ) -> Result<Vec<u8>> {
        self.sign_if(token, cert, pin, hash_alg, input, format, cms, &|_| Ok(()))
    }

    /// [`CardCore::sign`], started only if `admit` accepts the token's fresh state when the
    /// token's turn comes.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_if(
        &self,
        token: &TokenInfo,
        cert: &TokenCertificate,
        pin: &Pin,
        hash_alg: HashAlgorithm,
        input: &SignInput,
        format: SignFormat,
        cms: &CmsOptions,
        admit: Admit<'_>,
    ) -> Result<Vec<u8>> {
        self.with_pin_turn(token, pin, Some(&cert.id), admit, |token| {
            let provider = self.provider(token.token_ref)?;
            let mut raw_sign = |mechanism: RawMechanism, data: &[u8]| {
                provider.sign_raw(token, &cert.id, pin, mechanism, data)
            };
            signer::sign_with(&mut raw_sign, &cert.info, hash_alg, input, format, cms)
        })
    }

    /// Decrypts a PKCS#1 v1.5 ciphertext with the key of `cert` (an encryption certificate).
    pub fn decrypt(
        &self,
        token: &TokenInfo,
        cert: &TokenCertificate,
        pin: &Pin,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        self.decrypt_if(token, cert, pin, ciphertext, &|_| Ok(()))
    }

    /// [`CardCore::decrypt`], started only if `admit` accepts the token's fresh state when the
    /// token's turn comes.
    pub fn decrypt_if(
        &self,
        token: &TokenInfo,
        cert: &TokenCertificate,
        pin: &Pin,
        ciphertext: &[u8],
        admit: Admit<'_>,
    ) -> Result<Vec<u8>> {
        self.with_pin_turn(token, pin, Some(&cert.id), admit, |token| {
            self.provider(token.token_ref)?
                .decrypt_raw(token, &cert.id, pin, ciphertext)
        })
    }

    /// The state of `expected`'s token read now (its serial and PIN flags), or `CardRemoved`
    /// when another card is in the slot: the caller chose a certificate on the first one
    /// (maybe from what was remembered of the slot, which is then forgotten).
    pub fn token_state(&self, expected: &TokenInfo) -> Result<TokenInfo> {
        let token = self.provider(expected.token_ref)?.token_state(expected)?;
        if token.serial != expected.serial {
            self.certificates.clear();
            return Err(Error::CardRemoved);
        }
        Ok(token)
    }

    fn provider(&self, token_ref: TokenRef) -> Result<&dyn TokenProvider> {
        self.providers
            .get(token_ref.provider)
            .map(|p| p.as_ref())
            .ok_or(Error::NoToken { serial: None })
    }

    /// Runs `operation` when it is this token's turn; callers queue for it in order.
    fn with_turn<R>(
        &self,
        token_ref: TokenRef,
        operation: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        let turn = {
            let mut turns = self
                .turns
                .lock()
                .map_err(|_| Error::Internal("token turn table poisoned".to_owned()))?;
            turns.entry(token_ref).or_default().clone()
        };
        let _turn = turn.take();
        operation()
    }

    fn no_module(&self) -> Error {
        let tried: Vec<String> = self
            .modules
            .iter()
            .map(|m| format!("{}: {}", m.path, m.error.as_deref().unwrap_or("?")))
            .collect();
        Error::NoModule {
            tried: if tried.is_empty() {
                "no module found in the usual places".to_owned()
            } else {
                tried.join("; ")
            },
        }
    }
}

fn exactly_one<T>(mut items: Vec<T>, what: &str, choose: Choice) -> Result<T> {
    match items.len() {
        0 => Err(Error::NoCard),
        1 => items.pop().ok_or(Error::NoCard),
        _ => Err(Error::Ambiguous {
            what: what.to_owned(),
            choose,
        }),
    }
}

#[cfg(test)]
mod tests;
