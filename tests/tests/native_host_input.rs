//! What a hostile or broken browser side can send the native host: frames too large, cut short,
//! not UTF-8, not JSON, with wrong types, unknown commands, no origin; and a caller that is not
//! our extension. Each gets a clear refusal (or the host ends), never a hang, and the host goes
//! on serving after a refusal it can recover from.

mod support;

use card_agent_testbed::daemon::{Host, Sandbox};
use serde_json::{json, Value};
use support::*;

fn demo() -> (Sandbox, card_agent_testbed::daemon::Daemon) {
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG);
    let daemon = sandbox.serve(&["--demo"]);
    (sandbox, daemon)
}

/// A refusal: `BAD_REQUEST` with this id (`Value::Null` for none) and, when given, field.
fn assert_bad_request(reply: &Value, id: Value, field: Option<&str>) {
    assert_eq!(error_code(reply), "BAD_REQUEST", "{reply}");
    assert_eq!(reply["id"], id, "{reply}");
    if let Some(field) = field {
        assert_eq!(reply["error"]["field"], field, "{reply}");
    }
    let message = reply["error"]["message"].as_str().expect("message");
    assert!(!message.is_empty(), "{reply}");
}

/// The host still answers after whatever came before.
fn still_serves(host: &mut Host) {
    let reply = host.call("version", json!({}));
    assert_eq!(result(&reply)["protocol"], 1, "{reply}");
}

#[test]
fn an_oversized_frame_is_refused_and_the_host_closes() {
    let (sandbox, _daemon) = demo();
    let mut host = sandbox.host();
    still_serves(&mut host);
    // Announce 2 MiB and send none of it: the host must refuse on the length alone, without
    // waiting for (or allocating) the body, and close: the stream cannot be resynchronised.
    host.send_raw(&(2u32 * 1024 * 1024).to_ne_bytes())
        .expect("write");
    let reply = host.recv();
    assert_bad_request(&reply, Value::Null, None);
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1048576")),
        "the message names the limit: {reply}"
    );
    assert_eq!(host.next_frame(), None, "nothing after the refusal");
    // The browser still holds stdin open; the host must end by itself.
    let status = host.wait_open();
    assert!(status.code().is_some(), "{status:?}");
}

#[test]
fn an_empty_frame_is_refused_and_the_host_closes() {
    let (sandbox, _daemon) = demo();
    let mut host = sandbox.host();
    host.send_raw(&0u32.to_ne_bytes()).expect("write");
    assert_bad_request(&host.recv(), Value::Null, None);
    assert_eq!(host.next_frame(), None);
    let status = host.wait_open();
    assert!(status.code().is_some(), "{status:?}");
}

