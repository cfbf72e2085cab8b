//! The authentication-token vectors shared with the Node.js verifier
//! (`packages/card-agent-verify`), so the two verifiers cannot drift: `tests/vectors/auth-tokens.json`
//! holds every certificate, token, origin, nonce and verification time, with the outcome each
//! verifier must reach. Each vector carries its own `now`, so none ever expires.
//!
//! The file is generated once from this test PKI (`CARD_AGENT_UPDATE_VECTORS=1 cargo test -p
//! card-agent-protocol --features verifier --test verifier vectors`) and committed; the test
//! then only reads it. The expected outcomes below are written by hand (they restate the
//! other tests of this file), and generation fails unless the Rust verifier reaches each one.

use serde_json::{json, Map, Value};

use super::*;
use card_agent_protocol::verifier::VerifiedIdentity;

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/auth-tokens.json"
);

/// One vector before it is written out.
struct Case {
    name: String,
    token: AuthToken,
    origin: String,
    nonce: String,
    now: i64,
    roots: Vec<&'static str>,
    intermediates: Vec<&'static str>,
    expect: Value,
}

/// Certificates beyond the shared PKI, built only for the vectors: a chain one link too long
/// (and one just short enough), a leaf with a factorable RSA key, an issuer that is no CA, a
/// path length constraint broken, and critical extensions no verifier here understands.
struct Extra {
    not_a_ca: Vec<u8>,
    under_not_a_ca: Vec<u8>,
    path_0: Vec<u8>,
    below_path_0: Vec<u8>,
    under_below_path_0: Vec<u8>,
    critical_leaf: Vec<u8>,
    critical_inter: Vec<u8>,
    under_critical_inter: Vec<u8>,
    levels: Vec<Vec<u8>>,
    deep_anchor: Vec<u8>,
    deep_leaf_4: Vec<u8>,
    deep_leaf_5: Vec<u8>,
    weak_leaf: Vec<u8>,
    weak_key: RsaPrivateKey,
}

/// Like `issue`, with a critical inhibitAnyPolicy extension (2.5.29.54), which the verifiers
/// do not process and so must refuse.
fn issue_with_unknown_critical(
    profile: Profile,
    serial: u32,
    subject: &str,
    spki: SubjectPublicKeyInfoOwned,
    issuer_key: &RsaPrivateKey,
) -> Vec<u8> {
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    let mut builder = CertificateBuilder::new(
        profile,
        SerialNumber::from(serial),
        validity(Y2024, Y2027),
        name(subject),
        spki,
        &signer,
    )
    .unwrap();
    builder
        .add_extension(&x509_cert::ext::pkix::InhibitAnyPolicy(0))
        .unwrap();
    builder
        .build::<rsa::pkcs1v15::Signature>()
        .unwrap()
        .to_der()
        .unwrap()
}

