//! Every protocol command through the real native host and daemon, on the demo token and on a
//! SoftHSM2 token: framed JSON in, framed JSON out, every signature checked by openssl and every
//! authentication token by the relying-party verifier.
//!
//! Each test has its own sandbox (runtime, state and config directories), so its daemon is
//! private; dropping the sandbox checks that no log holds a PIN.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use card_agent_protocol::auth::AuthToken;
use card_agent_protocol::verifier::{verify, TrustStore, VerifyError, VerifyOptions};
use card_agent_testbed::daemon::{Host, Sandbox};
use card_agent_testbed::softhsm::{Options, SoftHsm, USER_PIN};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};
use support::*;

/// PINs that are well-formed but wrong.
const WRONG_PINS: [&str; 3] = ["975310", "864209", "753197"];
/// A PIN that cannot be right (not all digits).
const MALFORMED_PIN: &str = "98a765";

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A 256-bit challenge, base64, different for each label.
fn nonce(label: &str) -> String {
    b64(&Sha256::digest(label.as_bytes()))
}

fn demo_sandbox() -> Sandbox {
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG);
    sandbox
}

/// The demo token as the daemon lists it: the signing certificate (CKA_ID "SIGN") and the CA
/// certificates it carries.
fn demo_card(host: &mut Host) -> Card {
    let reply = host.call("get-certificates", json!({}));
    let certs = result(&reply)["certificates"]
        .as_array()
        .expect("certificates")
        .clone();
    let sign = certs
        .iter()
        .find(|c| c["pkcs11Id"] == hex::encode("SIGN"))
        .expect("demo signing certificate");
    let cas: Vec<&Value> = certs
        .iter()
        .filter(|c| c["hasPrivateKey"] == false)
        .collect();
    let root = cas
        .iter()
        .find(|c| c["subject"] == c["issuer"])
        .expect("demo root");
    let issuer = cas
        .iter()
        .find(|c| c["subject"] != c["issuer"])
        .expect("demo issuing CA");
    Card {
        serial: sign["tokenSerial"].as_str().expect("serial").to_owned(),
        pin: card_agent::demo::DEMO_PIN.to_owned(),
        sign_cert: unb64(&sign["derBase64"]),
        root: unb64(&root["derBase64"]),
        issuer: unb64(&issuer["derBase64"]),
        holder: sign["subjectCn"].as_str().expect("CN").to_owned(),
    }
}

