//! Fault injection against the real daemon (issue 8): a token pulled while its PIN dialog is
//! open, the smart-card service stopped and restarted (with every reader going away), broken
//! PKCS#11 modules, the daemon killed with a request in flight, two browsers and a legacy page
//! at once, and 200 signatures from 20 connections.
//!
//! After each fault every test checks the same things: every request got an answer (every read
//! is bounded by [`HANG_GUARD`]: a hang fails with a message), the error is the specific stable
//! code with a message for a person, the daemon still serves, no PIN was presented twice (the
//! PKCS#11 spy counts `C_Login` calls), and nothing leaked: the daemon's open file descriptors
//! and PKCS#11 sessions return to their baseline. See docs/FAULTS.md for the table.
//!
//! What is real: the daemon, the native host, SoftHSM2 (behind OpenSC's pkcs11-spy), pcscd with
//! vpcd and our virtual card, openssl. What is simulated: the user (the scripted pinentry), and
//! the card removal on the signing token: SoftHSM's token is a directory, moved away and back,
//! because no PKCS#11 module here reads our vpcd card (it drives presence and events only).

mod support;

use std::thread;
use std::time::Duration;

use card_agent::reader::MOICA_GEN1_ATR;
use card_agent_testbed::daemon::{Daemon, Host, Sandbox, HANG_GUARD};
use card_agent_testbed::faults::{assert_fds_return_to, open_fds, Spy};
use card_agent_testbed::load::{self, Reply};
use card_agent_testbed::pcscd;
use card_agent_testbed::pin_gate::PinGate;
use card_agent_testbed::softhsm::{Options, SoftHsm, SOFTHSM_MODULE, USER_PIN};
use card_agent_testbed::virtual_card::{VirtualCard, PORT_0, READER_0, READER_1};
use serde_json::{json, Value};
use support::*;

/// Native-protocol sign arguments: PKCS#1, SHA-256 over `data`.
fn sign_args(thumbprint: &str, data: &[u8], pin: Option<&str>) -> Value {
    let mut args = json!({"certificate": thumbprint, "data": b64(data),
                          "hashAlgorithm": "SHA-256", "format": "pkcs1"});
    if let Some(pin) = pin {
        args["pin"] = pin.into();
    }
    args
}

/// A reply's error message, checked to be there for a person.
fn error_message(reply: &Value) -> String {
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !message.trim().is_empty(),
        "an error without a message: {reply}"
    );
    message.to_owned()
}

