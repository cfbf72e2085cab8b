//! The relying-party verifier against a test PKI built here: a root, an intermediate named
//! like MOICA's, RSA, P-256 and P-384 leaves, and a foreign CA. Keys are generated once per
//! test binary (RSA generation is the slow part).

use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use card_agent_protocol::auth::{auth_signed_message, AuthAlgorithm, AuthToken};
use card_agent_protocol::encoding::{decode_base64, encode_base64};
use card_agent_protocol::types::CardFamily;
use card_agent_protocol::verifier::{
    verify, verify_certificate_path, PathError, TrustStore, TrustStoreError, VerifyError,
    VerifyOptions, MAX_CHAIN_DEPTH,
};
use der::{Encode, EncodePem};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::{Sha256, Sha384, Sha512};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

#[path = "verifier/vectors.rs"]
mod vectors;

const ORIGIN: &str = "https://example.gov.tw";
/// 2025-06-15.
const NOW: i64 = 1_750_000_000;
const Y2023: i64 = 1_672_531_200;
const Y2024: i64 = 1_704_067_200;
const Y2025: i64 = 1_735_689_600;
const Y2027: i64 = 1_798_761_600;
const Y2028: i64 = 1_830_297_600;
const Y2040: i64 = 2_208_988_800;

const ROOT_NAME: &str = "CN=Test Root CA,O=Test PKI,C=TW";
const INTER_NAME: &str = "OU=內政部憑證管理中心,O=行政院,C=TW";
const LEAF_NAME: &str = "serialNumber=0000000112831644,CN=王小明,C=TW";
const HOLDER_ID: &str = "0000000112831644";

struct Pki {
    root: Vec<u8>,
    root_key: RsaPrivateKey,
    inter: Vec<u8>,
    inter_key: RsaPrivateKey,
    /// Same name and key as `inter`, but expired at NOW.
    inter_expired: Vec<u8>,
    leaf: Vec<u8>,
    leaf_key: RsaPrivateKey,
    ec_leaf: Vec<u8>,
    ec_key: p256::ecdsa::SigningKey,
    ec384_leaf: Vec<u8>,
    ec384_key: p384::ecdsa::SigningKey,
    foreign_root: Vec<u8>,
    /// A leaf with the leaf's key, issued by the foreign root under the intermediate's name.
    foreign_leaf: Vec<u8>,
}

fn time(unix: i64) -> Time {
    Time::try_from(UNIX_EPOCH + Duration::from_secs(unix as u64)).unwrap()
}

fn validity(from: i64, to: i64) -> Validity {
    Validity {
        not_before: time(from),
        not_after: time(to),
    }
}

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn rsa_spki(key: &RsaPrivateKey) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).unwrap()
}

/// Issues a certificate signed (SHA-256 with RSA) by `issuer_key`.
fn issue(
    profile: Profile,
    serial: u32,
    validity: Validity,
    subject: &str,
    spki: SubjectPublicKeyInfoOwned,
    issuer_key: &RsaPrivateKey,
) -> Vec<u8> {
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    let builder = CertificateBuilder::new(
        profile,
        SerialNumber::from(serial),
        validity,
        name(subject),
        spki,
        &signer,
    )
    .unwrap();
    builder
        .build::<rsa::pkcs1v15::Signature>()
        .unwrap()
        .to_der()
        .unwrap()
}

fn leaf_profile(issuer: &str) -> Profile {
    Profile::Leaf {
        issuer: name(issuer),
        enable_key_agreement: false,
        enable_key_encipherment: true,
    }
}