fn softhsm_card(host: &mut Host, hsm: &SoftHsm) -> Card {
    let reply = host.call("get-certificates", json!({}));
    let thumbprint = sha256_hex(&hsm.sign_cert);
    let sign = result(&reply)["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .find(|c| c["sha256"] == thumbprint.as_str())
        .unwrap_or_else(|| panic!("the token's signing certificate is listed: {reply}"))
        .clone();
    Card {
        serial: sign["tokenSerial"].as_str().expect("serial").to_owned(),
        pin: USER_PIN.to_owned(),
        sign_cert: hsm.sign_cert.clone(),
        root: hsm.pki.root_der().to_vec(),
        issuer: hsm.pki.issuer_der().to_vec(),
        holder: sign["subjectCn"].as_str().expect("CN").to_owned(),
    }
}

/// Runs every command once (and each signature format with data and with a hash) and checks
/// each answer.
fn every_command(host: &mut Host, card: &Card) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();

    let version = result(&host.call("version", json!({}))).clone();
    assert_eq!(version["protocol"], 1, "{version}");
    assert_eq!(version["name"], "card-agent");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));

    let status = result(&host.call("status", json!({}))).clone();
    let token = status["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["serial"] == card.serial.as_str())
        .unwrap_or_else(|| panic!("status lists the token: {status}"));
    assert!(
        token["certificates"]
            .as_array()
            .expect("certificates")
            .iter()
            .any(|c| c["sha256"] == card.thumbprint().as_str()),
        "{token}"
    );
    assert!(
        status["modules"]
            .as_array()
            .expect("modules")
            .iter()
            .any(|m| m["loaded"] == true),
        "{status}"
    );

    let certificates = result(&host.call("get-certificates", json!({}))).clone();
    let sign = certificates["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .find(|c| c["sha256"] == card.thumbprint().as_str())
        .expect("signing certificate");
    assert_eq!(sign["tokenSerial"], card.serial.as_str());
    assert_eq!(sign["hasPrivateKey"], true);
    assert_eq!(sign["cardFamily"], "MOICA");
    assert_eq!(unb64(&sign["derBase64"]), card.sign_cert);

    let verified = host.call_typing("verify-pin", json!({"token": card.serial}), &card.pin);
    assert_eq!(result(&verified)["verified"], true);
    let reply = host.call_typing(
        "verify-pin",
        json!({"token": "NOSUCHTOKEN00001"}),
        &card.pin,
    );
    assert_eq!(error_code(&reply), "NO_TOKEN", "{reply}");

    sign_every_way(host, card, dir);

    // A certificate the card does not hold: refused, never another one's signature.
    let reply = host.call_typing(
        "sign",
        json!({"certificate": "ab".repeat(32), "data": b64(b"x"), "hashAlgorithm": "SHA-256",
               "format": "pkcs1"}),
        &card.pin,
    );
    assert_eq!(error_code(&reply), "CERT_NOT_FOUND", "{reply}");

    authenticate(host, card);

    let reply = host.call("subscribe", json!({}));
    assert_eq!(result(&reply)["subscribed"], true);
    let reply = host.call("unsubscribe", json!({}));
    assert_eq!(result(&reply)["subscribed"], false);
    // Commands without arguments also work with `arguments` left out.
    let id = host.next_id();
    host.send(&json!({"id": id, "command": "version", "origin": SITE}));
    let reply = host.recv();
    assert_eq!(reply["id"], id);
    assert_eq!(result(&reply)["protocol"], 1);
}

fn sign_every_way(host: &mut Host, card: &Card, dir: &std::path::Path) {
    let data = "申請書：王小明 TEST\nform data to sign\n".as_bytes();
    let chain = card.chain_pem(dir);
    let mut sign = |input: Value, hash: &str, format: &str| -> Vec<u8> {
        let mut args = json!({"certificate": card.thumbprint(), "hashAlgorithm": hash,
                              "format": format});
        for (k, v) in input.as_object().expect("input") {
            args[k] = v.clone();
        }
        let reply = host.call_typing("sign", args, &card.pin);
        let r = result(&reply).clone();
        assert_eq!(r["format"], format, "{r}");
        assert_eq!(unb64(&r["certificate"]), card.sign_cert);
        unb64(&r["signature"])
    };
    for (hash, openssl_hash) in [
        ("SHA-1", "sha1"),
        ("SHA-256", "sha256"),
        ("SHA-384", "sha384"),
        ("SHA-512", "sha512"),
    ] {
        let signature = sign(json!({"data": b64(data)}), hash, "pkcs1");
        verify_pkcs1(dir, &card.sign_cert, data, &signature, openssl_hash);
    }
    let digests = [
        ("SHA-256", Sha256::digest(data).to_vec(), "sha256"),
        ("SHA-384", Sha384::digest(data).to_vec(), "sha384"),
        ("SHA-512", Sha512::digest(data).to_vec(), "sha512"),
    ];
    for (hash, digest, openssl_hash) in &digests {
        let signature = sign(json!({"hash": b64(digest)}), hash, "pkcs1");
        verify_pkcs1(dir, &card.sign_cert, data, &signature, openssl_hash);
        let cms = sign(json!({"hash": b64(digest)}), hash, "cms");
        verify_cms_detached(dir, &chain, data, &cms);
    }
    let cms = sign(
        json!({"data": b64(data), "nonce": b64(b"caller nonce 42")}),
        "SHA-256",
        "cms",
    );
    verify_cms_detached(dir, &chain, data, &cms);
    let attached = sign(json!({"data": b64(data)}), "SHA-256", "cms-attached");
    assert_eq!(verify_cms_attached(dir, &chain, &attached), data);

    // An attached signature needs the content, not its hash.
    let reply = host.call_typing(
        "sign",
        json!({"certificate": card.thumbprint(), "hash": b64(&digests[0].1),
               "hashAlgorithm": "SHA-256", "format": "cms-attached"}),
        &card.pin,
    );
    assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
}

fn authenticate(host: &mut Host, card: &Card) {
    let trust = TrustStore::from_der([&card.root], [&card.issuer]).expect("trust store");
    let challenge = nonce("authenticate");
    for certificate in [None, Some(card.thumbprint())] {
        let mut args = json!({"challengeNonce": challenge});
        if let Some(c) = &certificate {
            args["certificate"] = c.clone().into();
        }
        let reply = host.call_typing("authenticate", args, &card.pin);
        let token: AuthToken =
            serde_json::from_value(result(&reply).clone()).expect("an authentication token");
        assert_eq!(token.format, "card-agent-auth:1");
        assert_eq!(token.algorithm, "RS256");
        let options = VerifyOptions {
            expected_origin: SITE,
            nonce: &challenge,
            trust: &trust,
            now_unix: now_unix(),
        };
        let identity = verify(&token, &options).expect("the token verifies");
        assert_eq!(identity.common_name.as_deref(), Some(card.holder.as_str()));
        assert_eq!(identity.certificate_der, card.sign_cert);
        // Bound to the origin and the challenge: useless anywhere else.
        let other_site = VerifyOptions {
            expected_origin: "https://evil.example.com",
            ..options
        };
        assert_eq!(
            verify(&token, &other_site),
            Err(VerifyError::SignatureInvalid)
        );
        let other_nonce = nonce("another challenge");
        let replayed = VerifyOptions {
            nonce: &other_nonce,
            ..options
        };
        assert_eq!(
            verify(&token, &replayed),
            Err(VerifyError::SignatureInvalid)
        );
    }
    // Under 256 bits of challenge: refused before the card is asked.
    let short = b64(&[7u8; 31]);
    let reply = host.call_typing("authenticate", json!({"challengeNonce": short}), &card.pin);
    assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
    assert_eq!(
        reply["error"]["field"], "arguments.challengeNonce",
        "{reply}"
    );
}

#[test]
fn every_command_on_the_demo_token() {
    let sandbox = demo_sandbox();
    let _daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    let card = demo_card(&mut host);
    assert_eq!(card.serial, "DEMO000000000001");
    every_command(&mut host, &card);
    assert!(host.wait().success());
}

#[test]
fn every_command_on_a_softhsm_token() {
    let hsm = SoftHsm::new(Options::default());
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG).softhsm(&hsm);
    let _daemon = sandbox.serve(&[]);
    let mut host = sandbox.host();
    let card = softhsm_card(&mut host, &hsm);
    every_command(&mut host, &card);
    assert!(host.wait().success());
}

