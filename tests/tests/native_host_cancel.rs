//! `cancel` through the real native host and daemon, with the scripted pinentry: a page that
//! stops waiting (its `AbortSignal` fired, or its tab closed) takes exactly its own request's
//! dialog with it, and nothing is signed for it.

mod support;

use card_agent_testbed::daemon::Sandbox;
use serde_json::{json, Value};
use support::*;

fn sign_args(thumbprint: &str) -> Value {
    json!({"certificate": thumbprint, "data": b64(b"cancelled form"),
           "hashAlgorithm": "SHA-256", "format": "pkcs1"})
}

/// A sandbox trusting the test site, whose PIN dialog opens and never answers (a person who
/// has not typed yet).
fn hanging_dialog_sandbox() -> Sandbox {
    let config = format!("{TRUSTED_CONFIG}pin_entry = \"dialog\"\n");
    let mut sandbox = Sandbox::new();
    sandbox
        .config(&config)
        .set_env("FAKE_PINENTRY_ACTION", "hang")
        .set_env("FAKE_PINENTRY_PIN", "");
    sandbox
}

#[test]
fn a_cancelled_sign_closes_its_dialog_and_signs_nothing() {
    let mut sandbox = hanging_dialog_sandbox();
    let watch = sandbox.watch_pinentry();
    let daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    let thumbprint = demo_thumbprint(&mut host);
    host.send(&json!({"id": 101, "command": "sign", "origin": SITE,
                      "arguments": sign_args(&thumbprint)}));
    watch.wait_for("GETPIN");
    let open = sandbox.live_pinentries();
    assert_eq!(open.len(), 1, "the PIN dialog is open");

    host.send(&json!({"id": 200, "command": "cancel", "origin": SITE,
                      "arguments": {"id": 101}}));
    // Both answers come, in either order: the cancel's, and the sign's error.
    let mut cancelled = None;
    let mut signed = None;
    while cancelled.is_none() || signed.is_none() {
        let frame = host.recv();
        match frame["id"].as_i64() {
            Some(200) => cancelled = Some(frame),
            Some(101) => signed = Some(frame),
            _ => panic!("unexpected frame {frame}"),
        }
    }
    let (cancelled, signed) = (cancelled.expect("cancel"), signed.expect("sign"));
    assert_eq!(
        result(&cancelled),
        &json!({"cancelled": true}),
        "{cancelled}"
    );
    assert!(signed.get("error").is_some(), "nothing is signed: {signed}");
    card_agent_testbed::daemon::wait_for_exit(&open[0]);

    // Nothing left to cancel; the connection and the daemon carry on, and the next sign gets
    // a dialog of its own.
    let again = host.call("cancel", json!({"id": 101}));
    assert_eq!(result(&again), &json!({"cancelled": false}), "{again}");
    result(&host.call("status", json!({})));
    host.send(&json!({"id": 102, "command": "sign", "origin": SITE,
                      "arguments": sign_args(&thumbprint)}));
    watch.wait_for("GETPIN");
    assert_eq!(
        sandbox.live_pinentries().len(),
        1,
        "a new request asks again"
    );
    assert!(daemon.stop().success());
    assert_eq!(sandbox.live_pinentries(), Vec::<String>::new());
}

#[test]
fn a_connection_cancels_only_its_own_requests() {
    let mut sandbox = hanging_dialog_sandbox();
    let watch = sandbox.watch_pinentry();
    let daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    let mut other = sandbox.host();
    let thumbprint = demo_thumbprint(&mut host);
    host.send(&json!({"id": 101, "command": "sign", "origin": SITE,
                      "arguments": sign_args(&thumbprint)}));
    watch.wait_for("GETPIN");
    // Another connection (another browser profile, say) names the same id: not its request.
    let reply = other.call("cancel", json!({"id": 101}));
    assert_eq!(result(&reply), &json!({"cancelled": false}), "{reply}");
    assert_eq!(sandbox.live_pinentries().len(), 1, "the dialog stays open");
    assert!(daemon.stop().success());
}