fn sub_ca(issuer: &str) -> Profile {
    Profile::SubCA {
        issuer: name(issuer),
        path_len_constraint: None,
    }
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(0x7a1_5eed);
        let mut rsa = || RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let (root_key, inter_key, leaf_key, foreign_key) = (rsa(), rsa(), rsa(), rsa());
        let mut rng = StdRng::seed_from_u64(256);
        let ec_key = p256::ecdsa::SigningKey::random(&mut rng);
        let ec384_key = p384::ecdsa::SigningKey::random(&mut rng);

        let root = issue(
            Profile::Root,
            1,
            validity(Y2024, Y2040),
            ROOT_NAME,
            rsa_spki(&root_key),
            &root_key,
        );
        let inter = issue(
            sub_ca(ROOT_NAME),
            2,
            validity(Y2024, Y2040),
            INTER_NAME,
            rsa_spki(&inter_key),
            &root_key,
        );
        let inter_expired = issue(
            sub_ca(ROOT_NAME),
            3,
            validity(Y2024, Y2025),
            INTER_NAME,
            rsa_spki(&inter_key),
            &root_key,
        );
        let leaf = issue(
            leaf_profile(INTER_NAME),
            10,
            validity(Y2024, Y2027),
            LEAF_NAME,
            rsa_spki(&leaf_key),
            &inter_key,
        );
        let ec_leaf = issue(
            leaf_profile(INTER_NAME),
            11,
            validity(Y2024, Y2027),
            LEAF_NAME,
            SubjectPublicKeyInfoOwned::from_key(*ec_key.verifying_key()).unwrap(),
            &inter_key,
        );
        let ec384_leaf = issue(
            leaf_profile(INTER_NAME),
            12,
            validity(Y2024, Y2027),
            LEAF_NAME,
            SubjectPublicKeyInfoOwned::from_key(*ec384_key.verifying_key()).unwrap(),
            &inter_key,
        );
        let foreign_root = issue(
            Profile::Root,
            1,
            validity(Y2024, Y2040),
            "CN=Other Root,C=XX",
            rsa_spki(&foreign_key),
            &foreign_key,
        );
        let foreign_leaf = issue(
            leaf_profile(INTER_NAME),
            13,
            validity(Y2024, Y2027),
            LEAF_NAME,
            rsa_spki(&leaf_key),
            &foreign_key,
        );
        Pki {
            root,
            root_key,
            inter,
            inter_key,
            inter_expired,
            leaf,
            leaf_key,
            ec_leaf,
            ec_key,
            ec384_leaf,
            ec384_key,
            foreign_root,
            foreign_leaf,
        }
    })
}

fn trust() -> TrustStore {
    let p = pki();
    TrustStore::from_der([&p.root], [&p.inter]).unwrap()
}

/// A 32-byte nonce as a server would issue it.
fn nonce(seed: u8) -> String {
    encode_base64(&[seed; 32])
}

fn rsa_token(alg: AuthAlgorithm, cert: &[u8], origin: &str, nonce: &str) -> AuthToken {
    let key = pki().leaf_key.clone();
    let message = auth_signed_message(origin, nonce);
    let signature = match alg {
        AuthAlgorithm::Rs256 => SigningKey::<Sha256>::new(key).sign(&message).to_vec(),
        AuthAlgorithm::Rs384 => SigningKey::<Sha384>::new(key).sign(&message).to_vec(),
        AuthAlgorithm::Rs512 => SigningKey::<Sha512>::new(key).sign(&message).to_vec(),
        _ => unreachable!("not an RSA algorithm"),
    };
    AuthToken::new(cert, alg, &signature, "0.1.0")
}

fn es256_token(origin: &str, nonce: &str) -> AuthToken {
    let message = auth_signed_message(origin, nonce);
    let sig: p256::ecdsa::Signature = pki().ec_key.sign(&message);
    AuthToken::new(
        &pki().ec_leaf,
        AuthAlgorithm::Es256,
        sig.to_der().as_bytes(),
        "0.1.0",
    )
}

fn es384_token(origin: &str, nonce: &str) -> AuthToken {
    let message = auth_signed_message(origin, nonce);
    let sig: p384::ecdsa::Signature = pki().ec384_key.sign(&message);
    AuthToken::new(
        &pki().ec384_leaf,
        AuthAlgorithm::Es384,
        sig.to_der().as_bytes(),
        "0.1.0",
    )
}

fn check(
    token: &AuthToken,
    origin: &str,
    nonce: &str,
    trust: &TrustStore,
    now: i64,
) -> Result<card_agent_protocol::verifier::VerifiedIdentity, VerifyError> {
    verify(
        token,
        &VerifyOptions {
            expected_origin: origin,
            nonce,
            trust,
            now_unix: now,
        },
    )
}

