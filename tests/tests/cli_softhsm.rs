//! The real `card-agent` binary against SoftHSM2 tokens, every signature checked by openssl.

use card_agent::certificate::CardFamily;
use card_agent_testbed::agent::{
    agent_bin, openssl_verify_cms, openssl_verify_pkcs1, path, public_key_pem, run, Run,
};
use card_agent_testbed::softhsm::{Options, SoftHsm, SOFTHSM_MODULE, USER_PIN};
use sha2::{Digest, Sha256};
use std::process::Command;

fn agent(hsm: &SoftHsm, args: &[&str]) -> Command {
    let mut c = hsm.command(agent_bin());
    c.args(["--pkcs11-module", SOFTHSM_MODULE]).args(args);
    c
}

fn sign(
    hsm: &SoftHsm,
    input: &str,
    out: &str,
    format: &str,
    hash: &str,
    extra: &[&str],
    pin: &str,
) -> Run {
    let mut args = vec![
        "sign",
        "--in",
        input,
        "--out",
        out,
        "--format",
        format,
        "--hash",
        hash,
        "--pin-stdin",
    ];
    args.extend_from_slice(extra);
    run(agent(hsm, &args), format!("{pin}\n").as_bytes())
}

fn sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

#[test]
fn list_shows_token_certificates_and_taiwan_fields() {
    let hsm = SoftHsm::new(Options::default());
    let r = run(agent(&hsm, &["list", "--json"]), b"");
    assert_eq!(r.code, 0, "{r:?}");
    let inv = r.json();
    let token = &inv["tokens"][0];
    assert_eq!(token["label"], "MOICA TEST");
    assert_eq!(token["pinStatus"], "ok");
    assert_eq!(token["demo"], false);
    let certs = token["certificates"].as_array().expect("certificates");
    assert_eq!(certs.len(), 2);
    let sign = certs
        .iter()
        .find(|c| c["pkcs11Id"] == "5349474e")
        .expect("SIGN certificate");
    assert_eq!(sign["cardFamily"], "MOICA");
    assert_eq!(sign["idLast4"], "5678");
    assert_eq!(sign["subjectCn"], "王小明 TEST");
    assert_eq!(sign["hasPrivateKey"], true);
    assert_eq!(sign["sha256"], sha256_hex(&hsm.sign_cert));
    assert!(sign["keyUsage"]
        .as_array()
        .expect("usage")
        .contains(&"nonRepudiation".into()));
    assert!(sign["daysToExpiry"].as_i64().expect("days") > 3000);
    let keyx = certs
        .iter()
        .find(|c| c["pkcs11Id"] == "4b455958")
        .expect("KEYX certificate");
    assert!(keyx["keyUsage"]
        .as_array()
        .expect("usage")
        .contains(&"keyEncipherment".into()));
    assert_eq!(inv["modules"][0]["loaded"], true);

    let human = run(agent(&hsm, &["list"]), b"");
    assert_eq!(human.code, 0, "{human:?}");
    assert!(
        human.stdout.contains("MOICA TEST") && human.stdout.contains("national ID ends 5678"),
        "{}",
        human.stdout
    );
}

#[test]
fn business_card_shows_business_number() {
    let hsm = SoftHsm::new(Options {
        label: "MOEACA TEST".into(),
        family: CardFamily::Moeaca,
        ..Options::default()
    });
    let inv = run(agent(&hsm, &["list", "--json"]), b"").json();
    let cert = &inv["tokens"][0]["certificates"][0];
    assert_eq!(cert["cardFamily"], "MOEACA");
    assert_eq!(cert["businessNumber"], "12345675");
}

#[test]
fn every_format_and_hash_verifies_with_openssl() {
    let hsm = SoftHsm::new(Options::default());
    let dir = hsm.dir();
    let data = dir.join("form.txt");
    std::fs::write(&data, "申請書：王小明 TEST\nform data to sign\n").expect("write data");
    let chain = hsm.write_chain_pem();
    let pubkey = public_key_pem(dir, &hsm.sign_cert, "sign");
    let cert = sha256_hex(&hsm.sign_cert);
    for hash in ["sha1", "sha256", "sha384", "sha512"] {
        let sig = dir.join(format!("{hash}.p1"));
        let r = sign(
            &hsm,
            path(&data),
            path(&sig),
            "pkcs1",
            hash,
            &["--cert", &cert],
            USER_PIN,
        );
        assert_eq!(r.code, 0, "{r:?}");
        let (ok, text) =
            openssl_verify_pkcs1(&format!("-{hash}"), path(&pubkey), path(&sig), path(&data));
        assert!(ok, "pkcs1 {hash}: {text}");

        let cms = dir.join(format!("{hash}.p7s"));
        let r = sign(
            &hsm,
            path(&data),
            path(&cms),
            "cms",
            hash,
            &["--cert", &cert, "--nonce", "0011223344556677"],
            USER_PIN,
        );
        assert_eq!(r.code, 0, "{r:?}");
        let (ok, text) =
            openssl_verify_cms(path(&cms), Some(path(&data)), path(&chain), "/dev/null");
        assert!(ok, "cms {hash}: {text}");

        let attached = dir.join(format!("{hash}.att.p7s"));
        let out = dir.join(format!("{hash}.out"));
        let r = sign(
            &hsm,
            path(&data),
            path(&attached),
            "cms-attached",
            hash,
            &["--cert", &cert],
            USER_PIN,
        );
        assert_eq!(r.code, 0, "{r:?}");
        let (ok, text) = openssl_verify_cms(path(&attached), None, path(&chain), path(&out));
        assert!(ok, "cms-attached {hash}: {text}");
        assert_eq!(
            std::fs::read(&out).expect("content"),
            std::fs::read(&data).expect("data")
        );
    }
}

