//! The quick start's main job: the real binary on the embedded demo token.

use base64::Engine as _;
use card_agent_testbed::agent::{
    agent_bin, openssl_verify_cms, openssl_verify_pkcs1, path, public_key_pem, run,
};
use card_agent_testbed::softhsm::der_to_pem;
use std::process::Command;

fn demo(args: &[&str]) -> Command {
    let mut c = Command::new(agent_bin());
    c.args(args);
    c
}

fn der(cert: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(cert["derBase64"].as_str().expect("derBase64"))
        .expect("base64")
}

#[test]
fn demo_token_is_labelled_and_never_chosen_silently() {
    let r = run(demo(&["list", "--demo", "--json"]), b"");
    assert_eq!(r.code, 0, "{r:?}");
    let inv = r.json();
    let token = &inv["tokens"][0];
    assert_eq!(token["demo"], true);
    assert!(token["label"].as_str().expect("label").contains("DEMO"));
    assert_eq!(token["pinTriesLeft"], 3);
    let human = run(demo(&["list", "--demo"]), b"");
    assert!(human.stdout.contains("DEMO"), "{}", human.stdout);
    // Without --demo, with no module anywhere, the demo token does not appear.
    let mut c = demo(&["--pkcs11-module", "/nonexistent.so", "list", "--json"]);
    c.env("HOME", "/nonexistent");
    let r = run(c, b"");
    assert!(
        !r.stdout.contains("DEMO") && !r.stderr.contains("DEMO"),
        "{r:?}"
    );
}

#[test]
fn demo_signatures_verify_with_openssl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = run(demo(&["list", "--demo", "--json"]), b"").json();
    let certs = inv["tokens"][0]["certificates"]
        .as_array()
        .expect("certs")
        .clone();
    let signing = certs
        .iter()
        .find(|c| c["pkcs11Id"] == "5349474e")
        .expect("SIGN");
    let chain: String = certs
        .iter()
        .filter(|c| c["hasPrivateKey"] == false)
        .map(|c| der_to_pem(&der(c)))
        .collect();
    assert!(
        !chain.is_empty(),
        "the demo token carries its CA certificates"
    );
    let chain_path = dir.path().join("chain.pem");
    std::fs::write(&chain_path, chain).expect("write chain");
    let pubkey = public_key_pem(dir.path(), &der(signing), "demo");
    let data = dir.path().join("data.txt");
    std::fs::write(&data, "示範 demo").expect("write");
    for format in ["pkcs1", "cms", "cms-attached"] {
        let out = dir.path().join(format!("sig.{format}"));
        let r = run(
            demo(&[
                "sign",
                "--demo",
                "--in",
                path(&data),
                "--out",
                path(&out),
                "--format",
                format,
                "--hash",
                "sha256",
                "--pin-stdin",
            ]),
            b"123456\n",
        );
        assert_eq!(r.code, 0, "{r:?}");
        let (ok, text) = match format {
            "pkcs1" => openssl_verify_pkcs1("-sha256", path(&pubkey), path(&out), path(&data)),
            "cms" => openssl_verify_cms(
                path(&out),
                Some(path(&data)),
                path(&chain_path),
                "/dev/null",
            ),
            _ => openssl_verify_cms(path(&out), None, path(&chain_path), "/dev/null"),
        };
        assert!(ok, "{format}: {text}");
    }
}

#[test]
fn demo_pin_errors_report_tries_left() {
    let r = run(demo(&["verify-pin", "--demo", "--pin-stdin"]), b"000000\n");
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("2 tries left"), "{}", r.stderr);
    let r = run(demo(&["verify-pin", "--demo", "--pin-stdin"]), b"12ab\n");
    assert_eq!(r.code, 5, "{r:?}");
    let r = run(demo(&["verify-pin", "--demo", "--pin-stdin"]), b"123456\n");
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(
        demo(&["--lang", "zh-TW", "verify-pin", "--demo", "--pin-stdin"]),
        b"000000\n",
    );
    assert!(r.stderr.contains("剩餘 2 次"), "{}", r.stderr);
}