fn ok_token() -> AuthToken {
    rsa_token(AuthAlgorithm::Rs256, &pki().leaf, ORIGIN, &nonce(1))
}

#[test]
fn valid_rsa_token_is_accepted_with_identity() {
    let token = ok_token();
    // As a server receives it: JSON from the page.
    let json = serde_json::to_vec(&token).unwrap();
    let token: AuthToken = serde_json::from_slice(&json).unwrap();
    let id = check(&token, ORIGIN, &nonce(1), &trust(), NOW).unwrap();
    assert_eq!(id.common_name.as_deref(), Some("王小明"));
    assert_eq!(id.serial_number.as_deref(), Some(HOLDER_ID));
    assert_eq!(
        id.subject,
        format!("C=TW, CN=王小明, serialNumber={HOLDER_ID}")
    );
    assert_eq!(id.issuer, "C=TW, O=行政院, OU=內政部憑證管理中心");
    assert_eq!(id.card_family, CardFamily::Moica);
    assert_eq!(id.certificate_serial, "0A");
    assert_eq!(id.not_after, Y2027);
    assert_eq!(id.algorithm, AuthAlgorithm::Rs256);
    assert_eq!(id.certificate_der, pki().leaf);
}

#[test]
fn rs384_and_rs512_are_accepted() {
    for alg in [AuthAlgorithm::Rs384, AuthAlgorithm::Rs512] {
        let token = rsa_token(alg, &pki().leaf, ORIGIN, &nonce(2));
        let id = check(&token, ORIGIN, &nonce(2), &trust(), NOW).unwrap();
        assert_eq!(id.algorithm, alg);
    }
}

#[test]
fn wrong_origin_is_a_signature_failure() {
    let token = rsa_token(
        AuthAlgorithm::Rs256,
        &pki().leaf,
        "https://evil.example",
        &nonce(1),
    );
    assert_eq!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::SignatureInvalid)
    );
    // Same host, other scheme or port: a different origin.
    for other in ["http://example.gov.tw", "https://example.gov.tw:8443"] {
        assert_eq!(
            check(&ok_token(), other, &nonce(1), &trust(), NOW),
            Err(VerifyError::SignatureInvalid),
            "{other}"
        );
    }
}

#[test]
fn wrong_nonce_is_a_signature_failure() {
    assert_eq!(
        check(&ok_token(), ORIGIN, &nonce(2), &trust(), NOW),
        Err(VerifyError::SignatureInvalid)
    );
}

#[test]
fn expired_and_not_yet_valid_certificates() {
    assert_eq!(
        check(&ok_token(), ORIGIN, &nonce(1), &trust(), Y2028),
        Err(VerifyError::Expired {
            not_after: Y2027,
            now: Y2028
        })
    );
    assert_eq!(
        check(&ok_token(), ORIGIN, &nonce(1), &trust(), Y2023),
        Err(VerifyError::NotYetValid {
            not_before: Y2024,
            now: Y2023
        })
    );
    // The bounds themselves are inside the validity period.
    assert!(check(&ok_token(), ORIGIN, &nonce(1), &trust(), Y2027).is_ok());
    assert!(check(&ok_token(), ORIGIN, &nonce(1), &trust(), Y2024).is_ok());
}