/// The daemon's open descriptors with no client connected, after `warm_up` ran once on a
/// connection of its own (first uses may load libraries and keep files open for good).
fn fd_baseline(sandbox: &Sandbox, daemon: &Daemon, warm_up: impl FnOnce(&mut Host)) -> Vec<String> {
    let before = open_fds(daemon.pid());
    let mut host = sandbox.host();
    warm_up(&mut host);
    assert!(host.wait().success());
    // The warm-up's connection closes a moment after its host exits; whatever else the
    // warm-up opened stays and is part of the baseline. The wait is bounded and only decides
    // the baseline, never a pass or a failure.
    for _ in 0..50 {
        if open_fds(daemon.pid()).len() <= before.len() {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    open_fds(daemon.pid())
}

/// Verifies a PKCS#1 v1.5 SHA-256 signature with the agent's verifier.
fn signature_verifies(cert_der: &[u8], data: &[u8], signature: &[u8]) -> bool {
    let cert = card_agent::certificate::CertificateInfo::parse(cert_der).expect("certificate");
    card_agent::signer::verify(
        &cert,
        card_agent::signer::HashAlgorithm::Sha256,
        data,
        signature,
    )
    .expect("verify")
}

/// The next event about `reader`, skipping others (the other vpcd reader, say).
fn next_event_for(host: &mut Host, reader: &str) -> Value {
    loop {
        let event = host.next_event();
        if event["event"]["reader"] == reader {
            return event["event"].clone();
        }
    }
}

/// SoftHSM's token directory (the token is a directory: moving it away pulls the "card").
fn token_dir(hsm: &SoftHsm) -> std::path::PathBuf {
    let tokens = hsm.dir().join("tokens");
    let mut dirs: Vec<_> = std::fs::read_dir(&tokens)
        .expect("tokens dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(dirs.len(), 1, "one token: {dirs:?}");
    dirs.remove(0)
}

/// Fault 1: the card is pulled while the user types the PIN. The signing token (SoftHSM)
/// disappears and the vpcd card leaves its reader at the same moment, then the user answers.
/// The daemon must refuse with CARD_REMOVED without presenting the PIN to anything, tell the
/// subscribed page the card left, and after the card is back ask for the PIN again (a PIN
/// typed for the pulled card is never used on the reinserted one).
#[test]
fn card_removed_while_its_pin_dialog_is_open() {
    pcscd::ensure_pcscd().expect("pcscd with the vpcd readers");
    let readers = pcscd::lock_virtual_readers().expect("exclusive use of the vpcd readers");
    let hsm = SoftHsm::new(Options::default());
    let mut sandbox = Sandbox::new();
    sandbox
        .config(&format!("{TRUSTED_CONFIG}pin_entry = \"dialog\"\n"))
        .set_env("SOFTHSM2_CONF", hsm.conf())
        .set_env("FAKE_PINENTRY_PIN", USER_PIN);
    let spy = Spy::install(&mut sandbox, SOFTHSM_MODULE);
    let gate = PinGate::new(&mut sandbox);
    let daemon = sandbox.serve(&[]);
    let thumbprint = sha256_hex(&hsm.sign_cert);
    let baseline = fd_baseline(&sandbox, &daemon, |h| {
        result(&h.call("get-certificates", json!({})));
    });
    let logins_before = spy.counts().logins;

    let mut host = sandbox.host();
    result(&host.call("subscribe", json!({})));
    let card = VirtualCard::insert(PORT_0, &MOICA_GEN1_ATR).expect("insert the virtual card");
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "card-inserted");

    // The dialog waits at the gate until the card is gone.
    gate.close();
    let id = host.next_id();
    host.send(&json!({"id": id, "command": "sign", "origin": SITE,
                      "arguments": sign_args(&thumbprint, b"pulled", None)}));
    let open_gate_file = gate.dialog_up();
    let pulled = hsm.dir().join("pulled-token");
    let token = token_dir(&hsm);
    std::fs::rename(&token, &pulled).expect("pull the token");
    card.remove();
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "card-removed");
    // The user types the PIN now, for a card that is no longer there.
    drop(open_gate_file);
    let reply = host.reply_to(id);
    assert_eq!(error_code(&reply), "CARD_REMOVED", "{reply}");
    error_message(&reply);
    assert_eq!(
        spy.counts().logins,
        logins_before,
        "the PIN typed for the pulled card reached no token"
    );

    // The daemon still serves and no longer lists the pulled token.
    let status = host.call("status", json!({}));
    assert_eq!(result(&status)["tokens"], json!([]), "{status}");
    let reply = host.call("sign", sign_args(&thumbprint, b"gone", None));
    assert_eq!(error_code(&reply), "NO_CARD", "{reply}");
    error_message(&reply);
    // The vpcd card comes back and says so. (SoftHSM binds tokens to slots at C_Initialize:
    // a token directory that comes back is seen only by a process started afterwards, so the
    // signing token's reinsertion is checked on a restarted daemon below.)
    let card = VirtualCard::insert(PORT_0, &MOICA_GEN1_ATR).expect("reinsert the virtual card");
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "card-inserted");
    card.remove();
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "card-removed");
    assert!(host.wait().success());
    drop(readers);
    let counts = spy.assert_no_open_session("after the pulled card");
    assert_eq!(counts.logins, logins_before, "{counts:?}");
    assert_fds_return_to(daemon.pid(), &baseline, "after the pulled card");
    assert!(daemon.stop().success());

    // Reinserted, on a fresh daemon: the PIN is asked again (nothing typed for the pulled card
    // survives) and presented once.
    gate.open();
    std::fs::rename(&pulled, &token).expect("reinsert the token");
    let _daemon = sandbox.serve(&[]);
    let mut host = sandbox.host();
    let reply = host.call("sign", sign_args(&thumbprint, b"back again", None));
    let signature = unb64(&result(&reply)["signature"]);
    assert!(signature_verifies(
        &hsm.sign_cert,
        b"back again",
        &signature
    ));
    let getpins = sandbox
        .pinentry_log()
        .lines()
        .filter(|l| l.starts_with("GETPIN"))
        .count();
    assert_eq!(
        getpins, 2,
        "the PIN was asked again after the card came back"
    );
    let counts = spy.counts();
    assert_eq!(
        counts.logins,
        logins_before + 1,
        "one login, once: {counts:?}"
    );
    assert_eq!(counts.logins_refused, 0, "{counts:?}");
    assert!(host.wait().success());
    spy.assert_no_open_session("after the reinserted card");
}

