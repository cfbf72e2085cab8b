//! The daemon's life as the native host sees it: started on demand, one per user, stopped by
//! SIGTERM, replacing a crashed one's socket, serving two hosts at once, and pushing card events
//! from pcscd + vpcd to a subscribed host.

mod support;

use std::thread;

use card_agent::reader::MOICA_GEN1_ATR;
use card_agent_testbed::daemon::Sandbox;
use card_agent_testbed::pcscd;
use card_agent_testbed::softhsm::{Options, SoftHsm};
use card_agent_testbed::virtual_card::{VirtualCard, PORT_0, READER_0};
use serde_json::{json, Value};
use support::*;

/// The process group of `pid` (Linux /proc).
fn process_group(pid: &str) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after the last ')'.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    rest.split(' ').nth(2).expect("pgrp").to_owned()
}

#[test]
fn the_host_starts_a_daemon_when_none_runs() {
    let hsm = SoftHsm::new(Options::default());
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG).softhsm(&hsm);
    assert!(!sandbox.socket().exists());

    let mut host = sandbox.host();
    let reply = host.call("get-certificates", json!({}));
    let listed = result(&reply)["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .any(|c| c["sha256"] == sha256_hex(&hsm.sign_cert).as_str());
    assert!(
        listed,
        "the autostarted daemon serves the configured token: {reply}"
    );
    let pid = std::fs::read_to_string(sandbox.lock_file()).expect("lock file");
    let pid = pid.trim().to_owned();
    // Its own process group: closing the browser (which signals the host's group) leaves it.
    assert_eq!(process_group(&pid), pid);
    // It runs with the allocator settings that give a burst's memory back
    // (card_agent::allocator). glibc cuts the variable at its separators in place while it
    // reads it, so each setting is looked for on its own.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("the daemon's environment");
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.contains("\0GLIBC_TUNABLES=") || environ.starts_with("GLIBC_TUNABLES="));
    for setting in card_agent::allocator::GLIBC_TUNABLES.split(':') {
        assert!(environ.contains(setting), "{setting} in {environ:?}");
    }
    assert!(host.wait().success());

    // It outlives the host: the next host talks to the same daemon.
    let mut host = sandbox.host();
    let reply = host.call("version", json!({}));
    result(&reply);
    assert_eq!(
        std::fs::read_to_string(sandbox.lock_file())
            .expect("lock file")
            .trim(),
        pid
    );
    assert!(host.wait().success());

    assert!(sandbox.stop_foreign_daemon(), "the daemon was running");
    assert!(
        !sandbox.socket().exists(),
        "a stopped daemon removes its socket"
    );
}

#[test]
fn a_second_daemon_for_the_same_user_refuses_to_start() {
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG);
    let first = sandbox.serve(&["--demo"]);
    let failed = match sandbox.try_serve(&["--demo"]) {
        Ok(_) => panic!("a second daemon started"),
        Err(failed) => failed,
    };
    assert!(!failed.status.success(), "{failed:?}");
    assert!(
        failed.stderr.contains("already running")
            && failed.stderr.contains(&first.pid().to_string()),
        "the refusal names the running daemon: {}",
        failed.stderr
    );
    // The loser left the winner's socket alone.
    let mut host = sandbox.host();
    result(&host.call("version", json!({})));
    assert!(host.wait().success());

    // SIGTERM stops the daemon cleanly and removes its socket; then a new one may start.
    assert!(first.stop().success());
    assert!(!sandbox.socket().exists());
    let _second = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    result(&host.call("version", json!({})));
}

#[test]
fn a_crashed_daemon_is_replaced() {
    let mut sandbox = Sandbox::new();
    // The autostarted replacement serves no token at all: only the socket matters here.
    sandbox
        .config(TRUSTED_CONFIG)
        .set_env("CARD_AGENT_PKCS11_MODULE", "/nonexistent/libnone.so");
    let daemon = sandbox.serve(&["--demo"]);
    card_agent_testbed::daemon::crash(daemon.pid());
    // Reaped by stop(); the socket file stays behind, as after any crash.
    let _ = daemon.stop();
    assert!(sandbox.socket().exists());
    // A host finds nobody listening on the stale socket and starts a daemon that replaces it.
    let mut host = sandbox.host();
    result(&host.call("version", json!({})));
    assert!(host.wait().success());
    assert!(sandbox.stop_foreign_daemon());
}

