//! The user's say, through the real daemon and the scripted pinentry: which sites may use the
//! card (the confirmation dialog, remembered approvals, insecure origins) and where the PIN is
//! typed (`pin_entry` = dialog, page or auto).
//!
//! The fake pinentry inherits the daemon's environment, so a different answer from "the user"
//! means a daemon restarted in the same sandbox, which also shows what survives a restart.

mod support;

use card_agent_testbed::daemon::{Daemon, Host, Sandbox};
use serde_json::{json, Value};
use support::*;

const SHOP: &str = "https://shop.example.com";
const WRONG_PIN: &str = "975310";
const OTHER_WRONG_PIN: &str = "864209";
const THIRD_WRONG_PIN: &str = "753197";

/// A sandbox whose fake pinentry answers `action` (and `pin` to GETPIN).
fn sandbox(config: &str, action: &str, pin: &str) -> Sandbox {
    let mut sandbox = Sandbox::new();
    sandbox
        .config(config)
        .set_env("FAKE_PINENTRY_ACTION", action)
        .set_env("FAKE_PINENTRY_PIN", pin);
    sandbox
}

/// The demo daemon and a host on it.
fn demo(sandbox: &Sandbox) -> (Daemon, Host) {
    let daemon = sandbox.serve(&["--demo"]);
    let host = sandbox.host();
    (daemon, host)
}

/// The pinentry commands with `verb`, their argument unescaped (Assuan's %XX).
fn dialog_lines(sandbox: &Sandbox, verb: &str) -> Vec<String> {
    sandbox
        .pinentry_log()
        .lines()
        .filter_map(|l| l.strip_prefix(verb))
        .map(|arg| {
            arg.trim_start()
                .replace("%0A", "\n")
                .replace("%0D", "\r")
                .replace("%25", "%")
        })
        .collect()
}

fn count(sandbox: &Sandbox, verb: &str) -> usize {
    sandbox
        .pinentry_log()
        .lines()
        .filter(|l| l.split(' ').next() == Some(verb))
        .count()
}

fn sign_args(thumbprint: &str, pin: Option<&str>) -> Value {
    let mut args = json!({"certificate": thumbprint, "data": b64(b"dialog data"),
                          "hashAlgorithm": "SHA-256", "format": "pkcs1"});
    if let Some(pin) = pin {
        args["pin"] = pin.into();
    }
    args
}

#[test]
fn an_unknown_site_refused_in_the_dialog_stays_untrusted() {
    let sandbox = sandbox("", "deny", "");
    let (_daemon, mut host) = demo(&sandbox);
    // `version` reveals nothing and needs no approval.
    let reply = host.call_from(Some(SHOP), "version", json!({}));
    assert_eq!(result(&reply)["protocol"], 1);
    assert_eq!(sandbox.pinentry_log(), "", "no dialog for version");

    for command in ["get-certificates", "status"] {
        let reply = host.call_from(Some(SHOP), command, json!({}));
        assert_eq!(error_code(&reply), "SITE_NOT_TRUSTED", "{command}: {reply}");
        let message = reply["error"]["message"].as_str().expect("message");
        assert!(message.contains(SHOP), "{message}");
    }
    // The user was asked, in a dialog naming the site, each time.
    assert_eq!(count(&sandbox, "CONFIRM"), 2, "{}", sandbox.pinentry_log());
    let descriptions = dialog_lines(&sandbox, "SETDESC");
    assert!(
        descriptions.iter().all(|d| d.contains(SHOP)),
        "{descriptions:?}"
    );
    assert!(!sandbox.approvals_file().exists());
}