/// Faults 2 and 3: the smart-card service stops while the daemon runs (every reader goes away
/// with it, the nearest real thing to unplugging readers: vpcd's readers are declared in
/// reader.conf.d and pcscd cannot remove one at run time), then starts again. Events say so,
/// `status` reports the outage while it lasts, software tokens keep signing, and the readers
/// and events come back by themselves.
#[test]
fn smart_card_service_stopped_and_restarted_while_the_daemon_runs() {
    pcscd::ensure_pcscd().expect("pcscd with the vpcd readers");
    let readers = pcscd::lock_virtual_readers().expect("exclusive use of the vpcd readers");
    let hsm = SoftHsm::new(Options::default());
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG).softhsm(&hsm);
    let daemon = sandbox.serve(&[]);
    let thumbprint = sha256_hex(&hsm.sign_cert);
    let baseline = fd_baseline(&sandbox, &daemon, |h| {
        result(&h.call("status", json!({})));
    });

    let mut host = sandbox.host();
    result(&host.call("subscribe", json!({})));
    let card = VirtualCard::insert(PORT_0, &MOICA_GEN1_ATR).expect("insert the virtual card");
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "card-inserted");

    // Whatever happens below, pcscd must be running with its readers when the lock goes.
    struct Restart;
    impl Drop for Restart {
        fn drop(&mut self) {
            if let Err(e) = pcscd::ensure_pcscd() {
                eprintln!("pcscd could not be restarted: {e}");
            }
        }
    }
    let restart = Restart;
    pcscd::stop(&readers).expect("stop pcscd");
    // vpcd hangs up on the card when pcscd stops.
    let _ = card.wait();
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "card-removed");
    assert_eq!(
        next_event_for(&mut host, READER_0)["type"],
        "reader-removed"
    );
    assert_eq!(
        next_event_for(&mut host, READER_1)["type"],
        "reader-removed"
    );

    // During the outage: status says why there are no readers, the software token signs.
    let status = host.call("status", json!({}));
    let outage = result(&status)["pcscError"].as_str().unwrap_or_default();
    assert!(!outage.is_empty(), "status reports the outage: {status}");
    assert_eq!(result(&status)["readers"], json!([]), "{status}");
    let reply = host.call_typing("sign", sign_args(&thumbprint, b"no pcscd", None), USER_PIN);
    let signature = unb64(&result(&reply)["signature"]);
    assert!(signature_verifies(&hsm.sign_cert, b"no pcscd", &signature));

    drop(restart);
    assert!(pcscd::is_running(), "pcscd restarted");
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "reader-added");
    let card = VirtualCard::insert(PORT_0, &MOICA_GEN1_ATR).expect("insert after the restart");
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "card-inserted");
    let status = host.call("status", json!({}));
    assert!(result(&status)["pcscError"].is_null(), "{status}");
    let names: Vec<&str> = result(&status)["readers"]
        .as_array()
        .expect("readers")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        names.contains(&READER_0) && names.contains(&READER_1),
        "{status}"
    );
    card.remove();
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "card-removed");
    assert!(host.wait().success());
    drop(readers);
    assert_fds_return_to(daemon.pid(), &baseline, "after the pcscd restart");
}

