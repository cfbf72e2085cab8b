// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use card_agent_protocol::verifier::GOVERNMENT_CAS;

use super::super::testing::{demo_certificates, demo_validity, healthy, token_facts};
use super::*;
use crate::certificate::CertificateInfo;
use crate::pin::PinState;
use crate::token::TokenCertificate;

const EN: Language = Language::En;
const ZH: Language = Language::ZhTw;
const DAY: i64 = 86_400;
/// 2026-01-01: MOICA G2 and the GRCA roots are all valid then.
const AT: i64 = 1_767_225_600;

/// A card whose holder certificate is issued under a shipped GRCA root. No real person's
/// certificate is kept in the repository, so MOICA G2's own certificate stands in for the
/// card's (marked as not a CA, as a holder certificate is); its path is MOICA G2 → GRCA G2.
fn card_with_a_certificate_under_grca() -> CardFacts {
    let moica = GOVERNMENT_CAS
        .iter()
        .find(|c| c.name == "MOICA G2")
        .unwrap()
        .der()
        .unwrap();
    let mut info = CertificateInfo::parse(&moica).unwrap();
    info.is_ca = false;
    let mut facts = healthy();
    facts.tokens = Ok(vec![token_facts(
        "TP1",
        "r",
        PinState::Ok,
        vec![TokenCertificate {
            info,
            id: vec![1],
            label: "signature".to_owned(),
            has_private_key: true,
        }],
    )]);
    facts
}

#[test]
fn a_certificate_under_grca_is_named_with_its_issuer_and_root_chain_verified() {
    let facts = card_with_a_certificate_under_grca();
    let check = chain(&facts, &[], AT, EN);
    assert_eq!(check.status, Status::Ok, "{check:#?}");
    assert_eq!(check.items.len(), 1, "{check:#?}");
    assert!(
        check.items[0]
            .text
            .ends_with("issued by GRCA G2 under GRCA G2 (chain verified)"),
        "{check:#?}"
    );
    assert!(check.fix.is_none());
    // The certificate is shown to be the government's, not the card to hold its key.
    let everything = format!("{} {}", check.explanation, check.items[0].text);
    assert!(
        !everything.to_lowercase().contains("genuine"),
        "{everything}"
    );
    assert!(everything.contains("self-test"), "{everything}");
    let zh = chain(&facts, &[], AT, ZH);
    assert!(
        zh.items[0]
            .text
            .contains("由 GRCA G2 簽發，上層為 GRCA G2（憑證鏈已驗證）"),
        "{zh:#?}"
    );
    assert!(zh.explanation.contains("自我測試"), "{zh:#?}");
}

#[test]
fn the_demo_chain_verifies_up_to_a_test_root_and_its_ca_is_not_carried() {
    let facts = healthy();
    let (start, _) = demo_validity();
    let check = chain(&facts, &[], start + DAY, EN);
    assert_eq!(check.status, Status::Warning, "{check:#?}");
    // Per holder certificate: where its path ends, and that its CA is not one carried.
    assert_eq!(check.items.len(), 4, "{check:#?}");
    for pair in check.items.chunks(2) {
        assert!(
            pair[0].text.contains("TEST Government Root CA"),
            "{pair:#?}"
        );
        assert!(
            pair[1]
                .text
                .contains("is not one of the government CA certificates card-agent carries"),
            "{pair:#?}"
        );
        assert!(
            pair[1]
                .text
                .contains("GRCA G1, GRCA G2, GRCA G3, MOICA G2, MOICA G3, MOEACA G2"),
            "{pair:#?}"
        );
        assert!(pair[1].text.contains("GCA, XCA and HCA"), "{pair:#?}");
    }
    assert!(check.explanation.contains("test"), "{check:#?}");
    assert!(check.fix.is_none());
    let zh = chain(&facts, &[], start + DAY, ZH);
    assert!(
        zh.items[1]
            .text
            .contains("不是 card-agent 內建的政府憑證機構憑證"),
        "{zh:#?}"
    );
}

#[test]
fn a_missing_issuer_or_a_bad_signature_is_reported() {
    let (start, _) = demo_validity();
    // Only the holder certificates: the CA certificates are not on this card.
    let mut facts = healthy();
    let holders: Vec<_> = demo_certificates()
        .into_iter()
        .filter(|c| !c.info.is_ca)
        .collect();
    facts.tokens = Ok(vec![token_facts("TP1", "r", PinState::Ok, holders.clone())]);
    let check = chain(&facts, &[], start + DAY, EN);
    assert_eq!(check.status, Status::Warning);
    assert!(
        check.items[0].text.contains("內政部憑證管理中心"),
        "{check:#?}"
    );
    assert!(check.items[1].text.contains("not one of"), "{check:#?}");
    assert!(matches!(&check.fix, Some(Fix::Setting { key, .. }) if key == "extra_roots"));
    // The CA certificates from a configured file complete the chain.
    let cas: Vec<Vec<u8>> = demo_certificates()
        .into_iter()
        .filter(|c| c.info.is_ca)
        .map(|c| c.info.der)
        .collect();
    let file = CaFile {
        path: "/etc/ca.pem".into(),
        certificates: Ok(cas),
    };
    let check = chain(&facts, std::slice::from_ref(&file), start + DAY, EN);
    assert!(
        check
            .items
            .iter()
            .step_by(2)
            .all(|i| i.text.contains("TEST Government Root CA")),
        "{check:#?}"
    );
    // A damaged signature fails, and says so without the "not carried" note.
    let mut damaged = holders;
    let der = &mut damaged[0].info.der;
    let last = der.len() - 1;
    der[last] ^= 1;
    facts.tokens = Ok(vec![token_facts("TP1", "r", PinState::Ok, damaged)]);
    let check = chain(&facts, &[file], start + DAY, EN);
    assert_eq!(check.status, Status::Failed, "{check:#?}");
    assert!(
        check.items[0].text.contains("does not verify"),
        "{check:#?}"
    );
    assert!(!check.items[1].text.contains("not one of"), "{check:#?}");
    // An unreadable file is named.
    let broken = CaFile {
        path: "/etc/missing.pem".into(),
        certificates: Err("No such file".into()),
    };
    let check = chain(&healthy(), &[broken], start + DAY, EN);
    assert!(check.items[0].text.contains("/etc/missing.pem"));
}

#[test]
fn roots_are_classified_by_their_bytes() {
    let der = |name: &str| {
        GOVERNMENT_CAS
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .der()
            .unwrap()
    };
    let grca = "C=TW, O=Government Root Certification Authority";
    assert_eq!(
        root_kind(grca, &der("GRCA G2"), &[]),
        RootKind::Government("GRCA G2")
    );
    // The name alone proves nothing: other bytes under GRCA's name are the card's own root.
    assert_eq!(root_kind(grca, b"root", &[]), RootKind::CardOnly);
    assert_eq!(
        root_kind(grca, b"root", &[b"root".to_vec()]),
        RootKind::Configured
    );
    // An issuing CA made a root (in extra_roots) is not a GRCA root.
    let moica = der("MOICA G3");
    assert_eq!(
        root_kind("C=TW, O=行政院", &moica, std::slice::from_ref(&moica)),
        RootKind::Configured
    );
    assert_eq!(
        root_kind(
            "C=TW, O=card-agent TEST, CN=TEST Government Root CA",
            b"r",
            &[b"r".to_vec()]
        ),
        RootKind::Test
    );
    assert!(is_test_name("CN=DEMO root"));
    assert!(!is_test_name("CN=Contest Root, O=Latest"));
}