#[test]
fn expired_intermediate_breaks_the_chain() {
    let p = pki();
    let trust = TrustStore::from_der([&p.root], [&p.inter_expired]).unwrap();
    match check(&ok_token(), ORIGIN, &nonce(1), &trust, NOW) {
        Err(VerifyError::UntrustedChain { reason }) => {
            assert!(reason.contains("expired"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // With the valid intermediate alongside, the search finds the good path.
    let trust = TrustStore::from_der([&p.root], [&p.inter_expired, &p.inter]).unwrap();
    assert!(check(&ok_token(), ORIGIN, &nonce(1), &trust, NOW).is_ok());
}

#[test]
fn foreign_ca_is_untrusted() {
    let p = pki();
    // Issued under the trusted intermediate's name, but signed by another key.
    let token = rsa_token(AuthAlgorithm::Rs256, &p.foreign_leaf, ORIGIN, &nonce(1));
    match check(&token, ORIGIN, &nonce(1), &trust(), NOW) {
        Err(VerifyError::UntrustedChain { reason }) => {
            assert!(reason.contains("does not verify"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Trusting only the foreign root does not make the real leaf trusted either.
    let foreign = TrustStore::from_der([&p.foreign_root], Vec::<Vec<u8>>::new()).unwrap();
    match check(&ok_token(), ORIGIN, &nonce(1), &foreign, NOW) {
        Err(VerifyError::UntrustedChain { reason }) => {
            assert!(
                reason.contains("no configured root or intermediate"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    // An empty trust store trusts nothing.
    assert!(matches!(
        check(&ok_token(), ORIGIN, &nonce(1), &TrustStore::new(), NOW),
        Err(VerifyError::UntrustedChain { .. })
    ));
}

#[test]
fn missing_intermediate_is_untrusted() {
    let trust = TrustStore::from_der([&pki().root], Vec::<Vec<u8>>::new()).unwrap();
    assert!(matches!(
        check(&ok_token(), ORIGIN, &nonce(1), &trust, NOW),
        Err(VerifyError::UntrustedChain { .. })
    ));
}

#[test]
fn certificate_paths_name_their_root_or_say_what_is_wrong() {
    let p = pki();
    let path = verify_certificate_path(&p.leaf, &trust(), NOW).unwrap();
    assert_eq!(path.root_der, p.root);
    assert!(
        path.root_subject.contains("Test Root CA"),
        "{}",
        path.root_subject
    );
    // Only the path is checked: an expired leaf still has one (the validity is another check).
    assert!(verify_certificate_path(&p.leaf, &trust(), Y2028).is_ok());
    // Incomplete: the intermediate is missing, and the error names it.
    let roots_only = TrustStore::from_der([&p.root], Vec::<Vec<u8>>::new()).unwrap();
    match verify_certificate_path(&p.leaf, &roots_only, NOW) {
        Err(PathError::IssuerMissing { issuer }) => {
            assert!(issuer.contains("內政部憑證管理中心"), "{issuer}")
        }
        other => panic!("{other:?}"),
    }
    // Found but wrong: a leaf under the intermediate's name signed by another key.
    match verify_certificate_path(&p.foreign_leaf, &trust(), NOW) {
        Err(PathError::Invalid { reason }) => {
            assert!(reason.contains("does not verify"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        verify_certificate_path(b"junk", &trust(), NOW),
        Err(PathError::BadCertificate { .. })
    ));
}

#[test]
fn tampered_signature_is_refused() {
    let mut token = ok_token();
    let mut sig = decode_base64(&token.signature).unwrap();
    sig[100] ^= 1;
    token.signature = encode_base64(&sig);
    assert_eq!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::SignatureInvalid)
    );
    // Truncated too.
    token.signature = encode_base64(&sig[..255]);
    assert_eq!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::SignatureInvalid)
    );
}

#[test]
fn tampered_certificate_is_refused() {
    let mut der = pki().leaf.clone();
    // Change the holder's identifier in the subject: the DER stays well-formed, but the CA's
    // signature no longer covers it.
    let at = der
        .windows(HOLDER_ID.len())
        .position(|w| w == HOLDER_ID.as_bytes())
        .unwrap();
    der[at + HOLDER_ID.len() - 1] = b'5';
    let token = rsa_token(AuthAlgorithm::Rs256, &der, ORIGIN, &nonce(1));
    assert!(matches!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::UntrustedChain { .. })
    ));
    // Swapping in another trusted certificate (the EC leaf) with the RSA signature fails too.
    let mut token = ok_token();
    token.unverified_certificate = encode_base64(&pki().ec_leaf);
    assert!(matches!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::AlgorithmKeyMismatch { .. })
    ));
}

#[test]
fn short_or_malformed_nonce_is_refused() {
    let short = encode_base64(&[1; 16]);
    let token = rsa_token(AuthAlgorithm::Rs256, &pki().leaf, ORIGIN, &short);
    assert_eq!(
        check(&token, ORIGIN, &short, &trust(), NOW),
        Err(VerifyError::NonceTooShort { bits: 128 })
    );
    assert!(matches!(
        check(&ok_token(), ORIGIN, "not base64!", &trust(), NOW),
        Err(VerifyError::InvalidNonce(_))
    ));
}

#[test]
fn unsupported_algorithm_and_format() {
    for alg in ["PS256", "none", "rs256", ""] {
        let mut token = ok_token();
        token.algorithm = alg.to_owned();
        assert_eq!(
            check(&token, ORIGIN, &nonce(1), &trust(), NOW),
            Err(VerifyError::UnsupportedAlgorithm {
                algorithm: alg.to_owned()
            })
        );
    }
    let mut token = ok_token();
    token.format = "web-eid:1".to_owned();
    assert!(matches!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::BadFormat {
            field: "format",
            ..
        })
    ));
}

#[test]
fn malformed_base64_and_der() {
    let mut token = ok_token();
    token.signature = "%%% not base64 %%%".to_owned();
    assert!(matches!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::BadFormat {
            field: "signature",
            ..
        })
    ));
    let mut token = ok_token();
    token.unverified_certificate = "MII*".to_owned();
    assert!(matches!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::BadFormat {
            field: "unverifiedCertificate",
            ..
        })
    ));
    let mut token = ok_token();
    token.unverified_certificate = encode_base64(b"not a certificate");
    assert!(matches!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::BadFormat {
            field: "unverifiedCertificate",
            ..
        })
    ));
    let mut token = ok_token();
    token.unverified_certificate = encode_base64(&vec![0x30; 20_000]);
    assert!(matches!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::BadFormat {
            field: "unverifiedCertificate",
            ..
        })
    ));
}