fn extra() -> Extra {
    let p = pki();
    // Every extra CA below uses the intermediate's key, so the leaves' signatures are real;
    // what breaks each path is the certificate's own content.
    let inter_spki = || rsa_spki(&p.inter_key);
    let leaf_under = |issuer: &str, serial| {
        issue(
            leaf_profile(issuer),
            serial,
            validity(Y2024, Y2027),
            LEAF_NAME,
            rsa_spki(&p.leaf_key),
            &p.inter_key,
        )
    };
    const NOT_A_CA: &str = "CN=Not A CA,O=Test PKI,C=TW";
    const PATH_0: &str = "CN=Path Length 0,O=Test PKI,C=TW";
    const BELOW: &str = "CN=Below Path Length 0,O=Test PKI,C=TW";
    const CRITICAL: &str = "CN=Critical Extension CA,O=Test PKI,C=TW";
    let sub_ca_0 = Profile::SubCA {
        issuer: name(ROOT_NAME),
        path_len_constraint: Some(0),
    };
    let not_a_ca = issue(
        leaf_profile(ROOT_NAME),
        20,
        validity(Y2024, Y2040),
        NOT_A_CA,
        inter_spki(),
        &p.root_key,
    );
    let path_0 = issue(
        sub_ca_0,
        21,
        validity(Y2024, Y2040),
        PATH_0,
        inter_spki(),
        &p.root_key,
    );
    let below_path_0 = issue(
        sub_ca(PATH_0),
        22,
        validity(Y2024, Y2040),
        BELOW,
        inter_spki(),
        &p.inter_key,
    );
    let critical_inter =
        issue_with_unknown_critical(sub_ca(ROOT_NAME), 23, CRITICAL, inter_spki(), &p.root_key);
    let critical_leaf = issue_with_unknown_critical(
        leaf_profile(INTER_NAME),
        24,
        LEAF_NAME,
        rsa_spki(&p.leaf_key),
        &p.inter_key,
    );
    let mut levels = Vec::new();
    let mut issuer = ROOT_NAME.to_owned();
    let mut leaves = Vec::new();
    for i in 1..=MAX_CHAIN_DEPTH {
        let subject = format!("CN=Level {i},O=Test PKI,C=TW");
        levels.push(issue(
            sub_ca(&issuer),
            100 + i as u32,
            validity(Y2024, Y2040),
            &subject,
            rsa_spki(&p.inter_key),
            &p.inter_key,
        ));
        leaves.push(issue(
            leaf_profile(&subject),
            200,
            validity(Y2024, Y2027),
            LEAF_NAME,
            rsa_spki(&p.leaf_key),
            &p.inter_key,
        ));
        issuer = subject;
    }
    let deep_anchor = issue(
        Profile::Root,
        99,
        validity(Y2024, Y2040),
        ROOT_NAME,
        rsa_spki(&p.inter_key),
        &p.inter_key,
    );
    let weak_key = RsaPrivateKey::new(&mut StdRng::seed_from_u64(1024), 1024).unwrap();
    let weak_leaf = issue(
        leaf_profile(INTER_NAME),
        14,
        validity(Y2024, Y2027),
        LEAF_NAME,
        rsa_spki(&weak_key),
        &p.inter_key,
    );
    Extra {
        under_not_a_ca: leaf_under(NOT_A_CA, 30),
        under_below_path_0: leaf_under(BELOW, 31),
        under_critical_inter: leaf_under(CRITICAL, 32),
        not_a_ca,
        path_0,
        below_path_0,
        critical_leaf,
        critical_inter,
        deep_leaf_4: leaves[MAX_CHAIN_DEPTH - 2].clone(),
        deep_leaf_5: leaves[MAX_CHAIN_DEPTH - 1].clone(),
        levels,
        deep_anchor,
        weak_leaf,
        weak_key,
    }
}

fn certificates(x: &Extra) -> Vec<(String, Vec<u8>)> {
    let p = pki();
    let mut certs = vec![
        ("root".to_owned(), p.root.clone()),
        ("inter".to_owned(), p.inter.clone()),
        ("inter-expired".to_owned(), p.inter_expired.clone()),
        ("foreign-root".to_owned(), p.foreign_root.clone()),
        ("deep-anchor".to_owned(), x.deep_anchor.clone()),
        ("not-a-ca".to_owned(), x.not_a_ca.clone()),
        ("path-length-0".to_owned(), x.path_0.clone()),
        ("below-path-length-0".to_owned(), x.below_path_0.clone()),
        ("critical-extension-ca".to_owned(), x.critical_inter.clone()),
    ];
    for (i, level) in x.levels.iter().enumerate() {
        certs.push((format!("level-{}", i + 1), level.clone()));
    }
    certs
}

fn identity(alg: &str, serial: &str) -> Value {
    json!({"ok": {
        "subject": format!("C=TW, CN=王小明, serialNumber={HOLDER_ID}"),
        "commonName": "王小明",
        "serialNumber": HOLDER_ID,
        "issuer": "C=TW, O=行政院, OU=內政部憑證管理中心",
        "cardFamily": "MOICA",
        "certificateSerial": serial,
        "notAfter": Y2027,
        "algorithm": alg,
    }})
}