#[test]
fn a_site_approved_in_the_dialog_is_remembered_across_restarts() {
    let mut sandbox = sandbox("", "confirm", "");
    let (daemon, mut host) = demo(&sandbox);
    let reply = host.call_from(Some(SHOP), "get-certificates", json!({}));
    assert!(
        !result(&reply)["certificates"]
            .as_array()
            .expect("certificates")
            .is_empty(),
        "{reply}"
    );
    assert_eq!(count(&sandbox, "CONFIRM"), 1);
    // Approved once: the next request is not asked about.
    let reply = host.call_from(Some(SHOP), "status", json!({}));
    result(&reply);
    assert_eq!(count(&sandbox, "CONFIRM"), 1);

    let approvals: Value = serde_json::from_slice(
        &std::fs::read(sandbox.approvals_file()).expect("the approval was saved"),
    )
    .expect("approvals JSON");
    assert_eq!(approvals["version"], 1, "{approvals}");
    assert_eq!(approvals["sites"][0]["origin"], SHOP, "{approvals}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sandbox.approvals_file())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private to the user: {mode:o}");
    }
    drop(host);
    assert!(daemon.stop().success());

    // A new daemon, and a user who now refuses everything: the approved site still works,
    // any other site does not.
    sandbox.set_env("FAKE_PINENTRY_ACTION", "deny");
    let (_daemon, mut host) = demo(&sandbox);
    let reply = host.call_from(Some(SHOP), "get-certificates", json!({}));
    result(&reply);
    assert_eq!(count(&sandbox, "CONFIRM"), 1, "{}", sandbox.pinentry_log());
    let reply = host.call_from(Some("https://other.example.com"), "status", json!({}));
    assert_eq!(error_code(&reply), "SITE_NOT_TRUSTED", "{reply}");
    assert_eq!(count(&sandbox, "CONFIRM"), 2);
}

#[test]
fn requests_racing_for_one_unknown_site_ask_the_user_once() {
    let sandbox = sandbox("", "confirm", "");
    let (_daemon, mut host) = demo(&sandbox);
    // Sent together: the second waits for the dialog the first opened, then finds the site
    // approved.
    for id in [1, 2, 3] {
        host.send(&json!({"id": id, "command": "get-certificates", "origin": SHOP}));
    }
    for _ in 0..3 {
        let reply = host.recv();
        result(&reply);
    }
    assert_eq!(count(&sandbox, "CONFIRM"), 1, "{}", sandbox.pinentry_log());
}

#[test]
fn insecure_origins_are_refused_without_a_dialog() {
    // Even a user who would say yes is never asked about a page that is not a secure context.
    let sandbox = sandbox(
        "trusted_sites = [\"https://*.example.com\"]\n",
        "confirm",
        "",
    );
    let (_daemon, mut host) = demo(&sandbox);
    for origin in [
        "http://example.com",
        "http://www.example.com",
        "http://192.0.2.1:8080",
    ] {
        let reply = host.call_from(Some(origin), "get-certificates", json!({}));
        assert_eq!(error_code(&reply), "SITE_NOT_TRUSTED", "{origin}: {reply}");
        let message = reply["error"]["message"].as_str().expect("message");
        assert!(message.contains("https"), "{message}");
    }
    assert_eq!(sandbox.pinentry_log(), "", "no dialog was shown");
    assert!(!sandbox.approvals_file().exists());
}

#[test]
fn pin_entry_dialog_takes_the_pin_only_in_the_dialog() {
    let config = format!("{TRUSTED_CONFIG}pin_entry = \"dialog\"\n");
    let sandbox = sandbox(&config, "pin", card_agent::demo::DEMO_PIN);
    let (_daemon, mut host) = demo(&sandbox);
    let thumbprint = demo_thumbprint(&mut host);
    assert_eq!(
        sandbox.pinentry_log(),
        "",
        "a trusted site needs no confirmation"
    );

    let reply = host.call("sign", sign_args(&thumbprint, None));
    let signed = result(&reply).clone();
    let dir = tempfile::tempdir().expect("tempdir");
    verify_pkcs1(
        dir.path(),
        &unb64(&signed["certificate"]),
        b"dialog data",
        &unb64(&signed["signature"]),
        "sha256",
    );
    // The dialog named the site, the holder, the card and the tries left.
    let descriptions = dialog_lines(&sandbox, "SETDESC");
    assert_eq!(descriptions.len(), 1, "{}", sandbox.pinentry_log());
    for part in [
        "The website https://www.example.gov.tw",
        "Holder: DEMO 示範用戶",
        "DEMO000000000001",
        "Tries left: 3",
    ] {
        assert!(
            descriptions[0].contains(part),
            "{part}: {}",
            descriptions[0]
        );
    }
    assert_eq!(count(&sandbox, "GETPIN"), 1);

    let reply = host.call("verify-pin", json!({}));
    assert_eq!(result(&reply)["verified"], true);
    let nonce = b64(&[42u8; 32]);
    let reply = host.call("authenticate", json!({"challengeNonce": nonce}));
    assert_eq!(result(&reply)["format"], "card-agent-auth:1");
    assert_eq!(count(&sandbox, "GETPIN"), 3);

    // A page that sends the PIN itself is refused: under pin_entry = "dialog" no PIN passes
    // through a page.
    let reply = host.call(
        "sign",
        sign_args(&thumbprint, Some(card_agent::demo::DEMO_PIN)),
    );
    assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
    let reply = host.call("verify-pin", json!({"pin": card_agent::demo::DEMO_PIN}));
    assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
    assert_eq!(
        count(&sandbox, "GETPIN"),
        3,
        "no dialog for a refused request"
    );
}

