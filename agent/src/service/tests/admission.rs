//! Admission inside every operation, the user's-own-callers rules, and the certificate choice
//! as the service applies it.

use super::*;
use crate::service::DecryptRequest;

/// A server's 256-bit challenge.
const NONCE: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=";

/// Every card operation a page can ask for, each returning whether it was refused as an
/// untrusted site (with no PIN: a page never sends one).
fn operations(service: &Service, caller: &Caller) -> Vec<(&'static str, Result<()>)> {
    vec![
        ("inventory", service.inventory(caller).map(drop)),
        ("certificates", service.certificates(caller).map(drop)),
        (
            "verify-pin",
            service.verify_pin(caller, None, None).map(drop),
        ),
        ("sign", service.sign(caller, sign_request(None)).map(drop)),
        (
            "decrypt",
            service
                .decrypt(
                    caller,
                    DecryptRequest {
                        ciphertext: vec![1; 256],
                        pin: None,
                        slot_description: None,
                    },
                )
                .map(drop),
        ),
        (
            "authenticate",
            service.authenticate(caller, NONCE, None, None).map(drop),
        ),
        ("subscribe", service.subscribe(caller).map(drop)),
    ]
}

#[test]
fn every_operation_admits_an_unknown_legacy_site_never_and_asks_nobody() {
    let bench = Bench::new(Some(dialogs_answering(DEMO_PIN)), PinEntry::Auto);
    for (name, outcome) in operations(&bench.service, &legacy_page(UNKNOWN)) {
        let e = outcome.unwrap_err();
        assert!(matches!(e, Error::SiteNotTrusted { .. }), "{name}: {e:?}");
    }
    assert!(bench.asked().is_empty(), "{:?}", bench.asked());
    assert_eq!(bench.card_calls(), 0);
}

#[test]
fn a_new_api_page_from_an_unknown_site_is_asked_about_once_and_refused_on_no() {
    let refusing = ScriptedDialogs {
        approve: false,
        ..dialogs_answering(DEMO_PIN)
    };
    let bench = Bench::new(Some(refusing), PinEntry::Auto);
    for (name, outcome) in operations(&bench.service, &page(UNKNOWN)) {
        let e = outcome.unwrap_err();
        assert!(matches!(e, Error::SiteNotTrusted { .. }), "{name}: {e:?}");
    }
    // Each operation asked (a subscription never does), and nothing reached the card.
    let asked = bench.asked();
    assert_eq!(asked.len(), 6, "{asked:?}");
    assert!(asked.iter().all(|a| a == &format!("trust {UNKNOWN}")));
    assert_eq!(bench.card_calls(), 0);

    // A yes is remembered: the next request is not asked about again.
    let bench = Bench::new(Some(dialogs_answering(DEMO_PIN)), PinEntry::Auto);
    bench.service.inventory(&page(UNKNOWN)).unwrap();
    bench.service.inventory(&page(UNKNOWN)).unwrap();
    assert_eq!(bench.asked(), vec![format!("trust {UNKNOWN}")]);
}

#[test]
fn insecure_origins_are_refused_on_every_channel() {
    let bench = Bench::new(Some(dialogs_answering(DEMO_PIN)), PinEntry::Auto);
    for caller in [
        page("http://www.example.gov.tw"),
        legacy_page("http://www.example.gov.tw"),
    ] {
        for (name, outcome) in operations(&bench.service, &caller) {
            let e = outcome.unwrap_err();
            assert!(matches!(e, Error::InsecureOrigin { .. }), "{name}: {e:?}");
        }
    }
    assert!(bench.asked().is_empty());
}

