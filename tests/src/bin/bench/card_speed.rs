//! Measure 7: what a person waits for with a real card. The daemon's module is the wrapper
//! (`tests/p11-wrap`) in front of the run's SoftHSM2 token, slowed down to a smart card's
//! pace ([`CARD`]); pages sign through the real native host, and the agent's PIN dialog is the
//! scripted pinentry, which types the PIN at once (a person takes longer; that time is not
//! the agent's). The wrapper logs every certificate read (a CKA_VALUE read), so duplicate reads
//! show as counts, not as times.
//!
//! - Insertion → first certificate list: the card is out when a fresh daemon starts (nothing
//!   remembered, as after the reader event that makes the daemon forget); it goes back in and
//!   the page asks for the certificates, as the extension does on `card-inserted`. The wrapper's
//!   removal sends no reader event, so each run starts its own daemon.
//! - Login to signature: a page's sign, from the request to the signature (dialog, login,
//!   signature), and a local program's (PIN in the request: login and signature only).
//! - Five tabs signing at once: five origins on one native host connection, each one sign, on a
//!   fresh daemon (no certificate remembered): each tab's wait, the order of the answers, and
//!   how often the card's certificates were read.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use card_agent_protocol::encoding::encode_base64;
use card_agent_testbed::p11_wrap::{self, Wrapper, CONTROL_ENV};
use card_agent_testbed::softhsm::{self, SoftHsm};
use serde_json::{json, Value};

use crate::setup::{self, AgentDaemon, Fixtures, WAIT};
use crate::stats::{self, fmt, Samples};

/// A HiCOS-class card's pace: an RSA-2048 signature on the chip, a PIN VERIFY, and one
/// attribute read (a certificate is a few READ BINARY APDUs).
const CARD: &str = "sign_ms = 300\nlogin_ms = 30\nread_ms = 20\n";
/// The card's own time for one signature: login + sign, as in [`CARD`].
const CARD_SIGN_MS: u64 = 330;
/// Insertions (each on a fresh daemon), signatures per path, and five-tab rounds.
const INSERTIONS: usize = 5;
const SIGNS: usize = 5;
const TAB_ROUNDS: usize = 3;
const TABS: usize = 5;

pub fn run(fixtures: &Fixtures) -> Result<(), String> {
    let hsm = fixtures.hsm()?;
    let wrap = Wrapper::new(hsm.dir());
    wrap.set(CARD);
    let thumb = setup::sign_thumbprint(hsm)?;
    println!(
        "\n### 7. Card speed (the wrapper module over SoftHSM2: `{}`)",
        CARD.trim().replace('\n', ", ")
    );
    insertion(hsm, &wrap)?;
    login_to_signature(hsm, &wrap, &thumb)?;
    five_tabs(hsm, &wrap, &thumb)?;
    wrap.reinsert();
    wrap.set("");
    Ok(())
}

/// The daemon with the wrapper as its module and the scripted PIN dialog.
fn daemon(hsm: &SoftHsm, wrap: &Wrapper) -> Result<AgentDaemon, String> {
    let module = p11_wrap::module();
    AgentDaemon::start_with(hsm, |sandbox| {
        sandbox
            .set_env("CARD_AGENT_PKCS11_MODULE", &module)
            .set_env(CONTROL_ENV, wrap.control())
            .set_env("FAKE_PINENTRY_ACTION", "pin")
            .set_env("FAKE_PINENTRY_PIN", softhsm::USER_PIN);
    })
}

/// A sub-table of this section.
fn table(title: &str) {
    println!("\n#### {title}\n\n| operation | runs | median | p95 |\n|---|---|---|---|");
}

fn tab(n: usize) -> String {
    format!("https://tab{n}.example.gov.tw")
}

fn list(id: u64) -> Value {
    json!({"id": id, "command": "get-certificates", "origin": tab(0)})
}

/// A page's sign: no PIN (pages never send one; the agent's dialog asks).
fn page_sign(id: u64, origin: &str, thumb: &str) -> Value {
    json!({"id": id, "command": "sign", "origin": origin, "arguments": {
        "certificate": thumb, "data": encode_base64(&setup::sign_data()),
        "hashAlgorithm": "SHA-256", "format": "pkcs1"}})
}

fn certificates(reply: &Value) -> Result<usize, String> {
    setup::expect_result(reply)?["certificates"]
        .as_array()
        .map(Vec::len)
        .ok_or_else(|| format!("no certificate list: {reply}"))
}

fn insertion(hsm: &SoftHsm, wrap: &Wrapper) -> Result<(), String> {
    let (mut first, mut again) = (Samples::default(), Samples::default());
    let (mut reads, mut count) = (Vec::new(), 0);
    for _ in 0..INSERTIONS {
        wrap.remove();
        let agent = daemon(hsm, wrap)?;
        let mut host = agent.host()?;
        // With the card out the list is empty (or an error): nothing is remembered.
        host.call(&list(1))?;
        wrap.clear_log();
        wrap.reinsert();
        let t = Instant::now();
        let (at, reply) = host.call(&list(2))?;
        count = certificates(&reply)?;
        if count == 0 {
            return Err(format!("no certificate after the card came back: {reply}"));
        }
        first.push(at - t);
        reads.push(wrap.value_reads());
        let t = Instant::now();
        let (at, reply) = host.call(&list(3))?;
        certificates(&reply)?;
        again.push(at - t);
    }
    table("card back in → first certificate list (fresh daemon each time)");
    stats::report(
        &format!("card back in → `get-certificates` answered ({count} certificates)"),
        &first,
    );
    stats::report("the next `get-certificates` (remembered)", &again);
    stats::note(&format!(
        "Certificate reads (CKA_VALUE) per first list, {INSERTIONS} insertions: {reads:?} for {count} certificates."
    ));
    stats::goal(
        "card speed: card back in → first certificate list (median)",
        "report",
        format!(
            "{} ({count} certificates, reads per list {reads:?}); remembered {}",
            fmt(first.median()),
            fmt(again.median())
        ),
        stats::Verdict::Info,
    );
    Ok(())
}