#[test]
fn two_hosts_at_once_each_get_their_own_answers() {
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG);
    // Pages never send the PIN: the user types it in the agent's dialog, for each signature.
    sandbox.set_env("FAKE_PINENTRY_PIN", card_agent::demo::DEMO_PIN);
    let _daemon = sandbox.serve(&["--demo"]);
    const N: i64 = 20;
    let mut a = sandbox.host();
    let mut b = sandbox.host();
    let thumbprint = {
        let reply = b.call("get-certificates", json!({}));
        result(&reply)["certificates"]
            .as_array()
            .expect("certificates")
            .iter()
            .find(|c| c["pkcs11Id"] == hex::encode("SIGN"))
            .expect("signing certificate")["sha256"]
            .as_str()
            .expect("sha256")
            .to_owned()
    };
    // Both hosts use the same ids; A asks for versions, B for signatures and certificates, all
    // sent before any answer is read so the daemon has them in flight together.
    let a_thread = thread::spawn(move || {
        for id in 1..=N {
            a.send(&json!({"id": id, "command": "version", "origin": SITE}));
        }
        let mut seen = Vec::new();
        for _ in 1..=N {
            let reply = a.recv();
            assert_eq!(result(&reply)["name"], "card-agent", "{reply}");
            seen.push(reply["id"].as_i64().expect("id"));
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..=N).collect::<Vec<_>>());
        a
    });
    let b_thread = thread::spawn(move || {
        for id in 1..=N {
            let message = if id % 2 == 0 {
                json!({"id": id, "command": "sign", "origin": SITE, "arguments": {
                    "certificate": thumbprint, "data": b64(format!("data {id}").as_bytes()),
                    "hashAlgorithm": "SHA-256", "format": "pkcs1"}})
            } else {
                json!({"id": id, "command": "get-certificates", "origin": SITE})
            };
            b.send(&message);
        }
        let mut seen = Vec::new();
        for _ in 1..=N {
            let reply = b.recv();
            let id = reply["id"].as_i64().expect("id");
            let r = result(&reply);
            if id % 2 == 0 {
                assert_eq!(r["format"], "pkcs1", "{reply}");
            } else {
                assert!(r["certificates"].is_array(), "{reply}");
            }
            seen.push(id);
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..=N).collect::<Vec<_>>());
        b
    });
    let a = a_thread.join().expect("host A");
    let b = b_thread.join().expect("host B");
    assert!(a.wait().success());
    assert!(b.wait().success());
}

/// Events about `reader` only, skipping any other reader's.
fn next_event_for(host: &mut card_agent_testbed::daemon::Host, reader: &str) -> Value {
    loop {
        let event = host.next_event();
        if event["event"]["reader"] == reader {
            return event["event"].clone();
        }
    }
}