#[test]
fn demo_wrong_pins_count_down_then_lock() {
    let sandbox = demo_sandbox();
    let _daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    let card = demo_card(&mut host);

    // A malformed PIN never reaches the card and costs no try.
    let reply = host.call_typing("verify-pin", json!({}), MALFORMED_PIN);
    assert_eq!(error_code(&reply), "PIN_FORMAT", "{reply}");
    assert!(reply["error"].get("retriesLeft").is_none(), "{reply}");

    let reply = host.call_typing("verify-pin", json!({}), WRONG_PINS[0]);
    assert_eq!(error_code(&reply), "PIN_INCORRECT", "{reply}");
    assert_eq!(reply["error"]["retriesLeft"], 2, "{reply}");
    // A wrong PIN on a signature counts the same.
    let reply = host.call_typing(
        "sign",
        json!({"certificate": card.thumbprint(), "data": b64(b"x"), "hashAlgorithm": "SHA-256",
               "format": "cms"}),
        WRONG_PINS[1],
    );
    assert_eq!(error_code(&reply), "PIN_INCORRECT", "{reply}");
    assert_eq!(reply["error"]["retriesLeft"], 1, "{reply}");
    let reply = host.call_typing(
        "authenticate",
        json!({"challengeNonce": nonce("locked")}),
        WRONG_PINS[2],
    );
    assert_eq!(error_code(&reply), "PIN_LOCKED", "{reply}");
    assert_eq!(reply["error"]["retriesLeft"], 0, "{reply}");
    // Locked: even the right PIN is refused now.
    let reply = host.call_typing("verify-pin", json!({}), &card.pin);
    assert_eq!(error_code(&reply), "PIN_LOCKED", "{reply}");
    let status = host.call("status", json!({}));
    assert_eq!(
        result(&status)["tokens"][0]["pinStatus"],
        "locked",
        "{status}"
    );
}