/// Fault 4: PKCS#11 modules that are missing, not a PKCS#11 library, or whose C_Initialize
/// fails (SoftHSM with a configuration naming a token directory that does not exist). The
/// daemon starts anyway, says which module failed and why, answers card requests with
/// NO_MODULE, and keeps serving.
#[test]
fn missing_and_failing_pkcs11_modules() {
    let mut sandbox = Sandbox::new();
    let not_a_library = sandbox.dir().join("not-pkcs11.so");
    std::fs::write(&not_a_library, "this is not a shared library\n").expect("write");
    let broken_conf = sandbox.dir().join("broken-softhsm2.conf");
    std::fs::write(
        &broken_conf,
        "directories.tokendir = /nonexistent/card-agent-tokens\nobjectstore.backend = file\n",
    )
    .expect("write");
    sandbox
        .config(&format!(
            "{TRUSTED_CONFIG}pkcs11_modules = [\"/nonexistent/libmissing.so\", {:?}, {:?}]\n",
            not_a_library.display().to_string(),
            SOFTHSM_MODULE
        ))
        .set_env("SOFTHSM2_CONF", &broken_conf);
    let daemon = sandbox.serve(&[]);
    let log = daemon.log();
    for path in ["/nonexistent/libmissing.so", SOFTHSM_MODULE] {
        assert!(log.contains(path), "the daemon names {path}:\n{log}");
    }
    let baseline = fd_baseline(&sandbox, &daemon, |h| {
        result(&h.call("status", json!({})));
    });

    let mut host = sandbox.host();
    let status = host.call("status", json!({}));
    let modules = result(&status)["modules"]
        .as_array()
        .expect("modules")
        .clone();
    assert_eq!(modules.len(), 3, "{status}");
    for m in &modules {
        assert_eq!(m["loaded"], false, "{m}");
        assert!(!m["error"].as_str().unwrap_or_default().is_empty(), "{m}");
    }
    let reason = |path: &str| -> String {
        modules
            .iter()
            .find(|m| m["path"] == path)
            .unwrap_or_else(|| panic!("{path} in {status}"))["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(reason("/nonexistent/libmissing.so").contains("not found"));
    assert!(reason(&not_a_library.display().to_string()).contains("cannot load"));
    assert!(reason(SOFTHSM_MODULE).contains("C_Initialize"));

    let reply = host.call("get-certificates", json!({}));
    assert_eq!(error_code(&reply), "NO_MODULE", "{reply}");
    assert!(error_message(&reply).contains("libmissing.so"), "{reply}");
    let reply = host.call("sign", sign_args(&"00".repeat(32), b"x", Some(USER_PIN)));
    assert_eq!(error_code(&reply), "NO_MODULE", "{reply}");
    // Still serving.
    result(&host.call("version", json!({})));
    result(&host.call("status", json!({})));
    assert!(host.wait().success());
    assert_fds_return_to(daemon.pid(), &baseline, "after the module failures");
    assert!(daemon.stop().success());
}

/// Fault 5: the daemon is killed (SIGKILL) while a page's signature waits for the PIN. The
/// native host tells the page (INTERNAL, "card-agent stopped ...") instead of losing the
/// request, ends, and the next host starts a fresh daemon that serves. Nothing reached the
/// token.
#[test]
fn daemon_killed_while_a_request_waits_for_its_pin() {
    let hsm = SoftHsm::new(Options::default());
    let mut sandbox = Sandbox::new();
    sandbox
        .config(&format!("{TRUSTED_CONFIG}pin_entry = \"dialog\"\n"))
        .set_env("SOFTHSM2_CONF", hsm.conf())
        .set_env("FAKE_PINENTRY_ACTION", "hang");
    let spy = Spy::install(&mut sandbox, SOFTHSM_MODULE);
    let watch = sandbox.watch_pinentry();
    let daemon = sandbox.serve(&[]);
    let thumbprint = sha256_hex(&hsm.sign_cert);
    let mut host = sandbox.host();
    let id = host.next_id();
    host.send(&json!({"id": id, "command": "sign", "origin": SITE,
                      "arguments": sign_args(&thumbprint, b"in flight", None)}));
    watch.wait_for("GETPIN");
    card_agent_testbed::daemon::crash(daemon.pid());
    let _ = daemon.stop();

    let reply = host.recv();
    assert_eq!(reply["id"], id, "{reply}");
    assert_eq!(error_code(&reply), "INTERNAL", "{reply}");
    assert!(
        error_message(&reply).contains("card-agent stopped"),
        "{reply}"
    );
    assert_eq!(
        host.next_frame(),
        None,
        "the host ends after the daemon went away"
    );
    assert!(host.wait_open().code().is_some());
    assert_eq!(spy.counts().logins, 0, "no PIN reached the token");
    // A killed daemon cannot close its dialog; the dialog was told its own deadline, so a
    // real pinentry closes by itself instead of asking for a PIN nobody will read. (The
    // scripted one only records it; the sandbox ends it.)
    let told = sandbox.pinentry_log();
    let timeout = told
        .lines()
        .find_map(|l| l.strip_prefix("SETTIMEOUT "))
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no SETTIMEOUT before GETPIN:\n{told}"));
    assert!(timeout > 0, "{told}");

    // The next connection autostarts a daemon (same environment: the spy and the token).
    sandbox.set_env("FAKE_PINENTRY_ACTION", "pin");
    sandbox.set_env("FAKE_PINENTRY_PIN", USER_PIN);
    let mut host = sandbox.host();
    // pin_entry = "dialog": the PIN comes from the dialog, which now answers.
    let reply = host.call("sign", sign_args(&thumbprint, b"fresh daemon", None));
    let signature = unb64(&result(&reply)["signature"]);
    assert!(signature_verifies(
        &hsm.sign_cert,
        b"fresh daemon",
        &signature
    ));
    assert!(host.wait().success());
    let counts = spy.assert_no_open_session("after the restart");
    assert_eq!(counts.logins, 1, "{counts:?}");
    assert!(sandbox.stop_foreign_daemon(), "the autostarted daemon ran");
}

/// The legacy API's port, from the daemon's log line.
fn legacy_port(daemon: &Daemon) -> u16 {
    let log = daemon.log();
    log.lines()
        .find_map(|l| l.split("legacy API listening on http://127.0.0.1:").nth(1))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no legacy API port in the log:\n{log}"))
}

/// One HTTP/1.1 exchange with `Connection: close`; the whole response, bounded.
fn http(port: u16, request: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("an HTTP response within the guard");
    String::from_utf8_lossy(&out).into_owned()
}

/// A legacy page's PKCS1 MakeSignature of `text`, from `origin`; the JSON answer.
fn legacy_sign(port: u16, origin: &str, text: &str) -> Value {
    let package = json!({"func": "MakeSignature", "signatureType": "PKCS1", "tbs": text,
        "tbsEncoding": "NONE", "hashAlgorithm": "SHA256", "pin": USER_PIN,
        "withCardSN": "false", "nonce": "", "slotDescription": ""});
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("tbsPackage", &package.to_string().replace('+', "%2B"))
        .finish();
    let response = http(
        port,
        &format!(
            "POST /sign HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {response}"))
}

/// Fault 6: two browsers (Chrome's and Firefox's native hosts, each with its own site) and a
/// legacy page sign at once on one SoftHSM token. Everyone gets their own answers (each
/// signature is over the data that connection sent), the token sees one operation at a time
/// (never two PKCS#11 sessions open together), and every PIN is presented once.
#[test]
fn two_browsers_and_a_legacy_page_at_once() {
    const EACH: usize = 8;
    const OTHER_SITE: &str = "https://tax.example.gov.tw";
    let hsm = SoftHsm::new(Options::default());
    let mut sandbox = Sandbox::new();
    sandbox
        .config(&format!("{TRUSTED_CONFIG}http_listen = \"127.0.0.1:0\"\n"))
        .set_env("SOFTHSM2_CONF", hsm.conf())
        // The browsers' pages never send the PIN: the user types it in the agent's dialog.
        .set_env("FAKE_PINENTRY_PIN", USER_PIN);
    let spy = Spy::install(&mut sandbox, SOFTHSM_MODULE);
    let daemon = sandbox.serve(&[]);
    let port = legacy_port(&daemon);
    let thumbprint = sha256_hex(&hsm.sign_cert);
    let baseline = fd_baseline(&sandbox, &daemon, |h| {
        result(&h.call("get-certificates", json!({})));
    });
    let logins_before = spy.counts().logins;

    let chrome = sandbox.host();
    let mut firefox = sandbox.host_as(&[
        "/usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json",
        card_agent::native_host::FIREFOX_ADDON_ID,
    ]);
    firefox.set_origin(Some(OTHER_SITE));
    let browser = |mut host: Host, name: &'static str, thumbprint: String| {
        thread::spawn(move || {
            let ids: Vec<i64> = (0..EACH)
                .map(|i| {
                    let id = host.next_id();
                    let data = format!("{name} {i}");
                    host.send(&json!({"id": id, "command": "sign",
                        "origin": if name == "chrome" { SITE } else { OTHER_SITE },
                        "arguments": sign_args(&thumbprint, data.as_bytes(), None)}));
                    id
                })
                .collect();
            let mut answers = Vec::new();
            for _ in &ids {
                let reply = host.recv();
                let id = reply["id"].as_i64().expect("id");
                let i = ids.iter().position(|x| *x == id).expect("one of ours");
                answers.push((format!("{name} {i}"), reply));
            }
            (host, answers)
        })
    };
    let a = browser(chrome, "chrome", thumbprint.clone());
    let b = browser(firefox, "firefox", thumbprint.clone());
    let legacy = thread::spawn(move || {
        (0..EACH)
            .map(|i| {
                let text = format!("legacy {i}");
                (text.clone(), legacy_sign(port, SITE, &text))
            })
            .collect::<Vec<_>>()
    });
    for handle in [a, b] {
        let (host, answers) = handle.join().expect("browser thread");
        assert_eq!(answers.len(), EACH);
        for (data, reply) in answers {
            let signature = unb64(&result(&reply)["signature"]);
            assert!(
                signature_verifies(&hsm.sign_cert, data.as_bytes(), &signature),
                "the answer to {data:?} is a signature over it"
            );
        }
        assert!(host.wait().success());
    }
    for (text, reply) in legacy.join().expect("legacy thread") {
        assert_eq!(reply["ret_code"], 0, "{reply}");
        let signature = unb64(&reply["signature"]);
        assert!(
            signature_verifies(&hsm.sign_cert, text.as_bytes(), &signature),
            "{text}"
        );
    }

    let counts = spy.assert_no_open_session("after the mixed load");
    assert_eq!(
        counts.logins - logins_before,
        3 * EACH,
        "one login per signature: {counts:?}"
    );
    assert_eq!(
        spy.max_open_sessions(),
        1,
        "one operation at a time on the token"
    );
    assert_fds_return_to(daemon.pid(), &baseline, "after the mixed load");
}

/// Fault 7 on the demo token: 200 signatures from 20 connections at once, two of them with a
/// wrong PIN. Every request is answered; the right ones verify, the wrong ones are
/// PIN_INCORRECT (tried once: the token is not locked afterwards); descriptors come back.
#[test]
fn two_hundred_signatures_from_twenty_connections_on_the_demo_token() {
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG);
    let daemon = sandbox.serve(&["--demo"]);
    let mut thumbprint = String::new();
    let mut cert = Vec::new();
    let baseline = fd_baseline(&sandbox, &daemon, |h| {
        let reply = h.call("get-certificates", json!({}));
        let c = result(&reply)["certificates"]
            .as_array()
            .expect("certificates")
            .iter()
            .find(|c| c["pkcs11Id"] == hex::encode("SIGN"))
            .expect("demo signing certificate")
            .clone();
        thumbprint = c["sha256"].as_str().expect("sha256").to_owned();
        cert = unb64(&c["derBase64"]);
    });
    let wrong = |c: usize, i: usize| (c, i) == (3, 4) || (c, i) == (17, 9);
    let t = thumbprint.clone();
    let outcomes = load::run(
        &sandbox.socket(),
        20,
        10,
        move |c, i| {
            let pin = if wrong(c, i) {
                "975310"
            } else {
                card_agent::demo::DEMO_PIN
            };
            // Local programs on the daemon's socket: they may send the PIN (pages never do).
            json!({"command": "sign",
                   "arguments": sign_args(&t, format!("demo {c}/{i}").as_bytes(), Some(pin))})
        },
        HANG_GUARD,
    );
    check_load(&outcomes, &cert, wrong, "demo");
    let mut host = sandbox.host();
    let status = host.call("status", json!({}));
    assert_ne!(
        result(&status)["tokens"][0]["pinStatus"],
        "locked",
        "{status}"
    );
    assert!(host.wait().success());
    assert_fds_return_to(daemon.pid(), &baseline, "after 200 demo signatures");
}

