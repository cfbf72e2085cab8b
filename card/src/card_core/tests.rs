//! The card core's rules on the demo token: PIN gate, lock, queueing, remembered certificates.

use std::sync::atomic::Ordering;

use super::counting::CountingCard;
use super::*;
use crate::pin::PinState;

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
        core.verify_pin(&token, &pin("000001")),
        Err(Error::PinIncorrect {
            tries_left: Some(1)
        })
    ));
    assert_eq!(
        core.token(token.token_ref).unwrap().pin_state,
        PinState::FinalTry
    );
    assert!(matches!(
        core.verify_pin(&token, &pin("000002")),
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
fn a_pin_the_card_refused_never_reaches_it_again_until_the_cards_change() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let core = CountingCard::new()
        .unwrap()
        .counting_into(calls.clone())
        .into_core();
    let token = core.select_token(None).unwrap();
    let wrong = || pin("000000");
    assert!(matches!(
        core.verify_pin(&token, &wrong()),
        Err(Error::PinIncorrect { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The same PIN again, for a signature this time: refused in the turn, with the tries the
    // card reports, and the card is not asked.
    let cert = core.certificates(token.token_ref).unwrap().remove(0);
    let signed = core.sign(
        &token,
        &cert,
        &wrong(),
        HashAlgorithm::Sha256,
        &SignInput::Data(b"form".to_vec()),
        SignFormat::Pkcs1,
        &CmsOptions::default(),
    );
    assert!(
        matches!(
            signed,
            Err(Error::PinAlreadyRefused {
                tries_left: Some(2)
            })
        ),
        "{signed:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        core.token(token.token_ref).unwrap().known_tries_left(),
        Some(2)
    );
    // The right PIN still works; the refused one stays refused.
    core.verify_pin(&token, &pin(crate::demo::DEMO_PIN))
        .unwrap();
    assert!(matches!(
        core.verify_pin(&token, &wrong()),
        Err(Error::PinAlreadyRefused { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Another card or reader coming does not forget it; a card leaving its reader does (the
    // person takes the card out and puts it back).
    core.cards_changed();
    assert!(matches!(
        core.verify_pin(&token, &wrong()),
        Err(Error::PinAlreadyRefused { .. })
    ));
    core.card_left();
    assert!(matches!(
        core.verify_pin(&token, &wrong()),
        Err(Error::PinIncorrect { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn a_pin_a_keys_own_login_refused_is_refused_for_that_key_only() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let core = CountingCard::new()
        .unwrap()
        .counting_into(calls.clone())
        .with_key_pin("654321")
        .into_core();
    let token = core.select_token(None).unwrap();
    let cert = core.certificates(token.token_ref).unwrap().remove(0);
    let user_pin = || pin(crate::demo::DEMO_PIN);
    let sign = |p: &Pin| {
        core.sign(
            &token,
            &cert,
            p,
            HashAlgorithm::Sha256,
            &SignInput::Data(b"form".to_vec()),
            SignFormat::Pkcs1,
            &CmsOptions::default(),
        )
    };
    // The user login takes the card's PIN; the key's own login refuses it.
    assert!(matches!(sign(&user_pin()), Err(Error::KeyPinIncorrect)));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // That key is not asked with it again (its count is the card's secret: none is given)...
    assert!(matches!(
        sign(&user_pin()),
        Err(Error::PinAlreadyRefused { tries_left: None })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // ...but the card's own login, which accepted it, still takes it.
    core.verify_pin(&token, &user_pin()).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
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
    core.cards_changed();
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

#[test]
fn callers_that_find_no_remembered_certificates_together_read_the_card_once() {
    let provider = CountingCard::new().unwrap();
    let reads = provider.reads.clone();
    let core = Arc::new(provider.into_core());
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
    assert_eq!(reads.load(Ordering::SeqCst), 1);
}

#[test]
fn a_remembered_certificate_named_by_thumbprint_skips_the_module_and_the_turn_reads_the_state() {
    let provider = CountingCard::new().unwrap();
    let (reads, listings, swapped) = (
        provider.reads.clone(),
        provider.listings.clone(),
        provider.swapped.clone(),
    );
    let core = provider.into_core();
    let count = || {
        (
            reads.load(Ordering::SeqCst),
            listings.load(Ordering::SeqCst),
        )
    };
    let (_, cert) = core.find_certificate(None).unwrap();
    let thumbprint = cert.info.sha256.clone();
    assert_eq!(count(), (1, 1));
    // Named by thumbprint and remembered: no listing, no read, the token as remembered.
    let (token, again) = core
        .find_certificate(Some(&thumbprint.to_uppercase()))
        .unwrap();
    assert_eq!((again.info.sha256, count()), (thumbprint.clone(), (1, 1)));
    assert!(!token.serial.ends_with("-OTHER"));
    // Without a thumbprint, "the only one" depends on every token present: always listed.
    core.find_certificate(None).unwrap();
    assert_eq!(count(), (1, 2));
    // Another card in the slot with no card event: still the remembered one, but the
    // operation's turn reads the state, sees another serial and stops with the card untouched
    // (and forgets what it remembered); the next choice lists and reads the new card.
    swapped.store(true, Ordering::SeqCst);
    let (stale, _) = core.find_certificate(Some(&thumbprint)).unwrap();
    assert_eq!(
        (stale.serial.as_str(), count()),
        (token.serial.as_str(), (1, 2))
    );
    let admitted = std::sync::atomic::AtomicBool::new(false);
    let admit = |_: &crate::token::TokenInfo| {
        admitted.store(true, Ordering::SeqCst);
        Ok(())
    };
    let refused = core.verify_pin_if(&stale, &pin(crate::demo::DEMO_PIN), &admit);
    assert!(matches!(refused, Err(Error::CardRemoved)), "{refused:?}");
    assert!(!admitted.load(Ordering::SeqCst));
    let (token, _) = core.find_certificate(Some(&thumbprint)).unwrap();
    assert!(token.serial.ends_with("-OTHER"));
    assert_eq!(count(), (2, 3));
    // Another slot wanted than the remembered card's: listed (and refused there).
    let elsewhere = CertificateWanted {
        sha256: Some(&thumbprint),
        slot_description: Some("no such reader"),
        ..CertificateWanted::default()
    };
    assert!(matches!(
        core.choose_certificate(&elsewhere),
        Err(Error::NoCard)
    ));
    assert_eq!(count(), (2, 4));
    // Forgotten (a reader event): listed again.
    core.cards_changed();
    core.find_certificate(Some(&thumbprint)).unwrap();
    assert_eq!(count(), (3, 5));
}