/// The leaf at the end of the long test chain: its issuer is no government CA.
fn deep_identity() -> Value {
    let mut id = identity("RS256", "C8");
    id["ok"]["issuer"] = "C=TW, O=Test PKI, CN=Level 4".into();
    id["ok"]["cardFamily"] = "unknown".into();
    id
}

fn error(kind: &str, fields: Value) -> Value {
    let mut out = Map::new();
    out.insert("error".to_owned(), kind.into());
    if let Value::Object(fields) = fields {
        out.extend(fields);
    }
    Value::Object(out)
}

fn cases(x: &Extra) -> Vec<Case> {
    let p = pki();
    let mut cases = Vec::new();
    let mut add = |name: &str, token: AuthToken, origin: &str, nonce: &str, now, expect| {
        cases.push(Case {
            name: name.to_owned(),
            token,
            origin: origin.to_owned(),
            nonce: nonce.to_owned(),
            now,
            roots: vec!["root"],
            intermediates: vec!["inter"],
            expect,
        });
    };
    let n1 = nonce(1);
    add(
        "RS256 accepted",
        ok_token(),
        ORIGIN,
        &n1,
        NOW,
        identity("RS256", "0A"),
    );
    for alg in [AuthAlgorithm::Rs384, AuthAlgorithm::Rs512] {
        let token = rsa_token(alg, &p.leaf, ORIGIN, &nonce(2));
        let name = format!("{} accepted", alg.as_str());
        add(
            &name,
            token,
            ORIGIN,
            &nonce(2),
            NOW,
            identity(alg.as_str(), "0A"),
        );
    }
    let es256 = es256_token(ORIGIN, &nonce(3));
    add(
        "ES256 accepted",
        es256.clone(),
        ORIGIN,
        &nonce(3),
        NOW,
        identity("ES256", "0B"),
    );
    let es384 = es384_token(ORIGIN, &nonce(5));
    add(
        "ES384 accepted",
        es384,
        ORIGIN,
        &nonce(5),
        NOW,
        identity("ES384", "0C"),
    );

    let bad_sig = error("SignatureInvalid", json!({}));
    let evil = rsa_token(AuthAlgorithm::Rs256, &p.leaf, "https://evil.example", &n1);
    add(
        "token made for another site",
        evil,
        ORIGIN,
        &n1,
        NOW,
        bad_sig.clone(),
    );
    for other in ["http://example.gov.tw", "https://example.gov.tw:8443"] {
        let name = format!("same host, other origin {other}");
        add(&name, ok_token(), other, &n1, NOW, bad_sig.clone());
    }
    add(
        "another nonce",
        ok_token(),
        ORIGIN,
        &nonce(2),
        NOW,
        bad_sig.clone(),
    );
    add(
        "ES256 for another site",
        es256.clone(),
        "https://evil.example",
        &nonce(3),
        NOW,
        bad_sig.clone(),
    );
    add(
        "ES256 for another nonce",
        es256.clone(),
        ORIGIN,
        &nonce(4),
        NOW,
        bad_sig.clone(),
    );

    add(
        "leaf expired",
        ok_token(),
        ORIGIN,
        &n1,
        Y2028,
        error("Expired", json!({"notAfter": Y2027, "now": Y2028})),
    );
    add(
        "leaf not yet valid",
        ok_token(),
        ORIGIN,
        &n1,
        Y2023,
        error("NotYetValid", json!({"notBefore": Y2024, "now": Y2023})),
    );
    add(
        "last second of validity",
        ok_token(),
        ORIGIN,
        &n1,
        Y2027,
        identity("RS256", "0A"),
    );
    add(
        "first second of validity",
        ok_token(),
        ORIGIN,
        &n1,
        Y2024,
        identity("RS256", "0A"),
    );

    let untrusted = |includes: &str| error("UntrustedChain", json!({"reasonIncludes": includes}));
    let foreign = rsa_token(AuthAlgorithm::Rs256, &p.foreign_leaf, ORIGIN, &n1);
    add(
        "issued under the intermediate's name by another key",
        foreign,
        ORIGIN,
        &n1,
        NOW,
        untrusted("does not verify"),
    );

    let mut tampered = ok_token();
    let mut sig = decode_base64(&tampered.signature).unwrap();
    sig[100] ^= 1;
    tampered.signature = encode_base64(&sig);
    add(
        "one signature bit flipped",
        tampered.clone(),
        ORIGIN,
        &n1,
        NOW,
        bad_sig.clone(),
    );
    tampered.signature = encode_base64(&sig[..255]);
    add(
        "signature cut short",
        tampered,
        ORIGIN,
        &n1,
        NOW,
        bad_sig.clone(),
    );

    let mut der = p.leaf.clone();
    let at = der
        .windows(HOLDER_ID.len())
        .position(|w| w == HOLDER_ID.as_bytes())
        .unwrap();
    der[at + HOLDER_ID.len() - 1] = b'5';
    let forged = rsa_token(AuthAlgorithm::Rs256, &der, ORIGIN, &n1);
    add(
        "holder id changed in the certificate",
        forged,
        ORIGIN,
        &n1,
        NOW,
        untrusted("does not verify"),
    );
    let mut swapped = ok_token();
    swapped.unverified_certificate = encode_base64(&p.ec_leaf);
    add(
        "RSA signature with the EC certificate",
        swapped,
        ORIGIN,
        &n1,
        NOW,
        error(
            "AlgorithmKeyMismatch",
            json!({"algorithm": "RS256", "key": "EC P-256"}),
        ),
    );

    let short = encode_base64(&[1; 16]);
    let token = rsa_token(AuthAlgorithm::Rs256, &p.leaf, ORIGIN, &short);
    add(
        "nonce of 128 bits",
        token,
        ORIGIN,
        &short,
        NOW,
        error("NonceTooShort", json!({"bits": 128})),
    );
    add(
        "nonce not base64",
        ok_token(),
        ORIGIN,
        "not base64!",
        NOW,
        error("InvalidNonce", json!({})),
    );
    add(
        "nonce over 1024 characters",
        ok_token(),
        ORIGIN,
        &"A".repeat(1028),
        NOW,
        error("InvalidNonce", json!({})),
    );

    // The protocol's base64 (protocol/src/encoding.rs), on the nonce: both alphabets, padding
    // exact or absent; nothing else.
    let url_safe = encode_base64(&[0xfb; 33])
        .replace('+', "-")
        .replace('/', "_");
    let token = rsa_token(AuthAlgorithm::Rs256, &p.leaf, ORIGIN, &url_safe);
    add(
        "nonce in URL-safe base64",
        token,
        ORIGIN,
        &url_safe,
        NOW,
        identity("RS256", "0A"),
    );
    let unpadded = encode_base64(&[7; 32]).trim_end_matches('=').to_owned();
    let token = rsa_token(AuthAlgorithm::Rs256, &p.leaf, ORIGIN, &unpadded);
    add(
        "nonce without its padding",
        token,
        ORIGIN,
        &unpadded,
        NOW,
        identity("RS256", "0A"),
    );
    let loose = encode_base64(&[7; 32]).replace("Bwc=", "Bwd=");
    for (what, nonce) in [
        ("nonce with stray trailing bits", loose),
        (
            "nonce mixing the two alphabets",
            format!("+{}", &url_safe[1..]),
        ),
        (
            "nonce with a space",
            format!("{} ", encode_base64(&[7; 33])),
        ),
        (
            "nonce half padded",
            format!("{}=", encode_base64(&[7; 34]).trim_end_matches('=')),
        ),
    ] {
        let token = rsa_token(AuthAlgorithm::Rs256, &p.leaf, ORIGIN, &nonce);
        add(
            what,
            token,
            ORIGIN,
            &nonce,
            NOW,
            error("InvalidNonce", json!({})),
        );
    }
    for alg in ["PS256", "none", "rs256", ""] {
        let mut token = ok_token();
        token.algorithm = alg.to_owned();
        add(
            &format!("algorithm {alg:?}"),
            token,
            ORIGIN,
            &n1,
            NOW,
            error("UnsupportedAlgorithm", json!({"algorithm": alg})),
        );
    }
    let mut token = ok_token();
    token.format = "web-eid:1".to_owned();
    add(
        "another token format",
        token,
        ORIGIN,
        &n1,
        NOW,
        error("BadFormat", json!({"field": "format"})),
    );
    let mut token = ok_token();
    token.signature = "%%% not base64 %%%".to_owned();
    add(
        "signature not base64",
        token,
        ORIGIN,
        &n1,
        NOW,
        error("BadFormat", json!({"field": "signature"})),
    );
    for (what, cert) in [
        ("certificate not base64", "MII*".to_owned()),
        ("certificate not DER", encode_base64(b"not a certificate")),
        (
            "certificate over 16 KiB",
            encode_base64(&vec![0x30; 20_000]),
        ),
    ] {
        let mut token = ok_token();
        token.unverified_certificate = cert;
        add(
            what,
            token,
            ORIGIN,
            &n1,
            NOW,
            error("BadFormat", json!({"field": "unverifiedCertificate"})),
        );
    }

    let message = auth_signed_message(ORIGIN, &n1);
    let sig = SigningKey::<Sha256>::new(p.inter_key.clone()).sign(&message);
    let ca_token = AuthToken::new(&p.inter, AuthAlgorithm::Rs256, &sig.to_vec(), "0.1.0");
    add(
        "a CA certificate signs a login",
        ca_token,
        ORIGIN,
        &n1,
        NOW,
        error("MissingDigitalSignature", json!({})),
    );

    let message = auth_signed_message(ORIGIN, &nonce(3));
    let raw: p256::ecdsa::Signature = p.ec_key.sign(&message);
    let mut token = es256.clone();
    token.signature = encode_base64(&raw.to_bytes());
    add(
        "ES256 signature as raw r||s",
        token,
        ORIGIN,
        &nonce(3),
        NOW,
        bad_sig.clone(),
    );
    let mut token = es256.clone();
    token.algorithm = "ES384".to_owned();
    add(
        "ES384 claimed for a P-256 key",
        token,
        ORIGIN,
        &nonce(3),
        NOW,
        error(
            "AlgorithmKeyMismatch",
            json!({"algorithm": "ES384", "key": "EC P-256"}),
        ),
    );
    let mut token = ok_token();
    token.algorithm = "ES256".to_owned();
    add(
        "ES256 claimed for an RSA key",
        token,
        ORIGIN,
        &n1,
        NOW,
        error(
            "AlgorithmKeyMismatch",
            json!({"algorithm": "ES256", "key": "RSA"}),
        ),
    );

    for bad in [
        "https://example.gov.tw/",
        "https://example.gov.tw/login",
        "example.gov.tw",
        "https://",
        "HTTPS://example.gov.tw",
        "https://user@example.gov.tw",
    ] {
        add(
            &format!("expected origin {bad:?}"),
            ok_token(),
            bad,
            &n1,
            NOW,
            error("BadOrigin", json!({})),
        );
    }

    let message = auth_signed_message(ORIGIN, &n1);
    let sig = SigningKey::<Sha256>::new(x.weak_key.clone()).sign(&message);
    let weak = AuthToken::new(&x.weak_leaf, AuthAlgorithm::Rs256, &sig.to_vec(), "0.1.0");
    add(
        "RSA key of 1024 bits",
        weak,
        ORIGIN,
        &n1,
        NOW,
        error("UnsupportedKey", json!({})),
    );

    // Trust stores other than root + intermediate.
    let mut with = |name: &str,
                    token: AuthToken,
                    roots: Vec<&'static str>,
                    intermediates: Vec<&'static str>,
                    expect: Value| {
        cases.push(Case {
            name: name.to_owned(),
            token,
            origin: ORIGIN.to_owned(),
            nonce: n1.clone(),
            now: NOW,
            roots,
            intermediates,
            expect,
        });
    };
    with(
        "only an expired intermediate",
        ok_token(),
        vec!["root"],
        vec!["inter-expired"],
        untrusted("expired"),
    );
    with(
        "an expired and a valid intermediate",
        ok_token(),
        vec!["root"],
        vec!["inter-expired", "inter"],
        identity("RS256", "0A"),
    );
    with(
        "only a foreign root",
        ok_token(),
        vec!["foreign-root"],
        vec![],
        untrusted("no configured root or intermediate"),
    );
    with(
        "nothing trusted",
        ok_token(),
        vec![],
        vec![],
        untrusted("no configured root or intermediate"),
    );
    with(
        "the intermediate missing",
        ok_token(),
        vec!["root"],
        vec![],
        untrusted("no configured root or intermediate"),
    );
    let levels = vec!["level-1", "level-2", "level-3", "level-4", "level-5"];
    let deep = |leaf: &[u8]| rsa_token(AuthAlgorithm::Rs256, leaf, ORIGIN, &nonce(1));
    with(
        "four intermediates (five links)",
        deep(&x.deep_leaf_4),
        vec!["deep-anchor"],
        levels[..4].to_vec(),
        deep_identity(),
    );
    with(
        "five intermediates (six links)",
        deep(&x.deep_leaf_5),
        vec!["deep-anchor"],
        levels.clone(),
        untrusted("issuer links"),
    );
    let leaf_token = |leaf: &[u8]| rsa_token(AuthAlgorithm::Rs256, leaf, ORIGIN, &nonce(1));
    with(
        "issued by a certificate that is no CA",
        leaf_token(&x.under_not_a_ca),
        vec!["root"],
        vec!["not-a-ca"],
        untrusted("not a CA certificate"),
    );
    with(
        "one intermediate below a path length of 0",
        leaf_token(&x.under_below_path_0),
        vec!["root"],
        vec!["path-length-0", "below-path-length-0"],
        untrusted("path length constraint (0)"),
    );
    with(
        "an intermediate with an unknown critical extension",
        leaf_token(&x.under_critical_inter),
        vec!["root"],
        vec!["critical-extension-ca"],
        untrusted("unsupported critical extension 2.5.29.54"),
    );
    with(
        "a leaf with an unknown critical extension",
        leaf_token(&x.critical_leaf),
        vec!["root"],
        vec!["inter"],
        error("UnsupportedCriticalExtension", json!({"oid": "2.5.29.54"})),
    );
    cases
}