/// Fault 7 on a SoftHSM token: the same load, every PIN presented exactly once (the spy's
/// `C_Login` count equals the number of requests), every session closed.
#[test]
fn two_hundred_signatures_from_twenty_connections_on_a_softhsm_token() {
    let hsm = SoftHsm::new(Options::default());
    let mut sandbox = Sandbox::new();
    sandbox
        .config(TRUSTED_CONFIG)
        .set_env("SOFTHSM2_CONF", hsm.conf());
    let spy = Spy::install(&mut sandbox, SOFTHSM_MODULE);
    let daemon = sandbox.serve(&[]);
    let thumbprint = sha256_hex(&hsm.sign_cert);
    let baseline = fd_baseline(&sandbox, &daemon, |h| {
        result(&h.call("get-certificates", json!({})));
    });
    let logins_before = spy.counts().logins;
    let wrong = |c: usize, i: usize| (c, i) == (5, 5);
    let t = thumbprint.clone();
    let outcomes = load::run(
        &sandbox.socket(),
        20,
        10,
        move |c, i| {
            let pin = if wrong(c, i) { "975310" } else { USER_PIN };
            // Local programs on the daemon's socket: they may send the PIN (pages never do).
            json!({"command": "sign",
                   "arguments": sign_args(&t, format!("demo {c}/{i}").as_bytes(), Some(pin))})
        },
        HANG_GUARD,
    );
    check_load(&outcomes, &hsm.sign_cert, wrong, "softhsm");
    let counts = spy.assert_no_open_session("after 200 SoftHSM signatures");
    assert_eq!(
        counts.logins - logins_before,
        200,
        "each PIN presented once: {counts:?}"
    );
    assert_eq!(
        spy.max_open_sessions(),
        1,
        "one operation at a time on the token"
    );
    let mut host = sandbox.host();
    result(&host.call("status", json!({})));
    assert!(host.wait().success());
    assert_fds_return_to(daemon.pid(), &baseline, "after 200 SoftHSM signatures");
}

