//! Real PKCS#11 modules as they are: keys that need the PIN for every use
//! (CKA_ALWAYS_AUTHENTICATE), on SoftHSM2 and through the wrapper module (`tests/p11-wrap`),
//! which counts the logins the agent makes.

mod support;

use card_agent_testbed::agent::{
    agent_bin, openssl_encrypt_pkcs1, openssl_verify_pkcs1, path, public_key_pem, run,
};
use card_agent_testbed::daemon::{Daemon, Host, Sandbox};
use card_agent_testbed::p11_wrap::{self, Wrapper, CONTROL_ENV};
use card_agent_testbed::softhsm::{Options, SoftHsm, SOFTHSM_MODULE, USER_PIN};
use serde_json::{json, Value};
use support::*;

const USER_LOGIN: &str = "C_Login user pin";
const CONTEXT_LOGIN: &str = "C_Login context-specific pin";

fn always_auth_token() -> SoftHsm {
    SoftHsm::new(Options {
        always_auth: true,
        ..Options::default()
    })
}

/// A daemon sandbox whose module is the wrapper in front of `hsm`'s SoftHSM2 token.
fn wrapped_sandbox(hsm: &SoftHsm, wrap: &Wrapper) -> Sandbox {
    let mut sandbox = Sandbox::new();
    sandbox
        .config(TRUSTED_CONFIG)
        .set_env("CARD_AGENT_PKCS11_MODULE", p11_wrap::module())
        .set_env("SOFTHSM2_CONF", hsm.conf())
        .set_env(CONTROL_ENV, wrap.control());
    sandbox
}

/// A legacy page's call carried by the extension; the decoded JSON answer.
fn legacy(host: &mut Host, path: &str, package: &Value) -> Value {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("tbsPackage", &package.to_string())
        .finish();
    let reply = host.call(
        "legacy-request",
        json!({"method": "POST", "path": path, "body": body}),
    );
    serde_json::from_slice(&unb64(&result(&reply)["body"])).expect("a JSON answer")
}

/// The reproduction: `card-agent sign` with a key that needs the PIN for every use
/// failed with UserNotLoggedIn. It signs now, with one PIN.
#[test]
fn the_cli_signs_with_an_always_authenticate_key() {
    let hsm = always_auth_token();
    let dir = hsm.dir();
    let input = dir.join("form.txt");
    std::fs::write(&input, "申請書 always-auth\n").expect("input");
    let out = dir.join("form.sig");
    let mut cli = hsm.command(agent_bin());
    cli.args([
        "--pkcs11-module",
        SOFTHSM_MODULE,
        "sign",
        "--in",
        path(&input),
    ])
    .args([
        "--out",
        path(&out),
        "--format",
        "pkcs1",
        "--hash",
        "sha256",
        "--pin-stdin",
    ]);
    let r = run(cli, format!("{USER_PIN}\n").as_bytes());
    assert_eq!(r.code, 0, "{r:?}");
    let key = public_key_pem(dir, &hsm.sign_cert, "sign");
    let (ok, text) = openssl_verify_pkcs1("-sha256", path(&key), path(&out), path(&input));
    assert!(ok, "{text}");
}

/// Through the wrapper: one user login and one context-specific login per signature, both with
/// the PIN the user gave; a wrong PIN costs one try and no second login.
#[test]
fn one_pin_two_logins_and_a_wrong_pin_is_tried_once() {
    let hsm = always_auth_token();
    let wrap = Wrapper::new(hsm.dir());
    let input = hsm.dir().join("form.txt");
    std::fs::write(&input, "申請書\n").expect("input");
    let out = hsm.dir().join("form.p7s");
    let sign = |pin: &str| {
        let mut cli = hsm.command(agent_bin());
        wrap.env(&mut cli);
        cli.arg("--pkcs11-module")
            .arg(p11_wrap::module())
            .args(["sign", "--in", path(&input), "--out", path(&out)])
            .args(["--format", "cms", "--hash", "sha256", "--pin-stdin"]);
        run(cli, format!("{pin}\n").as_bytes())
    };
    let r = sign(USER_PIN);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(wrap.logins(), [USER_LOGIN, CONTEXT_LOGIN]);
    wrap.clear_log();
    let r = sign("975310");
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("PIN_INCORRECT"), "{r:?}");
    assert_eq!(wrap.logins(), [USER_LOGIN]);
}