#[test]
fn precomputed_hash_gives_a_verifiable_signature() {
    let hsm = SoftHsm::new(Options::default());
    let dir = hsm.dir();
    let data = dir.join("data.bin");
    std::fs::write(&data, b"precomputed hash input").expect("write");
    let hash_file = dir.join("data.sha256");
    std::fs::write(&hash_file, Sha256::digest(b"precomputed hash input")).expect("write");
    let pubkey = public_key_pem(dir, &hsm.sign_cert, "sign");
    let sig = dir.join("sig");
    let r = sign(
        &hsm,
        path(&hash_file),
        path(&sig),
        "pkcs1",
        "sha256",
        &["--prehashed", "--cert", &sha256_hex(&hsm.sign_cert)],
        USER_PIN,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let (ok, text) = openssl_verify_pkcs1("-sha256", path(&pubkey), path(&sig), path(&data));
    assert!(ok, "{text}");
    let chain = hsm.write_chain_pem();
    let cms = dir.join("sig.p7s");
    let r = sign(
        &hsm,
        path(&hash_file),
        path(&cms),
        "cms",
        "sha256",
        &["--prehashed", "--cert", &sha256_hex(&hsm.sign_cert)],
        USER_PIN,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let (ok, text) = openssl_verify_cms(path(&cms), Some(path(&data)), path(&chain), "/dev/null");
    assert!(ok, "{text}");
    // A hash of the wrong length is refused before the card is asked.
    let r = sign(
        &hsm,
        path(&data),
        path(&sig),
        "pkcs1",
        "sha256",
        &["--prehashed", "--cert", &sha256_hex(&hsm.sign_cert)],
        USER_PIN,
    );
    assert_eq!(r.code, 9, "{r:?}");
    assert!(r.stderr.contains("BAD_REQUEST"), "{}", r.stderr);
}

#[test]
fn ec_key_signs_ecdsa_verified_by_openssl() {
    let hsm = SoftHsm::new(Options {
        with_ec: true,
        ..Options::default()
    });
    let dir = hsm.dir();
    let ec_cert = hsm.ec_cert.clone().expect("EC certificate");
    let data = dir.join("data.txt");
    std::fs::write(&data, "ecdsa").expect("write");
    let pubkey = public_key_pem(dir, &ec_cert, "ec");
    let sig = dir.join("ec.sig");
    let r = sign(
        &hsm,
        path(&data),
        path(&sig),
        "pkcs1",
        "sha256",
        &["--cert", &sha256_hex(&ec_cert)],
        USER_PIN,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let (ok, text) = openssl_verify_pkcs1("-sha256", path(&pubkey), path(&sig), path(&data));
    assert!(ok, "{text}");
    let chain = hsm.write_chain_pem();
    let cms = dir.join("ec.p7s");
    let r = sign(
        &hsm,
        path(&data),
        path(&cms),
        "cms",
        "sha256",
        &["--cert", &sha256_hex(&ec_cert)],
        USER_PIN,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let (ok, text) = openssl_verify_cms(path(&cms), Some(path(&data)), path(&chain), "/dev/null");
    assert!(ok, "{text}");
    // Two signing certificates: without --cert the agent refuses to guess.
    let r = sign(
        &hsm,
        path(&data),
        path(&sig),
        "pkcs1",
        "sha256",
        &[],
        USER_PIN,
    );
    assert_eq!(r.code, 9, "{r:?}");
    assert!(r.stderr.contains("--cert"), "{}", r.stderr);
}

#[test]
fn malformed_pin_never_reaches_the_token() {
    let hsm = SoftHsm::new(Options::default());
    assert!(
        !hsm.token_flags().contains("count low"),
        "{}",
        hsm.token_flags()
    );
    // SoftHSM reports PIN lengths 4 to 255 (the agent caps input at 64); a real card 6 to 8.
    let too_long = "1".repeat(65);
    for bad in [
        "123",
        too_long.as_str(),
        "12a456",
        "",
        "１２３４５６",
        "12 3456",
    ] {
        let r = run(
            agent(&hsm, &["verify-pin", "--pin-stdin"]),
            format!("{bad}\n").as_bytes(),
        );
        assert_eq!(r.code, 5, "{bad:?}: {r:?}");
        assert!(r.stderr.contains("PIN_FORMAT"), "{}", r.stderr);
        assert!(
            !r.stderr.contains(bad) || bad.is_empty(),
            "the PIN must not be echoed: {}",
            r.stderr
        );
    }
    // SoftHSM sets "user PIN count low" after any failed C_Login: its absence proves no login.
    assert!(
        !hsm.token_flags().contains("count low"),
        "{}",
        hsm.token_flags()
    );
    let data = hsm.dir().join("d");
    std::fs::write(&data, "x").expect("write");
    let r = sign(
        &hsm,
        path(&data),
        path(&hsm.dir().join("s")),
        "cms",
        "sha256",
        &["--cert", &sha256_hex(&hsm.sign_cert)],
        "12",
    );
    assert_eq!(r.code, 5, "{r:?}");
    assert!(
        !hsm.token_flags().contains("count low"),
        "{}",
        hsm.token_flags()
    );
}

#[test]
fn wrong_pin_is_reported_once_and_never_retried() {
    let hsm = SoftHsm::new(Options::default());
    let r = run(agent(&hsm, &["verify-pin", "--pin-stdin"]), b"999999\n");
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("PIN_INCORRECT"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "one clear line: {}", r.stderr);
    assert!(!r.stderr.contains("999999"));
    assert!(
        hsm.token_flags().contains("count low"),
        "{}",
        hsm.token_flags()
    );
    let ok = run(
        agent(&hsm, &["verify-pin", "--pin-stdin"]),
        format!("{USER_PIN}\n").as_bytes(),
    );
    assert_eq!(ok.code, 0, "{ok:?}");
    let zh = run(
        agent(&hsm, &["--lang", "zh-TW", "verify-pin", "--pin-stdin"]),
        b"999999\n",
    );
    assert!(zh.stderr.contains("PIN 碼錯誤"), "{}", zh.stderr);
}

#[test]
fn bad_inputs_get_clear_errors() {
    let hsm = SoftHsm::new(Options::default());
    let dir = hsm.dir();
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").expect("write");
    let out = dir.join("out");
    let cert = sha256_hex(&hsm.sign_cert);
    let r = sign(
        &hsm,
        path(&empty),
        path(&out),
        "cms",
        "sha256",
        &["--cert", &cert],
        USER_PIN,
    );
    assert_eq!(r.code, 9, "{r:?}");
    assert!(r.stderr.contains("BAD_REQUEST"), "{}", r.stderr);

    let data = dir.join("data");
    std::fs::write(&data, b"x").expect("write");
    let r = sign(
        &hsm,
        path(&data),
        path(&out),
        "cms",
        "sha256",
        &["--cert", &"00".repeat(32)],
        USER_PIN,
    );
    assert_eq!(r.code, 8, "{r:?}");
    assert!(r.stderr.contains("CERT_NOT_FOUND"), "{}", r.stderr);

    let r = sign(
        &hsm,
        path(&dir.join("absent")),
        path(&out),
        "cms",
        "sha256",
        &[],
        USER_PIN,
    );
    assert_eq!(r.code, 9, "{r:?}");
    assert!(
        r.stderr.contains("IO_ERROR") && r.stderr.contains("absent"),
        "{}",
        r.stderr
    );

    let mut c = hsm.command(agent_bin());
    c.args([
        "--pkcs11-module",
        "/nonexistent/libnothing.so",
        "verify-pin",
        "--pin-stdin",
    ]);
    let r = run(c, format!("{USER_PIN}\n").as_bytes());
    assert_eq!(r.code, 7, "{r:?}");
    assert!(
        r.stderr.contains("NO_MODULE") && r.stderr.contains("/nonexistent/libnothing.so"),
        "{}",
        r.stderr
    );

    // A bad module next to a good one is reported, and the good one still works.
    let mut c = hsm.command(agent_bin());
    c.args([
        "--pkcs11-module",
        "/nonexistent/libnothing.so",
        "--pkcs11-module",
        SOFTHSM_MODULE,
        "list",
        "--json",
    ]);
    let r = run(c, b"");
    assert_eq!(r.code, 0, "{r:?}");
    let inv = r.json();
    assert_eq!(inv["modules"][0]["loaded"], false);
    assert_eq!(inv["modules"][0]["error"], "file not found");
    assert_eq!(inv["tokens"][0]["label"], "MOICA TEST");

    let r = run(agent(&hsm, &["verify-pin"]), b"");
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("PIN_REQUIRED"), "{}", r.stderr);
}