/// What the Rust verifier says, in the vectors' words.
fn outcome(result: Result<VerifiedIdentity, VerifyError>) -> Value {
    match result {
        Ok(id) => json!({"ok": {
            "subject": id.subject,
            "commonName": id.common_name,
            "serialNumber": id.serial_number,
            "issuer": id.issuer,
            "cardFamily": id.card_family.as_str(),
            "certificateSerial": id.certificate_serial,
            "notAfter": id.not_after,
            "algorithm": id.algorithm.as_str(),
        }}),
        Err(e) => match e {
            VerifyError::BadFormat { field, reason } => {
                error("BadFormat", json!({"field": field, "reason": reason}))
            }
            VerifyError::UnsupportedAlgorithm { algorithm } => {
                error("UnsupportedAlgorithm", json!({"algorithm": algorithm}))
            }
            VerifyError::AlgorithmKeyMismatch { algorithm, key } => error(
                "AlgorithmKeyMismatch",
                json!({"algorithm": algorithm, "key": key}),
            ),
            VerifyError::UnsupportedKey { reason } => {
                error("UnsupportedKey", json!({"reason": reason}))
            }
            VerifyError::NonceTooShort { bits } => error("NonceTooShort", json!({"bits": bits})),
            VerifyError::InvalidNonce(e) => error("InvalidNonce", json!({"reason": e.to_string()})),
            VerifyError::BadOrigin { reason } => error("BadOrigin", json!({"reason": reason})),
            VerifyError::Expired { not_after, now } => {
                error("Expired", json!({"notAfter": not_after, "now": now}))
            }
            VerifyError::NotYetValid { not_before, now } => {
                error("NotYetValid", json!({"notBefore": not_before, "now": now}))
            }
            VerifyError::MissingDigitalSignature => error("MissingDigitalSignature", json!({})),
            VerifyError::UnsupportedCriticalExtension { oid } => {
                error("UnsupportedCriticalExtension", json!({"oid": oid}))
            }
            VerifyError::UntrustedChain { reason } => {
                error("UntrustedChain", json!({"reason": reason}))
            }
            VerifyError::SignatureInvalid => error("SignatureInvalid", json!({})),
            other => panic!("a verifier error the vectors do not know: {other:?}"),
        },
    }
}