#[test]
fn a_wrong_pin_in_the_dialog_counts_and_the_next_dialog_says_so() {
    let config = format!("{TRUSTED_CONFIG}pin_entry = \"dialog\"\n");
    let sandbox = sandbox(&config, "pin", WRONG_PIN);
    let (_daemon, mut host) = demo(&sandbox);
    let thumbprint = demo_thumbprint(&mut host);
    let reply = host.call("sign", sign_args(&thumbprint, None));
    assert_eq!(error_code(&reply), "PIN_INCORRECT", "{reply}");
    assert_eq!(reply["error"]["retriesLeft"], 2, "{reply}");
    // The person types another wrong PIN: the same one again is never sent (below).
    let reply = host.call_typing("verify-pin", json!({}), OTHER_WRONG_PIN);
    assert_eq!(error_code(&reply), "PIN_INCORRECT", "{reply}");
    assert_eq!(reply["error"]["retriesLeft"], 1, "{reply}");
    let descriptions = dialog_lines(&sandbox, "SETDESC");
    assert_eq!(descriptions.len(), 2, "{}", sandbox.pinentry_log());
    assert!(
        descriptions[0].contains("Tries left: 3"),
        "{}",
        descriptions[0]
    );
    assert!(
        descriptions[1].contains("Tries left: 2"),
        "{}",
        descriptions[1]
    );
    let warnings = dialog_lines(&sandbox, "SETERROR");
    assert!(
        warnings.last().is_some_and(|w| w.contains("Wrong PIN")),
        "{warnings:?}"
    );
    // The first wrong PIN typed again is answered as wrong without reaching the card: the
    // card keeps its last try, and the person hears why.
    let reply = host.call_typing("verify-pin", json!({}), WRONG_PIN);
    assert_eq!(error_code(&reply), "PIN_INCORRECT", "{reply}");
    assert_eq!(reply["error"]["retriesLeft"], 1, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("already refused"), "{reply}");
    let status = host.call("status", json!({}));
    assert_eq!(result(&status)["tokens"][0]["pinTriesLeft"], 1, "{status}");
    // The last try is announced as such, and once the card is locked nobody is asked.
    let reply = host.call_typing("verify-pin", json!({}), THIRD_WRONG_PIN);
    assert_eq!(error_code(&reply), "PIN_LOCKED", "{reply}");
    let warnings = dialog_lines(&sandbox, "SETERROR");
    assert!(
        warnings.last().is_some_and(|w| w.contains("Last try")),
        "{warnings:?}"
    );
    assert_eq!(count(&sandbox, "GETPIN"), 4);
    let reply = host.call("sign", sign_args(&thumbprint, None));
    assert_eq!(error_code(&reply), "PIN_LOCKED", "{reply}");
    assert_eq!(count(&sandbox, "GETPIN"), 4, "no dialog for a locked card");
}

#[test]
fn a_cancelled_dialog_is_user_cancelled() {
    let config = format!("{TRUSTED_CONFIG}pin_entry = \"dialog\"\n");
    let sandbox = sandbox(&config, "cancel", card_agent::demo::DEMO_PIN);
    let (_daemon, mut host) = demo(&sandbox);
    let thumbprint = demo_thumbprint(&mut host);
    let reply = host.call("sign", sign_args(&thumbprint, None));
    assert_eq!(error_code(&reply), "USER_CANCELLED", "{reply}");
    let reply = host.call("authenticate", json!({"challengeNonce": b64(&[1u8; 32])}));
    assert_eq!(error_code(&reply), "USER_CANCELLED", "{reply}");
    // Cancelling costs no try.
    let status = host.call("status", json!({}));
    assert_eq!(result(&status)["tokens"][0]["pinTriesLeft"], 3, "{status}");
}

