//! The card core's rules on the demo token: PIN gate, lock, queueing, remembered certificates.

use super::*;

fn demo_core() -> CardCore {
    CardCore::open(&CoreOptions {
        demo: true,
        ..CoreOptions::default()
    })
    .unwrap()
}

fn pin(s: &str) -> Pin {
    Pin::new(s.to_owned())
}

#[test]
fn three_wrong_pins_lock_and_the_right_pin_no_longer_helps() {
    let core = demo_core();
    let token = core.select_token(None).unwrap();
    assert!(matches!(
        core.verify_pin(&token, &pin("000000")),
        Err(Error::PinIncorrect {
            tries_left: Some(2)
        })
    ));
    assert_eq!(
        core.token(token.token_ref).unwrap().pin_state,
        PinState::CountLow
    );
    assert!(matches!(
        core.verify_pin(&token, &pin("000000")),
        Err(Error::PinIncorrect {
            tries_left: Some(1)
        })
    ));
    assert_eq!(
        core.token(token.token_ref).unwrap().pin_state,
        PinState::FinalTry
    );
    assert!(matches!(
        core.verify_pin(&token, &pin("000000")),
        Err(Error::PinLocked)
    ));
    assert!(matches!(
        core.verify_pin(&token, &pin(crate::demo::DEMO_PIN)),
        Err(Error::PinLocked)
    ));
    let info = core.token(token.token_ref).unwrap();
    assert_eq!(info.pin_state, PinState::Locked);
    assert_eq!(info.known_tries_left(), Some(0));
}

#[test]
fn malformed_pins_cost_no_try() {
    let core = demo_core();
    let token = core.select_token(None).unwrap();
    for bad in ["", "12345", "123456789", "12345a", "12 456"] {
        assert!(
            matches!(core.verify_pin(&token, &pin(bad)), Err(Error::PinFormat(_))),
            "{bad:?}"
        );
    }
    assert_eq!(
        core.token(token.token_ref).unwrap().known_tries_left(),
        Some(3)
    );
    let (token, cert) = core.find_certificate(None).unwrap();
    let input = SignInput::Data(b"data".to_vec());
    let result = core.sign(
        &token,
        &cert,
        &pin("12"),
        HashAlgorithm::Sha256,
        &input,
        SignFormat::Pkcs1,
        &CmsOptions::default(),
    );
    assert!(matches!(result, Err(Error::PinFormat(_))));
    assert_eq!(
        core.token(token.token_ref).unwrap().known_tries_left(),
        Some(3)
    );
}

#[test]
fn concurrent_callers_queue_and_all_succeed() {
    let core = Arc::new(demo_core());
    let (token, cert) = core.find_certificate(None).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (core, token, cert) = (core.clone(), token.clone(), cert.clone());
            std::thread::spawn(move || {
                let input = SignInput::Data(format!("document {i}").into_bytes());
                core.sign(
                    &token,
                    &cert,
                    &pin(crate::demo::DEMO_PIN),
                    HashAlgorithm::Sha256,
                    &input,
                    SignFormat::Cms,
                    &CmsOptions::default(),
                )
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap().is_ok());
    }
}

#[test]
fn remembered_certificates_belong_to_one_token_serial_until_forgotten() {
    let core = demo_core();
    let token = core.select_token(None).unwrap();
    let first = core.certificates(token.token_ref).unwrap();
    assert_eq!(core.certificates(token.token_ref).unwrap(), first);
    let cache = &core.certificates;
    assert!(cache.get(token.token_ref, &token.serial).is_some());
    // Another card in the same slot has another serial: never answered from this entry.
    assert!(cache.get(token.token_ref, "another card").is_none());
    core.forget_certificates();
    assert!(cache.get(token.token_ref, &token.serial).is_none());
    assert_eq!(core.certificates(token.token_ref).unwrap(), first);
}

#[test]
fn unknown_certificate_and_no_module_are_clear() {
    let core = demo_core();
    assert!(matches!(
        core.find_certificate(Some(&"00".repeat(32))),
        Err(Error::CertNotFound { .. })
    ));
    let empty = CardCore::open(&CoreOptions {
        command_line_modules: vec![PathBuf::from("/nonexistent/module.so")],
        ..CoreOptions::default()
    })
    .unwrap();
    let err = empty.tokens().unwrap_err();
    assert!(matches!(err, Error::NoModule { .. }));
    assert!(
        err.to_string()
            .contains("/nonexistent/module.so: file not found"),
        "{err}"
    );
}

/// The demo token, counting how often its certificates are read.
struct CountingDemo {
    demo: crate::demo::DemoToken,
    reads: Arc<std::sync::atomic::AtomicUsize>,
}

impl TokenProvider for CountingDemo {
    fn tokens(&self, provider: usize) -> Result<Vec<TokenInfo>> {
        TokenProvider::tokens(&self.demo, provider)
    }
    fn token(&self, token_ref: TokenRef) -> Result<TokenInfo> {
        TokenProvider::token(&self.demo, token_ref)
    }
    fn certificates(&self, token_ref: TokenRef) -> Result<Vec<TokenCertificate>> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        TokenProvider::certificates(&self.demo, token_ref)
    }
    fn verify_pin(&self, token: &TokenInfo, pin: &Pin) -> Result<()> {
        TokenProvider::verify_pin(&self.demo, token, pin)
    }
    fn sign_raw(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        mechanism: RawMechanism,
        data: &[u8],
    ) -> Result<Vec<u8>> {
        TokenProvider::sign_raw(&self.demo, token, key_id, pin, mechanism, data)
    }
    fn decrypt_raw(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        pin: &Pin,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        TokenProvider::decrypt_raw(&self.demo, token, key_id, pin, ciphertext)
    }
    fn name(&self) -> String {
        TokenProvider::name(&self.demo)
    }
}

#[test]
fn callers_that_find_no_remembered_certificates_together_read_the_card_once() {
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let provider = CountingDemo {
        demo: crate::demo::DemoToken::new().unwrap(),
        reads: reads.clone(),
    };
    let report = ModuleReport {
        path: "counting demo".to_owned(),
        loaded: true,
        source: "test".to_owned(),
        error: None,
        description: None,
        version: None,
    };
    let core = Arc::new(CardCore::with_providers(vec![(Box::new(provider), report)]));
    // Five tabs ask for the signing certificate at once, with nothing remembered yet.
    let start = Arc::new(std::sync::Barrier::new(5));
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let (core, start) = (core.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                core.find_certificate(None).map(|(_, c)| c.info.sha256)
            })
        })
        .collect();
    let found: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert!(found.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
}