/// A daemon whose module is the wrapper in front of an always-authenticate token, the PIN
/// typed by the scripted dialog, and a native host to it.
struct World {
    hsm: SoftHsm,
    wrap: Wrapper,
    sandbox: Sandbox,
    _daemon: Daemon,
    host: Host,
}

impl World {
    fn new() -> World {
        let hsm = always_auth_token();
        let wrap = Wrapper::new(hsm.dir());
        let mut sandbox = wrapped_sandbox(&hsm, &wrap);
        sandbox.set_env("FAKE_PINENTRY_PIN", USER_PIN);
        let daemon = sandbox.serve(&[]);
        let host = sandbox.host();
        World {
            hsm,
            wrap,
            sandbox,
            _daemon: daemon,
            host,
        }
    }
}

/// Every path of the daemon with such keys: signatures (PKCS#1 and CMS) and authentication
/// with the PIN typed once in the dialog (pages never send one), the legacy API's
/// MakeSignature and decryption with the page's PIN.
#[test]
fn every_daemon_path_logs_in_again_for_the_key() {
    let World {
        hsm,
        wrap,
        sandbox,
        _daemon,
        mut host,
    } = World::new();
    let thumbprint = sha256_hex(&hsm.sign_cert);
    let mut dialogs = 0;
    let mut expect_two_logins = |what: &str| {
        assert_eq!(wrap.logins(), [USER_LOGIN, CONTEXT_LOGIN], "{what}");
        wrap.clear_log();
        // One dialog per operation: its one PIN served both logins.
        dialogs += 1;
        assert_eq!(
            sandbox.pinentry_log().matches("GETPIN").count(),
            dialogs,
            "{what}"
        );
    };

    for format in ["pkcs1", "cms"] {
        let reply = host.call(
            "sign",
            json!({"certificate": thumbprint, "data": b64(b"form"), "hashAlgorithm": "SHA-256",
                   "format": format}),
        );
        result(&reply);
        expect_two_logins(format);
    }
    let challenge = b64(&[42u8; 32]);
    let reply = host.call("authenticate", json!({"challengeNonce": challenge}));
    result(&reply);
    expect_two_logins("authenticate");
    let expect_two_logins = |what: &str| {
        assert_eq!(wrap.logins(), [USER_LOGIN, CONTEXT_LOGIN], "{what}");
        wrap.clear_log();
    };

    let answer = legacy(
        &mut host,
        "/sign",
        &json!({"func": "MakeSignature", "signatureType": "PKCS7", "tbs": "legacy form",
                "tbsEncoding": "NONE", "hashAlgorithm": "SHA256", "pin": USER_PIN}),
    );
    assert_eq!(answer["ret_code"], 0, "{answer}");
    expect_two_logins("legacy MakeSignature");

    let cipher = openssl_encrypt_pkcs1(hsm.dir(), &hsm.keyx_cert, "機密 secret".as_bytes());
    let cipher = b64(&cipher);
    let answer = legacy(
        &mut host,
        "/decrypt",
        &json!({"func": "DecryptData", "cipherType": "PKCS1", "plainEncoding": "base64",
                "cipher": cipher, "pin": USER_PIN}),
    );
    assert_eq!(answer["ret_code"], 0, "{answer}");
    assert_eq!(
        unb64(&answer["plain"]),
        "機密 secret".as_bytes(),
        "{answer}"
    );
    expect_two_logins("legacy DecryptData");
    assert!(host.wait().success());
}

/// A key's CKA_ALWAYS_AUTHENTICATE is read once, not at every signature (on a card each read
/// is an APDU exchange), and what was read still decides every signature: each one logs in
/// again for the key.
#[test]
fn a_keys_always_authenticate_flag_is_read_once() {
    let World {
        hsm,
        wrap,
        sandbox: _sandbox,
        _daemon,
        mut host,
    } = World::new();
    let thumbprint = sha256_hex(&hsm.sign_cert);
    let mut flag_reads = 0;
    for n in 0..3 {
        let reply = host.call(
            "sign",
            json!({"certificate": thumbprint, "data": b64(b"form"), "hashAlgorithm": "SHA-256",
                   "format": "pkcs1"}),
        );
        result(&reply);
        assert_eq!(wrap.logins(), [USER_LOGIN, CONTEXT_LOGIN], "signature {n}");
        flag_reads += wrap.always_authenticate_reads();
        wrap.clear_log();
    }
    assert_eq!(flag_reads, 1);
    assert!(host.wait().success());
}