#[test]
fn card_events_reach_a_subscribed_host() {
    pcscd::ensure_pcscd().expect("pcscd with the vpcd readers");
    let _readers = pcscd::lock_virtual_readers().expect("exclusive use of the vpcd readers");
    // A real daemon (not the demo) with a module that has no token: only events matter here.
    let mut sandbox = Sandbox::new();
    let tokens = sandbox.dir().join("tokens");
    std::fs::create_dir(&tokens).expect("token dir");
    let conf = sandbox.dir().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    sandbox
        .config(TRUSTED_CONFIG)
        .set_env(
            "CARD_AGENT_PKCS11_MODULE",
            card_agent_testbed::softhsm::SOFTHSM_MODULE,
        )
        .set_env("SOFTHSM2_CONF", &conf);
    let _daemon = sandbox.serve(&[]);
    let mut host = sandbox.host();
    let mut quiet = sandbox.host();
    assert_eq!(
        result(&host.call("subscribe", json!({})))["subscribed"],
        true
    );
    assert_eq!(
        result(&quiet.call("subscribe", json!({})))["subscribed"],
        true
    );
    assert_eq!(
        result(&quiet.call("unsubscribe", json!({})))["subscribed"],
        false
    );

    // A card an earlier test removed may still show in the reader until pcscd notices; insert
    // ours only once it has, or pcscd might never see a change. Subscribed first, so the
    // removal is either in the status or on its way as an event.
    let status = host.call("status", json!({}));
    let stale = result(&status)["readers"]
        .as_array()
        .expect("readers")
        .iter()
        .any(|r| r["name"] == READER_0 && r["cardPresent"] == true);
    if stale {
        let removed = next_event_for(&mut host, READER_0);
        assert_eq!(removed["type"], "card-removed", "{removed}");
    }

    let card = VirtualCard::insert(PORT_0, &MOICA_GEN1_ATR).expect("insert a virtual card");
    // A removal reported between the status and now comes first.
    let inserted = loop {
        let event = next_event_for(&mut host, READER_0);
        if event["type"] == "card-inserted" {
            break event;
        }
        assert_eq!(event["type"], "card-removed", "{event}");
    };
    assert_eq!(inserted["cardFamily"], "MOICA", "{inserted}");
    assert_eq!(
        inserted["atr"],
        hex::encode_upper(MOICA_GEN1_ATR),
        "{inserted}"
    );

    // While subscribed, requests are still answered (events may come first).
    let status = host.call("status", json!({}));
    let reader = result(&status)["readers"]
        .as_array()
        .expect("readers")
        .iter()
        .find(|r| r["name"] == READER_0)
        .cloned()
        .unwrap_or_else(|| panic!("{READER_0} is listed: {status}"));
    assert_eq!(reader["cardPresent"], true, "{reader}");
    assert_eq!(reader["cardFamily"], "MOICA", "{reader}");

    card.remove();
    let removed = next_event_for(&mut host, READER_0);
    assert_eq!(removed["type"], "card-removed", "{removed}");

    // The host that unsubscribed got none of it: its next frame answers its request.
    let id = quiet.next_id();
    quiet.send(&json!({"id": id, "command": "version", "origin": SITE}));
    let frame = quiet.recv();
    assert_eq!(frame["id"], id, "no event after unsubscribe: {frame}");
    assert!(quiet.wait().success());
    assert!(host.wait().success());
}

#[test]
fn two_hosts_starting_at_once_share_one_daemon() {
    let mut sandbox = Sandbox::new();
    sandbox
        .config(TRUSTED_CONFIG)
        .set_env("CARD_AGENT_PKCS11_MODULE", "/nonexistent/libnone.so");
    let mut hosts = [sandbox.host(), sandbox.host()];
    for host in &mut hosts {
        host.send(&json!({"id": 1, "command": "version", "origin": SITE}));
    }
    for host in &mut hosts {
        let reply = host.recv();
        assert_eq!(result(&reply)["protocol"], 1, "{reply}");
    }
    let pid = std::fs::read_to_string(sandbox.lock_file()).expect("lock file");
    for host in hosts {
        assert!(host.wait().success());
    }
    // The loser of the race exited; the winner still serves.
    let mut host = sandbox.host();
    result(&host.call("version", json!({})));
    assert_eq!(
        std::fs::read_to_string(sandbox.lock_file()).expect("lock file"),
        pid
    );
    assert!(host.wait().success());
    assert!(sandbox.stop_foreign_daemon());
}

#[test]
fn a_daemon_that_cannot_start_is_an_error_not_silence() {
    let mut sandbox = Sandbox::new();
    sandbox.config("trusted_site = [\"https://*.example.gov.tw\"]\n");
    // The host autostarts a daemon, which refuses the config (a misspelt key) and exits.
    let mut host = sandbox.host();
    let reply = host.call("version", json!({}));
    assert_eq!(error_code(&reply), "INTERNAL", "{reply}");
    let reply = host.call("get-certificates", json!({}));
    assert_eq!(error_code(&reply), "INTERNAL", "{reply}");
    assert!(host.wait().success());
    let failed = sandbox
        .try_serve(&[])
        .map(|_| ())
        .expect_err("the config is refused");
    assert!(failed.stderr.contains("trusted_site"), "{}", failed.stderr);
}