/// Every outcome answered; wrong-PIN requests PIN_INCORRECT, the others valid signatures
/// (all checked by the agent's verifier, one per connection also by openssl).
fn check_load(
    outcomes: &[load::Outcome],
    cert: &[u8],
    wrong: impl Fn(usize, usize) -> bool,
    what: &str,
) {
    assert_eq!(outcomes.len(), 200);
    let dir = tempfile::tempdir().expect("temp dir");
    for o in outcomes {
        let data = format!("demo {}/{}", o.connection, o.index);
        match &o.reply {
            Reply::Ok(result) => {
                assert!(
                    !wrong(o.connection, o.index),
                    "{what}: a wrong PIN signed: {o:?}"
                );
                let signature = unb64(&result["signature"]);
                assert!(
                    signature_verifies(cert, data.as_bytes(), &signature),
                    "{what}: {data}"
                );
                if o.index == 0 {
                    verify_pkcs1(dir.path(), cert, data.as_bytes(), &signature, "sha256");
                }
            }
            Reply::Error { code, message, .. } => {
                assert!(
                    wrong(o.connection, o.index) && code == "PIN_INCORRECT",
                    "{what}: {data}: {code} {message}"
                );
                assert!(!message.is_empty());
            }
            Reply::NoAnswer(why) => panic!("{what}: {data} was never answered: {why}"),
        }
    }
    if let Some([min, median, p95, max]) = load::percentiles(outcomes) {
        // Information for the log, never an assertion.
        eprintln!(
            "{what}: 200 signs, latency min {min:?} median {median:?} p95 {p95:?} max {max:?}"
        );
    }
}