/// Whether `actual` meets `expected`: the same kind and every field the vector names
/// (`reasonIncludes`: a substring of `reason`).
fn meets(actual: &Value, expected: &Value) -> bool {
    if let Some(ok) = expected.get("ok") {
        return actual.get("ok") == Some(ok);
    }
    if actual.get("error") != expected.get("error") {
        return false;
    }
    expected
        .as_object()
        .into_iter()
        .flatten()
        .all(|(key, value)| match key.as_str() {
            "reasonIncludes" => actual["reason"]
                .as_str()
                .zip(value.as_str())
                .is_some_and(|(reason, part)| reason.contains(part)),
            _ => actual.get(key) == Some(value),
        })
}

fn run(vector: &Value, certs: &Map<String, Value>) -> Value {
    let der = |names: &Value| -> Vec<Vec<u8>> {
        names
            .as_array()
            .unwrap()
            .iter()
            .map(|n| decode_base64(certs[n.as_str().unwrap()].as_str().unwrap()).unwrap())
            .collect()
    };
    let trust = TrustStore::from_der(der(&vector["roots"]), der(&vector["intermediates"])).unwrap();
    let token: AuthToken = serde_json::from_value(vector["token"].clone()).unwrap();
    let result = check(
        &token,
        vector["origin"].as_str().unwrap(),
        vector["nonce"].as_str().unwrap(),
        &trust,
        vector["now"].as_i64().unwrap(),
    );
    if let Ok(id) = &result {
        assert_eq!(
            encode_base64(&id.certificate_der),
            token.unverified_certificate
        );
    }
    outcome(result)
}