fn login_to_signature(hsm: &SoftHsm, wrap: &Wrapper, thumb: &str) -> Result<(), String> {
    let agent = daemon(hsm, wrap)?;
    let mut host = agent.host()?;
    certificates(&host.call(&list(1))?.1)?;
    let mut ipc = agent.ipc()?;
    let data_b64 = encode_base64(&setup::sign_data());
    wrap.clear_log();
    let (mut page, mut local) = (Samples::default(), Samples::default());
    for i in 0..SIGNS as u64 {
        let t = Instant::now();
        let (at, reply) = host.call(&page_sign(10 + i, &tab(1), thumb))?;
        setup::expect_result(&reply)?;
        page.push(at - t);
        let t = Instant::now();
        setup::expect_result(&ipc.call(&setup::sign_request(20 + i, thumb, &data_b64))?)?;
        local.push(t.elapsed());
    }
    table("login to signature (certificates remembered)");
    stats::report(
        "a page's sign: request → PIN dialog (typed at once) → login → signature",
        &page,
    );
    stats::report(
        "a local program's sign (PIN in the request): login → signature",
        &local,
    );
    stats::note(&format!(
        "The card's own part is {CARD_SIGN_MS} ms (login + signature); certificate reads during \
         these {} signatures: {}; logins: {}.",
        2 * SIGNS,
        wrap.value_reads(),
        wrap.logins().len()
    ));
    stats::goal(
        "card speed: login to signature (median)",
        "report",
        format!(
            "page {} (dialog included), local {}; the card's own {CARD_SIGN_MS} ms",
            fmt(page.median()),
            fmt(local.median())
        ),
        stats::Verdict::Info,
    );
    Ok(())
}

/// What one five-tab round saw.
struct Round {
    /// Each tab's wait, in the order the answers came, as (tab, wait).
    answers: Vec<(usize, Duration)>,
    /// Certificate reads (CKA_VALUE) during the round.
    reads: usize,
    /// Certificates on the card.
    certificates: usize,
}

/// One round: five tabs sign at once on a fresh daemon.
fn tabs_round(hsm: &SoftHsm, wrap: &Wrapper, thumb: &str) -> Result<Round, String> {
    let agent = daemon(hsm, wrap)?;
    let mut host = agent.host()?;
    host.call(&json!({"id": 1, "command": "version"}))?;
    wrap.clear_log();
    let t0 = Instant::now();
    for n in 1..=TABS {
        host.send(&page_sign(100 + n as u64, &tab(n), thumb))?;
    }
    let mut answers = Vec::new();
    let mut seen = HashMap::new();
    while answers.len() < TABS {
        let (at, frame) = host.recv(WAIT)?;
        if frame.get("event").is_some() {
            continue;
        }
        setup::expect_result(&frame)?;
        let n = frame["id"].as_u64().unwrap_or(0).saturating_sub(100) as usize;
        if !(1..=TABS).contains(&n) || seen.insert(n, ()).is_some() {
            return Err(format!("an unexpected answer: {frame}"));
        }
        answers.push((n, at - t0));
    }
    let reads = wrap.value_reads();
    let certificates = certificates(&host.call(&list(2))?.1)?;
    Ok(Round {
        answers,
        reads,
        certificates,
    })
}

fn five_tabs(hsm: &SoftHsm, wrap: &Wrapper, thumb: &str) -> Result<(), String> {
    println!(
        "\n#### five tabs at once\n\n{TABS} tabs sign at once, one signature each (one native host, a fresh daemon each \
         round, no certificate remembered); each tab's wait from the first request:\n\n\
         | round | answers in order (tab: wait) | last answer | certificate reads |\n|---|---|---|---|"
    );
    let mut lasts = Samples::default();
    let mut all_reads = Vec::new();
    let mut read_once = true;
    for round in 1..=TAB_ROUNDS {
        let Round {
            answers,
            reads,
            certificates,
        } = tabs_round(hsm, wrap, thumb)?;
        let last = answers.last().map(|a| a.1).unwrap_or_default();
        lasts.push(last);
        all_reads.push(reads);
        read_once &= reads <= certificates;
        let list = answers
            .iter()
            .map(|(n, d)| format!("{n}: {}", fmt(*d)))
            .collect::<Vec<_>>()
            .join(", ");
        println!("| {round} | {list} | {} | {reads} |", fmt(last));
    }
    // Every tab answered (tabs_round fails otherwise), so none was starved; the goal checked
    // here is that the card's certificates were read at most once each per round.
    stats::goal_check(
        "card speed: 5 tabs signing at once",
        "all answered, each certificate read at most once",
        format!(
            "all {TABS} answered in every round, last after {} (median); certificate reads per round {all_reads:?}",
            fmt(lasts.median())
        ),
        read_once,
        "a certificate was read more than once in a round",
    );
    Ok(())
}