/// One frame in, as the daemon frames: native-endian length, JSON. `None` at end of stream.
fn read_socket_frame(stream: &mut std::os::unix::net::UnixStream) -> Option<Value> {
    use std::io::Read;
    let mut length = [0u8; 4];
    match stream.read_exact(&mut length) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(e) => panic!("no frame and no end of stream within {HANG_GUARD:?}: {e}"),
    }
    let mut payload = vec![0u8; u32::from_ne_bytes(length) as usize];
    stream.read_exact(&mut payload).expect("payload");
    Some(serde_json::from_slice(&payload).expect("JSON"))
}

fn connect_socket(sandbox: &Sandbox) -> std::os::unix::net::UnixStream {
    let stream = std::os::unix::net::UnixStream::connect(sandbox.socket()).expect("connect");
    stream.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
    stream
}

fn write_socket_frame(stream: &mut std::os::unix::net::UnixStream, message: &Value) {
    use std::io::Write;
    let payload = serde_json::to_vec(message).expect("JSON");
    let mut frame = (payload.len() as u32).to_ne_bytes().to_vec();
    frame.extend_from_slice(&payload);
    stream.write_all(&frame).expect("write");
}

/// Fault 8, the daemon's socket: a client that stops in the middle of a frame, one that
/// announces a 1 GiB frame, and more idle clients than the daemon serves at once. The slow one
/// blocks nobody and is closed with BAD_REQUEST once its frame is overdue; the huge one is
/// refused from its length alone; past the connection limit a client is told INTERNAL ("too
/// many connections") at once instead of waiting unanswered; descriptors come back.
#[test]
fn slow_huge_and_too_many_clients_on_the_socket() {
    use std::io::Write;
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG);
    let daemon = sandbox.serve(&["--demo"]);
    let baseline = fd_baseline(&sandbox, &daemon, |h| {
        result(&h.call("version", json!({})));
    });

    let mut slow = connect_socket(&sandbox);
    slow.write_all(&[40, 0]).expect("half a length prefix");
    let mut huge = connect_socket(&sandbox);
    huge.write_all(&(1u32 << 30).to_ne_bytes())
        .expect("a 1 GiB length");
    let reply = read_socket_frame(&mut huge).expect("an answer to the 1 GiB frame");
    assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
    error_message(&reply);
    assert_eq!(
        read_socket_frame(&mut huge),
        None,
        "closed after a bad frame"
    );
    // Others are served while the slow client stalls.
    let mut other = connect_socket(&sandbox);
    write_socket_frame(&mut other, &json!({"id": 1, "command": "version"}));
    result(&read_socket_frame(&mut other).expect("version"));
    drop(other);
    // The slow client's frame is overdue: the daemon says so and closes.
    let reply = read_socket_frame(&mut slow).expect("an answer to the stalled frame");
    assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
    assert!(error_message(&reply).contains("whole"), "{reply}");
    assert_eq!(read_socket_frame(&mut slow), None);
    drop((slow, huge));
    assert_fds_return_to(daemon.pid(), &baseline, "after the slow clients");

    // Fill every connection slot with idle clients, each proven served.
    const LIMIT: usize = 64;
    let mut idle = Vec::new();
    let mut refused_while_filling = 0;
    while idle.len() < LIMIT {
        let mut s = connect_socket(&sandbox);
        write_socket_frame(&mut s, &json!({"id": 1, "command": "version"}));
        let reply = read_socket_frame(&mut s).expect("an answer");
        if reply.get("error").is_some() {
            // A slot of a connection closed above may not be free yet; bounded.
            refused_while_filling += 1;
            assert!(refused_while_filling < 50, "refused too often: {reply}");
            thread::sleep(Duration::from_millis(100));
            continue;
        }
        result(&reply);
        idle.push(s);
    }
    let mut extra = connect_socket(&sandbox);
    let reply = read_socket_frame(&mut extra).expect("a refusal, not a wait");
    assert_eq!(error_code(&reply), "INTERNAL", "{reply}");
    assert!(
        error_message(&reply).contains("too many connections"),
        "{reply}"
    );
    assert_eq!(read_socket_frame(&mut extra), None);
    // One idle client leaves: the next one is served.
    drop(idle.pop());
    let mut served = None;
    for _ in 0..50 {
        let mut s = connect_socket(&sandbox);
        write_socket_frame(&mut s, &json!({"id": 1, "command": "version"}));
        let reply = read_socket_frame(&mut s).expect("an answer");
        if reply.get("error").is_none() {
            served = Some(reply);
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    result(&served.expect("served once a slot was free"));
    drop(idle);
    assert_fds_return_to(daemon.pid(), &baseline, "after the idle clients");
}

/// Fault 8, the legacy HTTP port: a client that never finishes its headers and one that never
/// sends the body it announced. Both are cut off by the server's own deadlines (headers 10 s,
/// body 20 s), other pages are served meanwhile, descriptors come back.
#[test]
fn slow_clients_on_the_legacy_port() {
    use std::io::{Read, Write};
    let mut sandbox = Sandbox::new();
    sandbox.config(&format!("{TRUSTED_CONFIG}http_listen = \"127.0.0.1:0\"\n"));
    let daemon = sandbox.serve(&["--demo"]);
    let port = legacy_port(&daemon);
    let baseline = fd_baseline(&sandbox, &daemon, |_| {});
    let connect = || {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
        s
    };
    let mut headers = connect();
    headers
        .write_all(format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n").as_bytes())
        .expect("write");
    let mut body = connect();
    body.write_all(
        format!(
            "POST /sign HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {SITE}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntbsPackage"
        )
        .as_bytes(),
    )
    .expect("write");
    let page = http(
        port,
        &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    );
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    for (what, stream) in [("headers", &mut headers), ("body", &mut body)] {
        let mut out = Vec::new();
        let ended = stream.read_to_end(&mut out);
        assert!(
            ended.is_ok(),
            "the slow {what} was not cut off within {HANG_GUARD:?}: {ended:?}"
        );
        eprintln!(
            "slow {what}: {:?}",
            String::from_utf8_lossy(&out).lines().next()
        );
    }
    drop((headers, body));
    assert_fds_return_to(daemon.pid(), &baseline, "after the slow legacy clients");
}

/// Fault 8, many connections to the legacy port, which every local user and every web page can
/// reach: 300 idle connections (headers never finished) must not use up the daemon's file
/// descriptors (it serves at most 64 at once and closes the rest at once), the browser channel
/// keeps working meanwhile, and pages are served again once the flood ends.
#[test]
fn a_flood_of_idle_connections_to_the_legacy_port() {
    use std::io::Write;
    const FLOOD: usize = 300;
    const LIMIT: usize = 64;
    let mut sandbox = Sandbox::new();
    sandbox.config(&format!("{TRUSTED_CONFIG}http_listen = \"127.0.0.1:0\"\n"));
    let daemon = sandbox.serve(&["--demo"]);
    let port = legacy_port(&daemon);
    let baseline = fd_baseline(&sandbox, &daemon, |h| {
        result(&h.call("version", json!({})));
    });
    let flood: Vec<std::net::TcpStream> = (0..FLOOD)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            // Closed by the daemon (over the limit) or not: either way nothing more is sent.
            let _ = s.write_all(b"GET / HTTP/1.1\r\n");
            s
        })
        .collect();
    // The browser channel still works, and the daemon holds at most its limit of them (plus a
    // few accepted a moment ago and about to be closed).
    let mut host = sandbox.host();
    result(&host.call("version", json!({})));
    result(&host.call("status", json!({})));
    let flooded = open_fds(daemon.pid()).len();
    assert!(
        flooded <= baseline.len() + 1 + LIMIT + 8,
        "{FLOOD} idle connections: the daemon holds {flooded} descriptors (baseline {})",
        baseline.len()
    );
    assert!(host.wait().success());
    drop(flood);
    // Pages are served again once the daemon has seen the flood's connections close.
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut served = false;
    for _ in 0..100 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(HANG_GUARD)).expect("timeout");
        s.write_all(request.as_bytes()).expect("write");
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut out);
        if out.starts_with(b"HTTP/1.1 200") {
            served = true;
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(served, "the legacy API serves again after the flood");
    assert_fds_return_to(daemon.pid(), &baseline, "after the flood");
}