/// `card-agent` with the wrapper module in front of `hsm`'s token.
fn wrapped_cli(hsm: &SoftHsm, wrap: &Wrapper, args: &[&str]) -> std::process::Command {
    let mut cli = hsm.command(agent_bin());
    wrap.env(&mut cli);
    cli.arg("--pkcs11-module")
        .arg(p11_wrap::module())
        .args(args);
    cli
}

/// The token's PIN state as `list --json` shows it: (pinStatus, pinTriesLeft).
fn pin_state(hsm: &SoftHsm, wrap: &Wrapper) -> (String, Option<u64>) {
    let r = run(wrapped_cli(hsm, wrap, &["list", "--json"]), b"");
    assert_eq!(r.code, 0, "{r:?}");
    let token = &r.json()["tokens"][0];
    (
        token["pinStatus"].as_str().expect("pinStatus").to_owned(),
        token["pinTriesLeft"].as_u64(),
    )
}

/// HiCOS tells the tries only through its token flags: after one wrong PIN "count low" (how
/// many are left is not said, so none is shown), then "final try" (one), then "locked". The
/// agent shows exactly that, never a guessed number, and a locked card gets no more PINs.
#[test]
fn hicos_tries_flags_are_shown_as_the_module_says_them() {
    let hsm = SoftHsm::new(Options::default());
    let wrap = Wrapper::new(hsm.dir());
    wrap.set("tries = hicos\n");
    let verify = |pin: &str| {
        run(
            wrapped_cli(&hsm, &wrap, &["verify-pin", "--pin-stdin"]),
            format!("{pin}\n").as_bytes(),
        )
    };
    assert_eq!(pin_state(&hsm, &wrap), ("ok".to_owned(), None));

    let r = verify("975310");
    assert_eq!(r.code, 3, "{r:?}");
    assert!(!r.stderr.contains("tries left"), "no guessed count: {r:?}");
    assert_eq!(pin_state(&hsm, &wrap), ("countLow".to_owned(), None));

    let r = verify("864209");
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("1 tries left"), "{r:?}");
    assert_eq!(pin_state(&hsm, &wrap), ("finalTry".to_owned(), Some(1)));

    let r = verify("753197");
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("PIN_LOCKED"), "{r:?}");
    assert_eq!(pin_state(&hsm, &wrap), ("locked".to_owned(), Some(0)));
    assert_eq!(wrap.tries_left(), 0);

    // Locked: even the right PIN is refused, and it never reaches the card.
    wrap.clear_log();
    let r = verify(USER_PIN);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(wrap.logins().is_empty(), "{:?}", wrap.logins());
}

/// The legacy API says the same in HiPKI's words: `last_error` 0xA0 (wrong, count unknown),
/// then 0x80000001 (one try left), then 0xA4 (locked); never 0x80000002, which no module
/// stated. At the final try the page's PIN is not used: the agent's dialog asks (and here the
/// person types a wrong one too).
#[test]
fn hicos_tries_reach_legacy_pages_as_hipki_codes() {
    let hsm = SoftHsm::new(Options::default());
    let wrap = Wrapper::new(hsm.dir());
    wrap.set("tries = hicos\n");
    let mut sandbox = wrapped_sandbox(&hsm, &wrap);
    sandbox.set_env("FAKE_PINENTRY_PIN", "753197");
    let _daemon = sandbox.serve(&[]);
    let mut host = sandbox.host();
    let mut seen = Vec::new();
    for pin in ["975310", "864209", "753197", USER_PIN] {
        let answer = legacy(
            &mut host,
            "/sign",
            &json!({"func": "MakeSignature", "signatureType": "PKCS1", "tbs": "form",
                    "tbsEncoding": "NONE", "hashAlgorithm": "SHA256", "pin": pin}),
        );
        assert_eq!(answer["ret_code"], 0x7610_0006u32, "{answer}");
        seen.push(answer["last_error"].as_u64().expect("last_error"));
    }
    assert_eq!(seen, [0xA0, 0x8000_0001, 0xA4, 0xA4]);
    assert_eq!(
        sandbox.pinentry_log().matches("GETPIN").count(),
        1,
        "the final try only"
    );
    assert_eq!(wrap.tries_left(), 0);
    assert!(host.wait().success());
}