#[test]
fn the_host_ends_when_its_daemon_goes_away() {
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG);
    let daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    result(&host.call("version", json!({})));
    card_agent_testbed::daemon::crash(daemon.pid());
    let _ = daemon.stop();
    // The browser must hear that the connection is gone (the port disconnects), rather than
    // have later requests vanish; reconnecting then starts a new daemon.
    assert_eq!(host.next_frame(), None);
    let status = host.wait_open();
    assert!(status.code().is_some(), "{status:?}");
}

#[test]
fn logs_are_plain_text_when_not_on_a_terminal() {
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG);
    let daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    // Something logged at info: a failed request.
    let reply = host.call_typing("verify-pin", json!({}), "975310");
    assert_eq!(error_code(&reply), "PIN_INCORRECT");
    assert!(host.wait().success());
    assert!(daemon.stop().success());
    for (path, text) in sandbox.logs() {
        assert!(
            !text.contains('\u{1b}'),
            "{}: terminal escape codes in a log file:\n{text}",
            path.display()
        );
    }
    assert!(
        sandbox
            .logs()
            .iter()
            .any(|(_, text)| text.contains("PIN_INCORRECT")),
        "the failure was logged"
    );
}

#[test]
fn local_clients_on_the_socket() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let mut sandbox = Sandbox::new();
    sandbox.config("");
    let _daemon = sandbox.serve(&["--demo"]);
    let mode = std::fs::metadata(sandbox.socket())
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "socket private to the user: {mode:o}");
    let dir_mode = std::fs::metadata(sandbox.runtime_dir())
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o077, 0, "{dir_mode:o}");

    let guard = Some(card_agent_testbed::daemon::HANG_GUARD);
    let mut stream = std::os::unix::net::UnixStream::connect(sandbox.socket()).expect("connect");
    stream.set_read_timeout(guard).expect("timeout");
    // A local client has no origin, and no site policy applies (nothing is trusted here).
    let reply =
        socket_call(&mut stream, br#"{"id":1,"command":"get-certificates"}"#).expect("reply");
    assert!(result(&reply)["certificates"].is_array(), "{reply}");
    let reply = socket_call(
        &mut stream,
        br#"{"id":2,"command":"verify-pin","arguments":{"pin":"123456"}}"#,
    )
    .expect("reply");
    assert_eq!(result(&reply)["verified"], true);
    // But a token for a site needs the site.
    let nonce = b64(&[9u8; 32]);
    let reply = socket_call(
        &mut stream,
        format!(r#"{{"id":3,"command":"authenticate","arguments":{{"challengeNonce":"{nonce}","pin":"123456"}}}}"#)
            .as_bytes(),
    )
    .expect("reply");
    assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
    assert_eq!(sandbox.pinentry_log(), "", "no dialog for local clients");

    // The daemon enforces the frame bound itself, and closes after a bad frame.
    let mut stream = std::os::unix::net::UnixStream::connect(sandbox.socket()).expect("connect");
    stream.set_read_timeout(guard).expect("timeout");
    stream
        .write_all(&(2u32 * 1024 * 1024).to_ne_bytes())
        .expect("write");
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).expect("an error frame");
    let mut payload = vec![0u8; u32::from_ne_bytes(length) as usize];
    stream.read_exact(&mut payload).expect("payload");
    let reply: Value = serde_json::from_slice(&payload).expect("JSON");
    assert_eq!(error_code(&reply), "BAD_REQUEST", "{reply}");
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).expect("end of stream"), 0);
}

#[test]
fn an_unreadable_approvals_file_stops_the_daemon_with_its_name() {
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG);
    let file = sandbox.approvals_file();
    std::fs::create_dir_all(file.parent().expect("state dir")).expect("mkdir");
    std::fs::write(&file, "{\"version\": 1, \"sites\": [").expect("write");
    let failed = sandbox
        .try_serve(&["--demo"])
        .map(|_| ())
        .expect_err("a corrupt approvals file is refused");
    assert!(!failed.status.success());
    assert!(
        failed.stderr.contains("trusted-sites.json"),
        "{}",
        failed.stderr
    );
    // Never silently replaced by an empty list.
    assert_eq!(
        std::fs::read_to_string(&file).expect("still there"),
        "{\"version\": 1, \"sites\": ["
    );
}
