//! The service's rules, each tested on its own: no processes, no pcscd, no SoftHSM. The card
//! is the demo token behind a provider that counts what reaches it (`card_core::counting`); the
//! dialogs are a scripted stand-in (the real pinentry and the real stacks are tested in
//! tests/).

mod admission;
mod pin;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use card_agent_protocol::{Language, SecretString};

use super::caller::{decide_ipc, decide_legacy, IpcFacts, LegacyFacts};
use super::{Caller, Dialogs, OurExtensions, Service, Settings, SignRequest};
use crate::card_core::counting::CountingCard;
use crate::card_core::CardCore;
use crate::config::PinEntry;
use crate::demo::DEMO_PIN;
use crate::error::{Error, Result};
use crate::pin::Pin;
use crate::pinentry::{Client, PinRequest};
use crate::policy::Policy;
use crate::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};

/// The sites `trusted_sites` names in these tests.
const TRUSTED: &str = "https://www.example.gov.tw";
/// A site nobody trusted yet.
const UNKNOWN: &str = "https://shop.example.com";
/// A wrong but well-formed PIN.
const WRONG: &str = "975310";
/// Another one: a PIN the card refused is never sent to it again, so each wrong try needs its
/// own.
const WRONG_TOO: &str = "864200";

/// The scripted dialogs: answer the PIN prompt with `pin` (or cancel), the site question with
/// `approve`, and record what was asked.
#[derive(Default)]
struct ScriptedDialogs {
    pin: Option<String>,
    approve: bool,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Dialogs for ScriptedDialogs {
    fn ask_pin(&self, client: &Client, request: &PinRequest<'_>) -> Result<Pin> {
        if client.is_gone() {
            return Err(Error::PinDialog("closed".to_owned()));
        }
        self.asked.lock().unwrap().push(format!(
            "pin for {} ({:?} tries left)",
            request.site.unwrap_or("local"),
            request.tries_left
        ));
        self.pin.clone().map(Pin::new).ok_or(Error::UserCancelled)
    }
    fn confirm_site(&self, _client: &Client, origin: &str, _lang: Language) -> Result<bool> {
        self.asked.lock().unwrap().push(format!("trust {origin}"));
        Ok(self.approve)
    }
    fn close_client(&self, client: &Client) {
        client.leave();
    }
    fn close_all(&self) {}
}

/// A service over the scripted token, with what the test needs to look at.
struct Bench {
    service: Service,
    card_calls: Arc<AtomicUsize>,
    asked: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Bench {
    /// With scripted dialogs (`None`: no dialog program at all).
    fn new(dialogs: Option<ScriptedDialogs>, pin_entry: PinEntry) -> Bench {
        Bench::with_tokens(1, dialogs, pin_entry)
    }

    fn with_tokens(tokens: usize, dialogs: Option<ScriptedDialogs>, pin_entry: PinEntry) -> Bench {
        let card_calls = Arc::new(AtomicUsize::new(0));
        let providers = (0..tokens)
            .map(|_| {
                CountingCard::new()
                    .unwrap()
                    .counting_into(card_calls.clone())
                    .into_provider()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let policy =
            Policy::load(&["https://*.example.gov.tw"], dir.path().join("sites.json")).unwrap();
        let asked = dialogs
            .as_ref()
            .map(|d| d.asked.clone())
            .unwrap_or_default();
        let dialogs = dialogs
            .map(|d| Box::new(d) as Box<dyn Dialogs>)
            .ok_or_else(|| "no dialog in this test".to_owned());
        let settings = Settings {
            pin_entry,
            ..Settings::default()
        };
        Bench {
            service: Service::with_dialogs(
                Arc::new(CardCore::with_providers(providers)),
                policy,
                dialogs,
                settings,
            ),
            card_calls,
            asked,
            _dir: dir,
        }
    }

    fn card_calls(&self) -> usize {
        self.card_calls.load(Ordering::SeqCst)
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    /// Spends wrong PINs as a local program until the card is at its final try.
    fn to_final_try(&self) {
        for wrong in [WRONG, WRONG_TOO] {
            let e = self
                .service
                .verify_pin(&local(), None, Some(secret(wrong)))
                .unwrap_err();
            assert!(matches!(e, Error::PinIncorrect { .. }), "{e:?}");
        }
    }
}

fn dialogs_answering(pin: &str) -> ScriptedDialogs {
    ScriptedDialogs {
        pin: Some(pin.to_owned()),
        approve: true,
        ..ScriptedDialogs::default()
    }
}

fn secret(pin: &str) -> SecretString {
    SecretString::new(pin.to_owned())
}

fn local() -> Caller {
    Caller::local(Language::En)
}

/// A page of card-agent's own API, through the extension.
fn page(origin: &str) -> Caller {
    let facts = IpcFacts {
        origin: Some(origin),
        legacy: false,
        smartpki: false,
    };
    decide_ipc(
        facts,
        &OurExtensions::default(),
        Language::En,
        Client::new(),
    )
    .unwrap()
}

/// A HiPKI page on the legacy port.
fn legacy_page(origin: &str) -> Caller {
    let facts = LegacyFacts {
        origin: Some(origin.as_bytes()),
        sec_fetch: true,
        port: 61161,
        ..LegacyFacts::default()
    };
    decide_legacy(facts, Language::En, Client::new()).unwrap()
}

/// Our extension's own page (the self-test page in the extension).
fn extension_page() -> Caller {
    let origin = format!("chrome-extension://{}", super::caller::DEV_EXTENSION_ID);
    page(&origin)
}

fn sign_request(pin: Option<&str>) -> SignRequest {
    SignRequest {
        certificate: None,
        input: SignInput::Data(b"form".to_vec()),
        hash: HashAlgorithm::Sha256,
        format: SignFormat::Pkcs1,
        cms: CmsOptions::default(),
        pin: pin.map(secret),
        slot_description: None,
        with_card_serial: false,
        check_validity: false,
    }
}

#[test]
fn the_demo_pin_signs_for_a_local_program() {
    let bench = Bench::new(None, PinEntry::Auto);
    let out = bench
        .service
        .sign(&local(), sign_request(Some(DEMO_PIN)))
        .unwrap();
    assert_eq!(out.certificate.id, b"SIGN");
    assert_eq!(bench.card_calls(), 1);
}