/// A reader with its own PIN pad (the wrapper sets CKF_PROTECTED_AUTHENTICATION_PATH and types
/// the PIN "on the reader"): no PIN is asked in the dialog, a notice names the site and the
/// certificate, C_Login carries no PIN, and a PIN a page sends anyway is never used. Cancel
/// on the reader is the user cancelling.
#[test]
fn a_pin_pad_reader_takes_the_pin_itself() {
    let hsm = SoftHsm::new(Options::default());
    let wrap = Wrapper::new(hsm.dir());
    wrap.set(&format!("pin_pad = {USER_PIN}\n"));
    let sandbox = wrapped_sandbox(&hsm, &wrap);
    let _daemon = sandbox.serve(&[]);
    let mut host = sandbox.host();
    let status = result(&host.call("status", json!({}))).clone();
    assert_eq!(status["tokens"][0]["pinPad"], true, "{status}");
    let thumbprint = sha256_hex(&hsm.sign_cert);
    let sign = json!({"certificate": thumbprint, "data": b64(b"form"),
                      "hashAlgorithm": "SHA-256", "format": "pkcs1"});
    let reply = host.call("sign", sign.clone());
    let signature = unb64(&result(&reply)["signature"]);
    verify_pkcs1(hsm.dir(), &hsm.sign_cert, b"form", &signature, "sha256");
    assert_eq!(wrap.logins(), ["C_Login user no-pin"]);
    let dialog = sandbox.pinentry_log();
    assert!(!dialog.contains("GETPIN"), "no PIN field: {dialog}");
    assert!(dialog.contains("MESSAGE"), "{dialog}");
    assert!(
        dialog.contains("keypad") && dialog.contains(SITE) && dialog.contains("王小明 TEST"),
        "the notice names the reader, the site and the holder: {dialog}"
    );

    // A legacy page always sends a PIN (a wrong one here): it is wiped unused, the reader
    // decides.
    wrap.clear_log();
    let answer = legacy(
        &mut host,
        "/sign",
        &json!({"func": "MakeSignature", "signatureType": "PKCS1", "tbs": "form",
                "tbsEncoding": "NONE", "hashAlgorithm": "SHA256", "pin": "975310"}),
    );
    assert_eq!(answer["ret_code"], 0, "{answer}");
    assert_eq!(wrap.logins(), ["C_Login user no-pin"]);

    wrap.set("pin_pad = cancel\n");
    let reply = host.call("sign", sign);
    assert_eq!(error_code(&reply), "USER_CANCELLED", "{reply}");
    assert!(host.wait().success());
}

/// The CLI on a PIN-pad reader: it says to type the PIN on the reader, reads no PIN, and the
/// login carries none.
#[test]
fn the_cli_on_a_pin_pad_reader_reads_no_pin() {
    let hsm = SoftHsm::new(Options::default());
    let wrap = Wrapper::new(hsm.dir());
    wrap.set(&format!("pin_pad = {USER_PIN}\n"));
    let input = hsm.dir().join("form.txt");
    std::fs::write(&input, "form").expect("input");
    let out = hsm.dir().join("form.sig");
    let mut cli = wrapped_cli(&hsm, &wrap, &["--lang", "en", "sign", "--in", path(&input)]);
    cli.args(["--out", path(&out), "--format", "pkcs1", "--hash", "sha256"]);
    let r = run(cli, b"");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("keypad"), "{r:?}");
    assert_eq!(wrap.logins(), ["C_Login user no-pin"]);
    let key = public_key_pem(hsm.dir(), &hsm.sign_cert, "sign");
    let (ok, text) = openssl_verify_pkcs1("-sha256", path(&key), path(&out), path(&input));
    assert!(ok, "{text}");
}