fn generate() -> Value {
    let x = extra();
    let certs: Map<String, Value> = certificates(&x)
        .into_iter()
        .map(|(name, der)| (name, encode_base64(&der).into()))
        .collect();
    let vectors: Vec<Value> = cases(&x)
        .into_iter()
        .map(|c| {
            json!({
                "name": c.name,
                "origin": c.origin,
                "nonce": c.nonce,
                "now": c.now,
                "roots": c.roots,
                "intermediates": c.intermediates,
                "token": c.token,
                "expect": c.expect,
            })
        })
        .collect();
    json!({
        "about": "Authentication tokens and the outcome every card-agent verifier must reach. \
                  Generated once by protocol/tests/verifier/vectors.rs (Rust) and read by the Rust \
                  and the Node.js verifiers' tests. `now` is the time to verify at (Unix seconds); \
                  `roots` and `intermediates` name entries of `certificates` (base64 DER); \
                  `expect` is {\"ok\": identity} or {\"error\": kind, ...fields}, where \
                  `reasonIncludes` is a part of the error's reason.",
        "certificates": certs,
        "vectors": vectors,
    })
}

#[test]
fn shared_token_vectors_hold_for_the_rust_verifier() {
    if std::env::var_os("CARD_AGENT_UPDATE_VECTORS").is_some() {
        let generated = generate();
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::create_dir_all(std::path::Path::new(FILE).parent().unwrap()).unwrap();
        std::fs::write(FILE, text).unwrap();
    }
    let text = std::fs::read_to_string(FILE)
        .expect("tests/vectors/auth-tokens.json (CARD_AGENT_UPDATE_VECTORS=1 writes it)");
    let file: Value = serde_json::from_str(&text).unwrap();
    let certs = file["certificates"].as_object().unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 40, "only {} vectors", vectors.len());
    let mut failed = Vec::new();
    for vector in vectors {
        let actual = run(vector, certs);
        if !meets(&actual, &vector["expect"]) {
            failed.push(format!(
                "{}: got {actual}, expected {}",
                vector["name"], vector["expect"]
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