#[test]
fn ca_certificate_without_digital_signature_is_refused() {
    let p = pki();
    let message = auth_signed_message(ORIGIN, &nonce(1));
    let sig = SigningKey::<Sha256>::new(p.inter_key.clone()).sign(&message);
    let token = AuthToken::new(&p.inter, AuthAlgorithm::Rs256, &sig.to_vec(), "0.1.0");
    assert_eq!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::MissingDigitalSignature)
    );
}

#[test]
fn es256_token_is_accepted_and_bound_to_origin() {
    let token = es256_token(ORIGIN, &nonce(3));
    let id = check(&token, ORIGIN, &nonce(3), &trust(), NOW).unwrap();
    assert_eq!(id.algorithm, AuthAlgorithm::Es256);
    assert_eq!(id.serial_number.as_deref(), Some(HOLDER_ID));
    assert_eq!(
        check(&token, "https://evil.example", &nonce(3), &trust(), NOW),
        Err(VerifyError::SignatureInvalid)
    );
    assert_eq!(
        check(&token, ORIGIN, &nonce(4), &trust(), NOW),
        Err(VerifyError::SignatureInvalid)
    );
    // A raw r||s signature is not a DER ECDSA-Sig-Value: refused.
    let message = auth_signed_message(ORIGIN, &nonce(3));
    let sig: p256::ecdsa::Signature = pki().ec_key.sign(&message);
    let mut raw = token.clone();
    raw.signature = encode_base64(&sig.to_bytes());
    assert_eq!(
        check(&raw, ORIGIN, &nonce(3), &trust(), NOW),
        Err(VerifyError::SignatureInvalid)
    );
}

#[test]
fn es384_token_is_accepted() {
    let token = es384_token(ORIGIN, &nonce(5));
    let id = check(&token, ORIGIN, &nonce(5), &trust(), NOW).unwrap();
    assert_eq!(id.algorithm, AuthAlgorithm::Es384);
}

#[test]
fn algorithm_must_match_the_key() {
    let mut token = es256_token(ORIGIN, &nonce(3));
    token.algorithm = "ES384".to_owned();
    assert_eq!(
        check(&token, ORIGIN, &nonce(3), &trust(), NOW),
        Err(VerifyError::AlgorithmKeyMismatch {
            algorithm: "ES384",
            key: "EC P-256"
        })
    );
    let mut token = ok_token();
    token.algorithm = "ES256".to_owned();
    assert_eq!(
        check(&token, ORIGIN, &nonce(1), &trust(), NOW),
        Err(VerifyError::AlgorithmKeyMismatch {
            algorithm: "ES256",
            key: "RSA"
        })
    );
}