#[test]
fn pin_entry_page_never_opens_a_dialog() {
    let config = format!("{TRUSTED_CONFIG}pin_entry = \"page\"\n");
    let sandbox = sandbox(&config, "pin", card_agent::demo::DEMO_PIN);
    let (_daemon, mut host) = demo(&sandbox);
    let thumbprint = demo_thumbprint(&mut host);
    let reply = host.call("sign", sign_args(&thumbprint, None));
    assert_eq!(error_code(&reply), "PIN_REQUIRED", "{reply}");
    let reply = host.call("verify-pin", json!({}));
    assert_eq!(error_code(&reply), "PIN_REQUIRED", "{reply}");
    // Even so, a page of card-agent's API never sends the PIN: the daemon refuses it.
    let reply = host.call(
        "sign",
        sign_args(&thumbprint, Some(card_agent::demo::DEMO_PIN)),
    );
    assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
    assert_eq!(
        sandbox.pinentry_log(),
        "",
        "no dialog under pin_entry = page"
    );
}

#[test]
fn a_page_pin_is_refused_by_the_daemon_itself_and_the_dialog_asks() {
    let sandbox = sandbox(TRUSTED_CONFIG, "pin", card_agent::demo::DEMO_PIN);
    let (_daemon, mut host) = demo(&sandbox);
    let thumbprint = demo_thumbprint(&mut host);
    // Straight to the native host, past the extension's own check: the daemon refuses it,
    // with a wrong PIN as with the right one, and nothing reaches the card.
    for pin in [card_agent::demo::DEMO_PIN, WRONG_PIN] {
        let reply = host.call("sign", sign_args(&thumbprint, Some(pin)));
        assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
        assert_eq!(reply["error"]["field"], "arguments.pin", "{reply}");
        let reply = host.call("verify-pin", json!({ "pin": pin }));
        assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
    }
    assert_eq!(sandbox.pinentry_log(), "");
    let status = host.call("status", json!({}));
    assert_eq!(result(&status)["tokens"][0]["pinTriesLeft"], 3, "{status}");
    // Without a PIN, the agent's own dialog asks for it.
    let reply = host.call("sign", sign_args(&thumbprint, None));
    result(&reply);
    assert_eq!(count(&sandbox, "GETPIN"), 1);
}

#[test]
fn an_open_dialog_blocks_nothing_else_and_goes_when_the_daemon_stops() {
    let config = format!("{TRUSTED_CONFIG}pin_entry = \"dialog\"\n");
    let mut sandbox = sandbox(&config, "hang", "");
    let watch = sandbox.watch_pinentry();
    let daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    let mut other = sandbox.host();
    let thumbprint = demo_thumbprint(&mut host);
    let id = host.next_id();
    host.send(&json!({"id": id, "command": "sign", "origin": SITE,
                      "arguments": sign_args(&thumbprint, None)}));
    watch.wait_for("GETPIN");
    assert_eq!(sandbox.live_pinentries().len(), 1, "the dialog is open");

    // The user has not answered; everything else is still served, on this connection too.
    result(&host.call("status", json!({})));
    result(&other.call("get-certificates", json!({})));
    assert!(other.wait().success());

    // The dialog's own deadline is minutes away; SIGTERM must not wait for it, and must not
    // leave a PIN prompt on screen for a daemon that is gone.
    assert!(daemon.stop().success());
    assert_eq!(sandbox.live_pinentries(), Vec::<String>::new());
    // The host ends with its daemon. The pending request may be answered with an error first.
    while let Some(frame) = host.next_frame() {
        assert_eq!(frame["id"], id, "{frame}");
        assert!(frame.get("error").is_some(), "{frame}");
    }
    let status = host.wait_open();
    assert!(status.code().is_some(), "{status:?}");
}

#[test]
fn without_a_dialog_program_nothing_is_asked_and_nothing_is_allowed() {
    let config = format!("{TRUSTED_CONFIG}pinentry = \"/nonexistent/pinentry-none\"\n");
    let sandbox = sandbox(&config, "confirm", "");
    let (daemon, mut host) = demo(&sandbox);
    assert!(
        daemon.log().contains("/nonexistent/pinentry-none"),
        "the daemon says which dialog program is missing: {}",
        daemon.log()
    );
    // An unknown site cannot be approved by anyone.
    let reply = host.call_from(Some(SHOP), "get-certificates", json!({}));
    assert_eq!(error_code(&reply), "SITE_NOT_TRUSTED", "{reply}");
    // A PIN cannot be asked for; a page PIN still works under pin_entry = auto.
    let reply = host.call_from(Some(SITE), "verify-pin", json!({}));
    assert_eq!(error_code(&reply), "PIN_REQUIRED", "{reply}");
    let message = reply["error"]["message"].as_str().expect("message");
    assert!(message.contains("pinentry"), "{message}");
}

