//! The government CA certificates the verifier carries (`roots/`): each file is the one whose
//! fingerprint was checked (roots/README.md says how), and each issuing CA's chain verifies to
//! its GRCA root, at a fixed time. No end-entity certificate of a real person is kept in the
//! repository: a certificate names its holder, and public code that carries one is no licence
//! to copy it.

use std::path::PathBuf;

use card_agent_protocol::verifier::{
    government_ca, government_ca_names, verify_certificate_path, PathError, TrustStore,
    GOVERNMENT_CAS,
};
use der::{DecodePem, Encode};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

/// 2026-01-01T00:00:00Z: every shipped CA certificate is valid then.
const AT: i64 = 1_767_225_600;

/// SHA-256 of each file's DER, as roots/README.md lists them: the pin. A file replaced by other
/// bytes fails here even if the code's table is changed with it.
const PINNED: &[(&str, &str)] = &[
    (
        "grca-g1.pem",
        "7600295eefe85b9e1fd624db76062aaaae59818a54d2774cd4c0b2c01131e1b3",
    ),
    (
        "grca-g2.pem",
        "70b922bfda0e3f4a342e4ee22d579ae598d071cc5ec9c30f123680340388aea5",
    ),
    (
        "grca-g3.pem",
        "57df6f20e04c588e85f35be8832f5d4e78958336ae3b18fb7c9bae0dfead4044",
    ),
    (
        "moica-g2.pem",
        "c4c462de463f856804dc898338d2cecb55fba74155851599d8fb7d70218fd1be",
    ),
    (
        "moica-g3.pem",
        "ed793fd0d50a2a398049d598982cf01e75f873b532066caec238f800a06ca9da",
    ),
    (
        "moeaca-g2.pem",
        "0cf08b01e554eb7631d4916e9e8c5398af994242a26ca388638622a0e59ff379",
    ),
];

fn roots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../roots")
}

fn der_of_pem(pem: &[u8]) -> Vec<u8> {
    Certificate::from_pem(pem).unwrap().to_der().unwrap()
}

fn sha256_hex(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ca(name: &str) -> &'static card_agent_protocol::verifier::GovernmentCa {
    GOVERNMENT_CAS.iter().find(|c| c.name == name).unwrap()
}

fn names_of(path: &[Vec<u8>]) -> Vec<&'static str> {
    path.iter()
        .map(|der| government_ca(der).map_or("(not shipped)", |c| c.name))
        .collect()
}

#[test]
fn every_shipped_file_has_its_pinned_fingerprint_and_is_the_embedded_one() {
    let mut on_disk: Vec<String> = std::fs::read_dir(roots_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pem"))
        .collect();
    on_disk.sort();
    let mut pinned: Vec<String> = PINNED.iter().map(|(f, _)| (*f).to_owned()).collect();
    pinned.sort();
    assert_eq!(
        on_disk, pinned,
        "every file in roots/ is pinned, and no more"
    );
    assert_eq!(GOVERNMENT_CAS.len(), PINNED.len());
    for (file, fingerprint) in PINNED {
        let text = std::fs::read_to_string(roots_dir().join(file)).unwrap();
        assert_eq!(
            text.matches("-----BEGIN").count(),
            1,
            "{file}: one PEM block"
        );
        let der = der_of_pem(text.as_bytes());
        assert_eq!(&sha256_hex(&der), fingerprint, "{file}");
        let embedded = GOVERNMENT_CAS.iter().find(|c| c.file == *file).unwrap();
        assert_eq!(embedded.pem, text.as_bytes(), "{file} is embedded as it is");
        assert_eq!(embedded.der().unwrap(), der);
    }
}

#[test]
fn the_store_has_three_roots_and_three_issuing_cas() {
    let trust = TrustStore::government().unwrap();
    assert_eq!(trust.root_count(), 3);
    assert_eq!(trust.intermediate_count(), 3);
    assert_eq!(
        government_ca_names(),
        "GRCA G1, GRCA G2, GRCA G3, MOICA G2, MOICA G3, MOEACA G2"
    );
    // Each is known by its bytes; the names say which is which.
    for ca in GOVERNMENT_CAS {
        assert_eq!(government_ca(&ca.der().unwrap()), Some(ca));
        let subject = ca
            .certificate()
            .unwrap()
            .tbs_certificate
            .subject
            .to_string();
        let expected = match ca.name {
            "GRCA G3" => "Government Root Certification Authority - G3",
            n if n.starts_with("GRCA") => "Government Root Certification Authority",
            n if n.starts_with("MOICA") => "內政部憑證管理中心",
            _ => "工商憑證管理中心",
        };
        assert!(subject.contains(expected), "{}: {subject}", ca.name);
    }
}

#[test]
fn each_issuing_ca_chains_to_its_grca_root() {
    let trust = TrustStore::government().unwrap();
    for ca in GOVERNMENT_CAS.iter().filter(|c| !c.is_root()) {
        let root = crate::ca(ca.issued_by.unwrap());
        let path = verify_certificate_path(&ca.der().unwrap(), &trust, AT)
            .unwrap_or_else(|e| panic!("{}: {e}", ca.name));
        assert_eq!(path.root_der, root.der().unwrap(), "{}", ca.name);
        assert_eq!(names_of(&path.issuers_der), vec![root.name], "{}", ca.name);
    }
}

#[test]
fn an_issuing_ca_does_not_verify_under_another_root() {
    // GRCA G1 and G2 share one name: the name matches, the signature does not.
    let g1_only = TrustStore::from_der([ca("GRCA G1").der().unwrap()], [] as [Vec<u8>; 0]).unwrap();
    for name in ["MOICA G2", "MOEACA G2"] {
        match verify_certificate_path(&ca(name).der().unwrap(), &g1_only, AT) {
            Err(PathError::Invalid { reason }) => {
                assert!(reason.contains("does not verify"), "{name}: {reason}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // MOICA G3 names GRCA G3 as its issuer: under G1 and G2 it has no issuer at all.
    let g1_g2 = TrustStore::from_der(
        [ca("GRCA G1").der().unwrap(), ca("GRCA G2").der().unwrap()],
        [] as [Vec<u8>; 0],
    )
    .unwrap();
    assert!(matches!(
        verify_certificate_path(&ca("MOICA G3").der().unwrap(), &g1_g2, AT),
        Err(PathError::IssuerMissing { .. })
    ));
}

#[test]
fn the_roots_are_self_signed_and_g1_signs_with_sha1() {
    let trust = TrustStore::government().unwrap();
    for name in ["GRCA G2", "GRCA G3"] {
        let der = ca(name).der().unwrap();
        let path = verify_certificate_path(&der, &trust, AT).unwrap();
        assert_eq!(path.root_der, der, "{name} verifies under its own key");
    }
    // GRCA G1's self-signature is SHA-1, which the verifier refuses in any certificate it
    // checks. It is still a trust anchor: only a root's name and key are used, never its own
    // signature (which proves nothing anyway).
    let g1 = ca("GRCA G1").certificate().unwrap();
    assert_eq!(
        g1.signature_algorithm.oid.to_string(),
        "1.2.840.113549.1.1.5",
        "sha1WithRSAEncryption"
    );
    assert!(verify_certificate_path(&ca("GRCA G1").der().unwrap(), &trust, AT).is_err());
}