#[test]
fn expected_origin_must_be_a_bare_origin() {
    for bad in [
        "https://example.gov.tw/",
        "https://example.gov.tw/login",
        "example.gov.tw",
        "https://",
        "HTTPS://example.gov.tw",
        "https://user@example.gov.tw",
    ] {
        assert!(
            matches!(
                check(&ok_token(), bad, &nonce(1), &trust(), NOW),
                Err(VerifyError::BadOrigin { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn chains_longer_than_the_limit_are_refused() {
    let p = pki();
    // anchor -> I1 -> I2 -> ... -> In -> leaf. One key signs everything here: the test is
    // about path length, and RSA key generation is the slow part.
    let build = |n: usize| {
        let mut intermediates = Vec::new();
        let mut issuer = ROOT_NAME.to_owned();
        for i in 1..=n {
            let subject = format!("CN=Level {i},O=Test PKI,C=TW");
            intermediates.push(issue(
                sub_ca(&issuer),
                100 + i as u32,
                validity(Y2024, Y2040),
                &subject,
                rsa_spki(&p.inter_key),
                &p.inter_key,
            ));
            issuer = subject;
        }
        let leaf = issue(
            leaf_profile(&issuer),
            200,
            validity(Y2024, Y2027),
            LEAF_NAME,
            rsa_spki(&p.leaf_key),
            &p.inter_key,
        );
        let anchor = issue(
            Profile::Root,
            99,
            validity(Y2024, Y2040),
            ROOT_NAME,
            rsa_spki(&p.inter_key),
            &p.inter_key,
        );
        let trust = TrustStore::from_der([anchor], intermediates).unwrap();
        let token = rsa_token(AuthAlgorithm::Rs256, &leaf, ORIGIN, &nonce(1));
        check(&token, ORIGIN, &nonce(1), &trust, NOW)
    };
    // MAX_CHAIN_DEPTH links: leaf -> I(n) ... -> I1 -> root is n + 1 links.
    assert!(build(MAX_CHAIN_DEPTH - 1).is_ok());
    match build(MAX_CHAIN_DEPTH) {
        Err(VerifyError::UntrustedChain { reason }) => {
            assert!(reason.contains("issuer links"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn trust_store_loads_der_and_pem() {
    let p = pki();
    let pem = |der: &[u8]| {
        use der::Decode;
        x509_cert::Certificate::from_der(der)
            .unwrap()
            .to_pem(der::pem::LineEnding::LF)
            .unwrap()
    };
    let bundle = format!(
        "# Test root\n{}\nsome commentary\n{}",
        pem(&p.root),
        pem(&p.foreign_root)
    );
    let mut trust = TrustStore::new();
    assert_eq!(trust.add_roots(bundle.as_bytes()).unwrap(), 2);
    assert_eq!(
        trust.add_intermediates(pem(&p.inter).as_bytes()).unwrap(),
        1
    );
    assert_eq!(trust.add_intermediates(&p.inter_expired).unwrap(), 1);
    assert_eq!((trust.root_count(), trust.intermediate_count()), (2, 2));
    assert!(check(&ok_token(), ORIGIN, &nonce(1), &trust, NOW).is_ok());

    assert_eq!(
        trust.add_roots(b"  \n"),
        Err(TrustStoreError::NoCertificate)
    );
    assert!(matches!(
        trust.add_roots(b"\x30\x03\x02\x01\x01"),
        Err(TrustStoreError::Invalid { index: 0, .. })
    ));
    let cut = pem(&p.root);
    let cut = &cut[..cut.len() - 30];
    assert!(matches!(
        trust.add_roots(cut.as_bytes()),
        Err(TrustStoreError::Invalid { .. })
    ));
    // Failed additions added nothing.
    assert_eq!(trust.root_count(), 2);
}