#[test]
fn error_messages_never_repeat_a_pin() {
    let sandbox = sandbox(TRUSTED_CONFIG, "pin", "");
    let (_daemon, mut host) = demo(&sandbox);
    sandbox.secret("864209");
    for pin in [json!(864209), json!(["864209"]), json!("86420 9")] {
        let reply = host.call("verify-pin", json!({"pin": pin}));
        let code = error_code(&reply);
        assert!(code == "BAD_REQUEST" || code == "PIN_FORMAT", "{reply}");
        assert!(!reply.to_string().contains("864209"), "{reply}");
        assert!(!reply.to_string().contains("86420 9"), "{reply}");
    }
    // The CA certificates on the demo token have no private key.
    let reply = host.call("get-certificates", json!({}));
    let ca = result(&reply)["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .find(|c| c["hasPrivateKey"] == false)
        .expect("a CA certificate")["sha256"]
        .clone();
    let reply = host.call_typing(
        "sign",
        json!({"certificate": ca, "data": b64(b"x"), "hashAlgorithm": "SHA-256",
               "format": "pkcs1"}),
        card_agent::demo::DEMO_PIN,
    );
    assert_eq!(error_code(&reply), "KEY_NOT_FOUND", "{reply}");
}

#[test]
fn a_user_may_take_their_time_to_approve_a_site() {
    // Longer than the 30 s a quick command (certificates, status) may take without a dialog;
    // well within the dialog's own two minutes.
    let mut sandbox = sandbox("", "confirm", "");
    sandbox.set_env("FAKE_PINENTRY_DELAY_MS", "32000");
    let (_daemon, mut host) = demo(&sandbox);
    let reply = host.call_from(Some(SHOP), "get-certificates", json!({}));
    assert!(result(&reply)["certificates"].is_array(), "{reply}");
    assert!(sandbox.approvals_file().exists());
}

#[test]
fn a_page_that_goes_away_takes_its_dialogs_with_it() {
    let config = format!("{TRUSTED_CONFIG}pin_entry = \"dialog\"\n");
    let mut sandbox = sandbox(&config, "hang", "");
    let watch = sandbox.watch_pinentry();
    let daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    let thumbprint = demo_thumbprint(&mut host);
    // One signature waits in its PIN dialog, a second one waits for the dialog turn.
    for id in [101, 102] {
        host.send(&json!({"id": id, "command": "sign", "origin": SITE,
                          "arguments": sign_args(&thumbprint, None)}));
    }
    watch.wait_for("GETPIN");
    let open = sandbox.live_pinentries();
    assert_eq!(open.len(), 1, "one dialog at a time");

    // The browser closes the port (the tab is gone): nobody will read the answers.
    host.close_stdin();
    while let Some(frame) = host.next_frame() {
        assert!(frame.get("error").is_some(), "{frame}");
    }
    assert!(host.wait().success());
    // The open prompt goes away...
    card_agent_testbed::daemon::wait_for_exit(&open[0]);
    // ...and the queued request never opens one (the daemon stopping would close it, but by
    // then the request had its turn and was refused).
    assert!(daemon.stop().success());
    assert_eq!(count(&sandbox, "GETPIN"), 1, "{}", sandbox.pinentry_log());
    assert_eq!(sandbox.live_pinentries(), Vec::<String>::new());
}

#[test]
fn only_admitted_sites_may_watch_cards_come_and_go() {
    // Card events say when the user's card is inserted, in which reader, and what it is: the
    // same policy as any other request. Subscribing opens no dialog: a site asks to use the
    // card with a request first.
    let sandbox = sandbox("", "confirm", "");
    let (_daemon, mut host) = demo(&sandbox);
    for origin in [SHOP, "http://insecure.example.com"] {
        let reply = host.call_from(Some(origin), "subscribe", json!({}));
        assert_eq!(error_code(&reply), "SITE_NOT_TRUSTED", "{origin}: {reply}");
    }
    assert_eq!(sandbox.pinentry_log(), "", "no dialog for a subscription");
    let reply = host.call_from(Some(SHOP), "get-certificates", json!({}));
    result(&reply);
    assert_eq!(count(&sandbox, "CONFIRM"), 1);
    let reply = host.call_from(Some(SHOP), "subscribe", json!({}));
    assert_eq!(result(&reply)["subscribed"], true, "{reply}");
    let reply = host.call_from(Some(SHOP), "unsubscribe", json!({}));
    assert_eq!(result(&reply)["subscribed"], false, "{reply}");
}
