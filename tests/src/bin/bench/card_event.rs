//! Measure 3: card insertion → event delivered to a subscriber. A native host subscribes
//! (protocol `subscribe`), the vpcd virtual card is inserted, and the time until the host
//! writes the `card-inserted` frame is measured.
//!
//! To tell pcscd's share from the agent's, the bench also runs its own PC/SC watcher
//! (`card_agent::reader::Watcher`, blocked in SCardGetStatusChange like the daemon's): it
//! wakes when pcscd reports the card, so insertion → bench watcher is pcscd's detection time
//! and bench watcher → host frame is the agent's (daemon wake-up, broadcast, IPC, native host).
//! Each insertion waits a random 0–500 ms first, so it lands at a random point of any polling
//! period instead of just after the previous removal was noticed.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use card_agent::reader::{ReaderEvent, Watcher, MOICA_GEN1_ATR};
use card_agent_testbed::pcscd;
use card_agent_testbed::virtual_card::{VirtualCard, PORT_0, READER_0};
use rand::Rng;
use serde_json::json;

use crate::setup::{self, AgentDaemon, Fixtures, HostProcess};
use crate::stats::{self, fmt, Samples};

const RUNS: usize = 24;
/// Longest wait for another test run to release the vpcd readers.
const LOCK_WAIT: Duration = Duration::from_secs(180);
/// Longest wait for pcscd to notice a card coming or going (a guard, not a limit).
const NOTICE: Duration = Duration::from_secs(10);

pub fn run(fixtures: &Fixtures) -> Result<(), String> {
    let name = "card insertion → event at the subscriber (median)";
    let skip = |why: &str| {
        stats::goal(
            name,
            "< 50 ms",
            "-".to_owned(),
            stats::Verdict::Skipped(why.to_owned()),
        )
    };
    if let Err(e) = pcscd::ensure_pcscd() {
        skip(&format!(
            "pcscd with the vpcd readers is not available: {e}"
        ));
        return Err(e);
    }
    let hsm = fixtures.hsm().inspect_err(|e| skip(e))?;
    let _readers = lock_readers(LOCK_WAIT).inspect_err(|e| skip(e))?;
    let agent = AgentDaemon::start(hsm)?;
    let mut host = agent.host()?;
    setup::expect_result(
        &host
            .call(&json!({"id": 1, "command": "subscribe", "origin": setup::ORIGIN}))?
            .1,
    )?;

    let (tx, seen) = mpsc::channel();
    let watcher = Watcher::spawn(move |event| {
        let at = Instant::now();
        let what = match event {
            ReaderEvent::CardInserted { reader, .. } if reader == READER_0 => "in",
            ReaderEvent::CardRemoved { reader } if reader == READER_0 => "out",
            _ => return,
        };
        let _ = tx.send((at, what));
    })
    .map_err(|e| e.to_string())?;
    // A card an earlier run left may still show until pcscd notices it is gone.
    if watcher
        .initial()
        .iter()
        .any(|r| r.name == READER_0 && r.card_present)
    {
        wait_watch(&seen, "out")?;
        wait_host(&mut host, "card-removed")?;
    }

    let (mut to_host, mut to_pcscd, mut agent_share, mut removal) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    let mut rng = rand::thread_rng();
    for _ in 0..RUNS {
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..=500)));
        let t0 = Instant::now();
        let card = VirtualCard::insert(PORT_0, &MOICA_GEN1_ATR).map_err(|e| e.to_string())?;
        let at_host = wait_host(&mut host, "card-inserted")?;
        let at_watch = wait_watch(&seen, "in")?;
        to_host.push(at_host.duration_since(t0));
        to_pcscd.push(at_watch.duration_since(t0));
        // The two wake up on the same pcscd notification; the host's frame cannot come first.
        agent_share.push(at_host.saturating_duration_since(at_watch));
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..=500)));
        let t1 = Instant::now();
        card.remove();
        let out_host = wait_host(&mut host, "card-removed")?;
        wait_watch(&seen, "out")?;
        removal.push(out_host.duration_since(t1));
    }
    watcher.stop();
    drop(host);

    stats::table("3. Card insertion → event (vpcd virtual card, subscribed native host)");
    stats::report(
        "insertion → `card-inserted` frame from the native host",
        &to_host,
    );
    stats::report(
        "insertion → pcscd reports it (the bench's own SCardGetStatusChange)",
        &to_pcscd,
    );
    stats::report(
        "pcscd reports it → frame from the native host (the agent's share)",
        &agent_share,
    );
    stats::report(
        "removal → `card-removed` frame from the native host",
        &removal,
    );
    let (lo, hi) = to_pcscd.range();
    stats::note(&format!(
        "pcscd's detection ranges from {} to {}: pcscd polls the vpcd driver for presence \
         (it has no interrupt source), so an insertion waits for the next poll. The agent's \
         share is the daemon's SCardGetStatusChange wake-up plus the IPC and native host hops.",
        fmt(lo),
        fmt(hi)
    ));
    let median = to_host.median();
    stats::goal_check(
        name,
        "< 50 ms",
        format!(
            "{} (pcscd's detection {}, the agent's share {})",
            fmt(median),
            fmt(to_pcscd.median()),
            fmt(agent_share.median())
        ),
        median < Duration::from_millis(50),
        if to_pcscd.median() > agent_share.median() {
            "pcscd's detection (its presence poll of the vpcd reader) dominates"
        } else {
            "the agent's share dominates"
        },
    );
    Ok(())
}

/// When the host wrote the next `kind` event for the virtual reader.
fn wait_host(host: &mut HostProcess, kind: &str) -> Result<Instant, String> {
    let deadline = Instant::now() + NOTICE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (at, frame) = host
            .next_event(left)
            .map_err(|e| format!("waiting for {kind}: {e}"))?;
        if frame["event"]["type"] == kind && frame["event"]["reader"] == READER_0 {
            return Ok(at);
        }
    }
}

/// When the bench's watcher saw the next `what` ("in" or "out") on the virtual reader.
fn wait_watch(seen: &mpsc::Receiver<(Instant, &str)>, what: &str) -> Result<Instant, String> {
    let deadline = Instant::now() + NOTICE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (at, w) = seen
            .recv_timeout(left)
            .map_err(|_| format!("pcscd reported no card {what} within {NOTICE:?}"))?;
        if w == what {
            return Ok(at);
        }
    }
}

/// Exclusive use of the vpcd readers: the same cross-process lock file as
/// `pcscd::lock_virtual_readers`, but waited for at most `limit`, naming the processes that
/// hold the file open when it is not released in time.
fn lock_readers(limit: Duration) -> Result<std::fs::File, String> {
    let path = std::env::temp_dir().join("card-agent-vpcd.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let deadline = Instant::now() + limit;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                // flock offers no timed wait; check again shortly.
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "the vpcd readers stayed locked ({}) for {limit:?}; processes holding the \
                     lock file open: {}",
                    path.display(),
                    holders(&path)
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()))
            }
        }
    }
}

/// "PID (name)" of every process with `path` open, from /proc.
fn holders(path: &std::path::Path) -> String {
    let mut found = Vec::new();
    for proc_dir in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = proc_dir.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let open = std::fs::read_dir(proc_dir.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path));
        if open {
            let name = std::fs::read_to_string(proc_dir.path().join("comm")).unwrap_or_default();
            found.push(format!("{pid} ({})", name.trim()));
        }
    }
    found.join(", ")
}