#[test]
fn a_truncated_frame_then_end_of_input_ends_the_host_cleanly() {
    let (sandbox, _daemon) = demo();
    let mut host = sandbox.host();
    still_serves(&mut host);
    let mut partial = 100u32.to_ne_bytes().to_vec();
    partial.extend_from_slice(br#"{"id":9,"comm"#);
    host.send_raw(&partial).expect("write");
    host.close_stdin();
    assert_eq!(
        host.next_frame(),
        None,
        "nothing is answered for half a frame"
    );
    let status = host.wait();
    assert!(status.success(), "{status:?}");
}

#[test]
fn malformed_messages_are_refused_one_by_one() {
    let (sandbox, _daemon) = demo();
    let mut host = sandbox.host();

    host.send_frame(b"\xff\xfe{\"id\":1}");
    assert_bad_request(&host.recv(), Value::Null, None);
    still_serves(&mut host);

    host.send_frame(b"{\"id\": 2, \"command\": ");
    assert_bad_request(&host.recv(), Value::Null, None);
    host.send_frame(b"[1, 2, 3]");
    assert_bad_request(&host.recv(), Value::Null, None);
    host.send_frame(
        br#"{"id": 3, "id": 4, "command": "version", "origin": "https://www.example.gov.tw"}"#,
    );
    assert_bad_request(&host.recv(), Value::Null, None);
    still_serves(&mut host);

    // Wrong types: the id survives, the field is named, the value is not repeated.
    host.send(
        &json!({"id": 5, "command": "sign", "origin": SITE, "arguments": {
        "certificate": 12345, "data": b64(b"x"), "hashAlgorithm": "SHA-256", "format": "cms"}}),
    );
    assert_bad_request(&host.recv(), json!(5), Some("arguments.certificate"));
    host.send(&json!({"id": "six", "command": "status", "origin": SITE, "arguments": []}));
    assert_bad_request(&host.recv(), json!("six"), Some("arguments"));
    host.send(&json!({"id": 7, "command": 7, "origin": SITE}));
    assert_bad_request(&host.recv(), json!(7), Some("command"));
    host.send(&json!({"id": {"nested": true}, "command": "version", "origin": SITE}));
    assert_bad_request(&host.recv(), Value::Null, Some("id"));
    host.send(
        &json!({"id": 8, "command": "sign", "origin": SITE, "arguments": {
        "certificate": "ab".repeat(32), "data": b64(b"x"), "hashAlgorithm": "MD5",
        "format": "cms"}}),
    );
    assert_bad_request(&host.recv(), json!(8), Some("arguments.hashAlgorithm"));
    host.send(&json!({"id": 9, "command": "verify-pin", "origin": SITE,
                      "arguments": {"pin": "1".repeat(65)}}));
    let reply = host.recv();
    assert_bad_request(&reply, json!(9), Some("arguments.pin"));
    assert!(!reply.to_string().contains(&"1".repeat(65)), "{reply}");

    // Exactly one of data and hash.
    let sign = |id: i64, input: Value| {
        let mut args = json!({"certificate": "ab".repeat(32), "hashAlgorithm": "SHA-256",
                              "format": "pkcs1"});
        for (k, v) in input.as_object().expect("input") {
            args[k] = v.clone();
        }
        json!({"id": id, "command": "sign", "origin": SITE, "arguments": args})
    };
    host.send(&sign(16, json!({})));
    assert_bad_request(&host.recv(), json!(16), None);
    host.send(&sign(
        17,
        json!({"data": b64(b"x"), "hash": b64(&[0u8; 32])}),
    ));
    assert_bad_request(&host.recv(), json!(17), None);
    host.send(&sign(18, json!({"hash": b64(&[0u8; 20])})));
    assert_bad_request(&host.recv(), json!(18), Some("arguments.hash"));

    // Unknown command, unknown keys.
    host.send(&json!({"id": 10, "command": "format-card", "origin": SITE}));
    assert_bad_request(&host.recv(), json!(10), Some("command"));
    host.send(&json!({"id": 11, "command": "version", "origin": SITE, "extra": 1}));
    assert_bad_request(&host.recv(), json!(11), None);
    host.send(&json!({"id": 12, "command": "status", "origin": SITE,
                      "arguments": {"verbose": true}}));
    assert_bad_request(&host.recv(), json!(12), None);

    // Every page request carries the origin the extension took from the browser.
    host.send(&json!({"id": 13, "command": "version"}));
    assert_bad_request(&host.recv(), json!(13), Some("origin"));
    host.send(&json!({"id": 14, "command": "get-certificates", "origin": "javascript:alert(1)"}));
    assert_bad_request(&host.recv(), json!(14), None);
    host.send(&json!({"id": 15, "command": "get-certificates", "origin": "https://www.example.gov.tw/path"}));
    assert_bad_request(&host.recv(), json!(15), None);

    still_serves(&mut host);
    assert!(host.wait().success());
}

#[test]
fn requests_may_be_split_across_writes_and_packed_together() {
    let (sandbox, _daemon) = demo();
    let mut host = sandbox.host();
    let frame = |id: i64| {
        let payload = serde_json::to_vec(&json!({"id": id, "command": "version", "origin": SITE}))
            .expect("json");
        let mut f = (payload.len() as u32).to_ne_bytes().to_vec();
        f.extend_from_slice(&payload);
        f
    };
    // Two frames in one write, then one frame a byte at a time.
    host.send_raw(&[frame(1), frame(2)].concat())
        .expect("write");
    for byte in frame(3) {
        host.send_raw(&[byte]).expect("write");
    }
    let mut ids: Vec<i64> = (0..3)
        .map(|_| host.recv()["id"].as_i64().expect("id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn an_unknown_extension_cannot_use_the_host() {
    // No daemon runs: the host must refuse before it connects to (or starts) one.
    let sandbox = Sandbox::new();
    for caller in [
        vec!["chrome-extension://abcdefghijklmnopabcdefghijklmnop/"],
        vec!["chrome-extension://short/"],
        vec![
            "/usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json",
            "evil@example.com",
        ],
        vec![],
    ] {
        let mut host = sandbox.host_as(&caller);
        let payload = serde_json::to_vec(&json!({"id": 1, "command": "version", "origin": SITE}))
            .expect("json");
        let mut frame = (payload.len() as u32).to_ne_bytes().to_vec();
        frame.extend_from_slice(&payload);
        // The host may already be gone: a broken pipe is an acceptable end.
        let _ = host.send_raw(&frame);
        assert_eq!(host.next_frame(), None, "{caller:?}: nothing is relayed");
        let log = host.log();
        let status = host.wait();
        assert!(!status.success(), "{caller:?}: {status:?}");
        assert!(!log.is_empty(), "{caller:?}: the host says why");
        if let Some(first) = caller.first().filter(|c| c.contains("abcdefgh")) {
            assert!(log.contains("not an allowed extension"), "{first}: {log}");
        }
    }
    assert!(
        !sandbox.lock_file().exists() && !sandbox.socket().exists(),
        "no daemon was started for a refused caller"
    );
}

#[test]
fn our_firefox_add_on_and_configured_extensions_are_allowed() {
    let other = "abcdefghijklmnopabcdefghijklmnop";
    let mut sandbox = Sandbox::new();
    sandbox.config(&format!(
        "{TRUSTED_CONFIG}allowed_extensions = [\"chrome-extension://{other}/\"]\n"
    ));
    let _daemon = sandbox.serve(&["--demo"]);
    for caller in [
        vec![
            "/usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json".to_owned(),
            card_agent::native_host::FIREFOX_ADDON_ID.to_owned(),
        ],
        vec![format!("chrome-extension://{other}/")],
        vec![
            card_agent_testbed::daemon::chrome_caller(),
            "--parent-window=0".to_owned(),
        ],
    ] {
        let caller: Vec<&str> = caller.iter().map(String::as_str).collect();
        let mut host = sandbox.host_as(&caller);
        still_serves(&mut host);
        assert!(host.wait().success(), "{caller:?}");
    }
}