#[test]
fn our_own_pages_see_card_events_and_the_self_test_but_do_not_manage_trust() {
    let bench = Bench::new(Some(dialogs_answering(DEMO_PIN)), PinEntry::Auto);
    // The extension's self-test page subscribes to card events (it was refused before).
    bench.service.subscribe(&extension_page()).unwrap();
    bench
        .service
        .self_test_sign(&extension_page(), None, None)
        .unwrap();
    for caller in [extension_page(), page(TRUSTED), legacy_page(TRUSTED)] {
        let e = bench.service.trusted_sites(&caller).unwrap_err();
        assert!(matches!(e, Error::LocalOnly { .. }), "{e:?}");
        let e = bench
            .service
            .remove_trusted_site(&caller, TRUSTED)
            .unwrap_err();
        assert!(matches!(e, Error::LocalOnly { .. }), "{e:?}");
    }
    for caller in [page(TRUSTED), legacy_page(TRUSTED)] {
        let e = bench
            .service
            .self_test_sign(&caller, None, None)
            .unwrap_err();
        assert!(matches!(e, Error::SiteNotTrusted { .. }), "{e:?}");
        assert!(bench.service.environment_check(&caller).is_err());
    }
    let sites = bench.service.trusted_sites(&local()).unwrap();
    assert_eq!(
        sites.configured,
        vec!["https://*.example.gov.tw".to_owned()]
    );
    assert!(!bench
        .service
        .remove_trusted_site(&local(), TRUSTED)
        .unwrap());
}

#[test]
fn a_trusted_site_subscribes_and_an_unknown_one_does_not() {
    let bench = Bench::new(Some(dialogs_answering(DEMO_PIN)), PinEntry::Auto);
    bench.service.subscribe(&page(TRUSTED)).unwrap();
    assert!(bench.service.subscribe(&page(UNKNOWN)).is_err());
    assert!(
        bench.asked().is_empty(),
        "a subscription never opens a dialog"
    );
}

#[test]
fn only_a_site_can_authenticate() {
    let bench = Bench::new(Some(dialogs_answering(DEMO_PIN)), PinEntry::Auto);
    for caller in [local(), extension_page()] {
        let e = bench
            .service
            .authenticate(&caller, NONCE, None, None)
            .unwrap_err();
        assert!(matches!(e, Error::BadInput(_)), "{e:?}");
    }
    bench
        .service
        .authenticate(&page(TRUSTED), NONCE, None, None)
        .unwrap();
}

#[test]
fn the_certificate_choice_is_one_rule_for_signing_and_decrypting() {
    let bench = Bench::new(None, PinEntry::Auto);
    let signed = bench
        .service
        .sign(&local(), sign_request(Some(DEMO_PIN)))
        .unwrap();
    assert_eq!(signed.certificate.id, b"SIGN");
    // A slot that no token is in: no card, for signing and decrypting alike.
    let mut request = sign_request(Some(DEMO_PIN));
    request.slot_description = Some("no such reader".to_owned());
    let e = bench.service.sign(&local(), request).unwrap_err();
    assert!(matches!(e, Error::NoCard), "{e:?}");
    let e = bench
        .service
        .decrypt(
            &local(),
            DecryptRequest {
                ciphertext: vec![1; 256],
                pin: Some(secret(DEMO_PIN)),
                slot_description: Some("no such reader".to_owned()),
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::NoCard), "{e:?}");
    // An unknown thumbprint is not found; no signature is made with another certificate.
    let mut request = sign_request(Some(DEMO_PIN));
    request.certificate = Some("00".repeat(32));
    let e = bench.service.sign(&local(), request).unwrap_err();
    assert!(matches!(e, Error::CertNotFound { .. }), "{e:?}");

    // Two cards, each with a signing and an encryption key: never one picked at random.
    let two = Bench::with_tokens(2, None, PinEntry::Auto);
    let e = two
        .service
        .sign(&local(), sign_request(Some(DEMO_PIN)))
        .unwrap_err();
    assert!(matches!(e, Error::Ambiguous { .. }), "{e:?}");
    let e = two
        .service
        .decrypt(
            &local(),
            DecryptRequest {
                ciphertext: vec![1; 256],
                pin: Some(secret(DEMO_PIN)),
                slot_description: None,
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::Ambiguous { .. }), "{e:?}");
    assert_eq!(two.card_calls(), 0);
}
