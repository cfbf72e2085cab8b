//! Bursts of requests against the real daemon (demo token), through the real native host
//! where tabs share one connection: requests wait in a queue per client, not on a thread each;
//! one tab's hundred signatures do not hold back another tab's login; a full queue answers
//! BUSY to its own tab only. Nothing here measures time: the checks are on the order of the
//! answers, their codes, and the daemon's thread count (/proc/<pid>/task).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use card_agent::work_queue::{BLOCKING_THREADS, PER_CLIENT_LIMIT, PER_CLIENT_RUNNING};
use card_agent_testbed::daemon::{Host, Sandbox, HANG_GUARD};
use card_agent_testbed::load::{self, Reply};
use card_agent_testbed::pin_gate::PinGate;
use serde_json::{json, Value};
use support::*;

const BUSY_TAB: &str = "https://busy.example.gov.tw";
const LOGIN_TAB: &str = "https://login.example.gov.tw";
const THIRD_TAB: &str = "https://third.example.gov.tw";

/// A page's sign request: no PIN (pages never send one; the agent's dialog asks).
fn page_sign(id: i64, origin: &str, thumbprint: &str, data: &str) -> Value {
    json!({"id": id, "command": "sign", "origin": origin,
           "arguments": {"certificate": thumbprint, "data": b64(data.as_bytes()),
                         "hashAlgorithm": "SHA-256", "format": "pkcs1"}})
}

/// A local program's sign request, with the PIN (local programs may send it).
fn local_sign(thumbprint: &str, data: &str) -> Value {
    json!({"command": "sign",
           "arguments": {"certificate": thumbprint, "data": b64(data.as_bytes()),
                         "hashAlgorithm": "SHA-256", "format": "pkcs1",
                         "pin": card_agent::demo::DEMO_PIN}})
}

/// The messages as the browser writes them to the native host: all in one write, so that they
/// reach the daemon together whatever the machine's load.
fn frames(messages: &[Value]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for m in messages {
        let payload = serde_json::to_vec(m).expect("JSON");
        bytes.extend_from_slice(&(payload.len() as u32).to_ne_bytes());
        bytes.extend_from_slice(&payload);
    }
    bytes
}

/// Takes the native host's next answer into `order` and `replies`, and returns its id.
fn receive(host: &mut Host, order: &mut Vec<i64>, replies: &mut HashMap<i64, Value>) -> i64 {
    let reply = host.recv();
    let id = reply["id"]
        .as_i64()
        .expect("every answer has its request's id");
    order.push(id);
    assert!(replies.insert(id, reply).is_none(), "answered twice: {id}");
    id
}

fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One tab sends a hundred signatures, then another tab (same browser, same native host
/// connection) sends one login. Each needs its PIN dialog (the fake pinentry types the PIN),
/// one dialog at a time. The login is answered after at most the signatures that were already
/// running, not after the hundred; the busy tab hears BUSY for what its queue cannot hold, and
/// everything else it asked is signed.
///
/// The busy tab's first dialog waits at a gate until the daemon has taken in every message, so
/// that nothing is signed before the login is queued, however slow the machine: the queue has
/// refused every signature beyond its bound, and a third tab's `status`, sent after the login,
/// has been answered on a free worker.
#[test]
fn a_tab_sending_a_hundred_signatures_does_not_hold_back_another_tabs_login() {
    let mut sandbox = Sandbox::new();
    sandbox
        .config(TRUSTED_CONFIG)
        .set_env("FAKE_PINENTRY_ACTION", "pin")
        .set_env("FAKE_PINENTRY_PIN", card_agent::demo::DEMO_PIN);
    let gate = PinGate::new(&mut sandbox);
    let daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    let thumbprint = demo_thumbprint(&mut host);

    gate.close();
    let mut messages: Vec<Value> = (1..=100)
        .map(|i| page_sign(i, BUSY_TAB, &thumbprint, &format!("busy {i}")))
        .collect();
    const LOGIN: i64 = 1000;
    const STATUS: i64 = 2000;
    messages.push(
        json!({"id": LOGIN, "command": "verify-pin", "origin": LOGIN_TAB,
                         "arguments": {}}),
    );
    messages.push(
        json!({"id": STATUS, "command": "status", "origin": THIRD_TAB,
                         "arguments": {}}),
    );
    host.send_raw(&frames(&messages))
        .expect("write to the native host");

    // Every answer, in the order the native host passes them on.
    let mut order = Vec::new();
    let mut replies = HashMap::new();
    // Each request runs as a task of its own, so the order in which they reach the work queue
    // is not the order they were read in: the third tab's `status` being answered does not
    // prove that every signature has reached the queue, but the queue's refusals do. With the
    // first dialog held nothing finishes, so exactly those beyond the bound are refused.
    let refused = |replies: &HashMap<i64, Value>| {
        (1..=100)
            .filter(|i| replies.get(i).is_some_and(|r| r.get("error").is_some()))
            .count()
    };
    while !replies.contains_key(&STATUS) || refused(&replies) < 100 - PER_CLIENT_LIMIT {
        receive(&mut host, &mut order, &mut replies);
    }
    // Every message is in: the "user" answers the first dialog, and the others at once.
    gate.open();
    drop(gate.dialog_up());
    while replies.len() < messages.len() {
        receive(&mut host, &mut order, &mut replies);
    }
    assert!(
        result(&replies[&STATUS]).is_object(),
        "{}",
        replies[&STATUS]
    );

    let login = &replies[&LOGIN];
    assert_eq!(result(login)["verified"], true, "{login}");
    let signed_before_login = order
        .iter()
        .take_while(|&&id| id != LOGIN)
        .filter(|id| replies[id].get("result").is_some() && **id != STATUS)
        .count();
    // The busy tab had at most its running requests ahead of the login (the rest waited in its
    // queue), and the dialog's and the token's turns are first come, first served.
    assert!(
        signed_before_login <= PER_CLIENT_RUNNING,
        "{signed_before_login} of the busy tab's signatures went before the other tab's login: {order:?}"
    );

    let busy: Vec<&Value> = (1..=100)
        .filter_map(|i| replies.get(&i))
        .filter(|r| r.get("error").is_some())
        .collect();
    for reply in &busy {
        assert_eq!(error_code(reply), "BUSY", "{reply}");
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{reply}");
    }
    // Nothing finished before every message was read: the queue took exactly its bound, and
    // every one it took is signed.
    assert_eq!(
        busy.len(),
        100 - PER_CLIENT_LIMIT,
        "BUSY answers: {order:?}"
    );

    // The busy tab is served again once its answers are out.
    let again = host.call_from(Some(BUSY_TAB), "status", json!({}));
    assert!(again.get("result").is_some(), "{again}");
    assert!(host.wait().success());
    drop(daemon);
}

/// Two hundred signatures at once from twenty local connections (local programs may send the
/// PIN, so no dialog opens): all signed, and the daemon never
/// runs more than its few workers' threads on top of what it had idle (it used to start a
/// thread for each waiting request: 204 at the peak).
#[test]
fn two_hundred_requests_at_once_run_on_a_bounded_number_of_threads() {
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG);
    let daemon = sandbox.serve(&["--demo"]);
    let mut host = sandbox.host();
    let thumbprint = demo_thumbprint(&mut host);
    assert!(host.wait().success());
    let pid = daemon.pid();
    let idle = threads_of(pid);
    assert!(idle > 0, "cannot read /proc/{pid}/task");

    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(threads_of(pid));
                std::thread::yield_now();
            }
            peak
        })
    };
    let outcomes = load::run(
        &sandbox.socket(),
        20,
        10,
        move |c, i| local_sign(&thumbprint, &format!("load {c}/{i}")),
        HANG_GUARD,
    );
    done.store(true, Ordering::SeqCst);
    let peak = watcher.join().expect("watcher");

    assert_eq!(outcomes.len(), 200);
    for o in &outcomes {
        match &o.reply {
            Reply::Ok(r) => assert!(r["signature"].is_string(), "{o:?}"),
            other => panic!("request {}/{}: {other:?}", o.connection, o.index),
        }
    }
    assert!(
        peak <= idle + BLOCKING_THREADS,
        "{peak} threads at the peak, {idle} idle: more than the {BLOCKING_THREADS} blocking threads the daemon allows"
    );
    eprintln!("threads: {idle} idle, {peak} at the peak of 200 concurrent signatures");
}