#[test]
fn softhsm_wrong_and_malformed_pins() {
    let hsm = SoftHsm::new(Options::default());
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG).softhsm(&hsm);
    let _daemon = sandbox.serve(&[]);
    let mut host = sandbox.host();
    let card = softhsm_card(&mut host, &hsm);

    for bad in [MALFORMED_PIN, "12 3456", "１２３４５６"] {
        let reply = host.call_typing("verify-pin", json!({}), bad);
        assert_eq!(error_code(&reply), "PIN_FORMAT", "{bad:?}: {reply}");
        let reply = host.call_typing(
            "sign",
            json!({"certificate": card.thumbprint(), "data": b64(b"x"),
                   "hashAlgorithm": "SHA-256", "format": "pkcs1"}),
            bad,
        );
        assert_eq!(error_code(&reply), "PIN_FORMAT", "{bad:?}: {reply}");
    }
    // SoftHSM sets "user PIN count low" after any failed login: its absence proves none.
    assert!(
        !hsm.token_flags().contains("count low"),
        "{}",
        hsm.token_flags()
    );

    let reply = host.call_typing("verify-pin", json!({}), WRONG_PINS[0]);
    assert_eq!(error_code(&reply), "PIN_INCORRECT", "{reply}");
    assert!(
        hsm.token_flags().contains("count low"),
        "{}",
        hsm.token_flags()
    );
    // The right PIN still works (SoftHSM never locks).
    let reply = host.call_typing("verify-pin", json!({}), &card.pin);
    assert_eq!(result(&reply)["verified"], true);
}

#[test]
fn large_messages_pass_and_a_response_too_large_for_the_browser_is_an_error() {
    let sandbox = demo_sandbox();
    let _daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    let card = demo_card(&mut host);
    // 760,000 bytes: the request (base64, about 1,013,000 bytes) fits in a frame; the attached
    // signature carrying it does not fit in the 1 MB Chrome accepts from a host.
    let data: Vec<u8> = (0..760_000u32).map(|i| (i % 251) as u8).collect();
    let args = |format: &str| {
        json!({"certificate": card.thumbprint(), "data": b64(&data), "hashAlgorithm": "SHA-256",
               "format": format})
    };
    let reply = host.call_typing("sign", args("cms"), &card.pin);
    let dir = tempfile::tempdir().expect("tempdir");
    verify_cms_detached(
        dir.path(),
        &card.chain_pem(dir.path()),
        &data,
        &unb64(&result(&reply)["signature"]),
    );
    let reply = host.call_typing("sign", args("cms-attached"), &card.pin);
    assert_eq!(error_code(&reply), "INTERNAL", "{}", reply["error"]);
    // The host is still in step.
    assert_eq!(result(&host.call("version", json!({})))["protocol"], 1);
}

#[test]
fn an_ec_key_signs_and_authenticates() {
    let hsm = SoftHsm::new(Options {
        with_ec: true,
        ..Options::default()
    });
    let ec_cert = hsm.ec_cert.clone().expect("EC certificate");
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG).softhsm(&hsm);
    let _daemon = sandbox.serve(&[]);
    let mut host = sandbox.host();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = b"ecdsa through the native host";

    let reply = host.call_typing(
        "sign",
        json!({"certificate": sha256_hex(&ec_cert), "data": b64(data),
               "hashAlgorithm": "SHA-256", "format": "pkcs1"}),
        USER_PIN,
    );
    let signature = unb64(&result(&reply)["signature"]);
    verify_pkcs1(dir.path(), &ec_cert, data, &signature, "sha256");

    let challenge = nonce("ec");
    let reply = host.call_typing(
        "authenticate",
        json!({"challengeNonce": challenge, "certificate": sha256_hex(&ec_cert)}),
        USER_PIN,
    );
    let token: AuthToken = serde_json::from_value(result(&reply).clone()).expect("token");
    assert_eq!(token.algorithm, "ES256");
    let trust =
        TrustStore::from_der([hsm.pki.root_der()], [hsm.pki.issuer_der()]).expect("trust store");
    let identity = verify(
        &token,
        &VerifyOptions {
            expected_origin: SITE,
            nonce: &challenge,
            trust: &trust,
            now_unix: now_unix(),
        },
    )
    .expect("the ES256 token verifies");
    assert_eq!(identity.certificate_der, ec_cert);

    // Two signing certificates and none named: the agent does not guess, and says how to
    // choose in the protocol's terms.
    let reply = host.call_typing(
        "authenticate",
        json!({"challengeNonce": challenge}),
        USER_PIN,
    );
    assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
    let message = reply["error"]["message"].as_str().expect("message");
    assert!(message.contains("certificate"), "{message}");
    assert!(
        !message.contains("--cert"),
        "a CLI flag means nothing to a page: {message}"
    );
}
