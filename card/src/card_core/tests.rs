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
