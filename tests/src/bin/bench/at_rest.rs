//! Measure 4: the daemon at rest. Resident memory (VmRSS, the anonymous part of it, and the
//! peak VmHWM) of an idle `card-agent serve` on the SoftHSM token after start-up, after its
//! first signature and after the 200-request load;
//! wake-ups with nothing happening: the sum of voluntary and involuntary context switches of
//! every thread (/proc/PID/task/*/status) across an idle window, without and with a subscribed
//! native host, with pcscd running with its vpcd readers.
//!
//! Before each window the daemon settles for longer than tokio keeps an idle blocking thread
//! (10 s), so a thread ending in the window does not hide its wake-ups.

use std::collections::BTreeMap;
use std::time::Duration;

use card_agent_testbed::pcscd;
use serde_json::json;

use crate::setup::{self, AgentDaemon, Fixtures};
use crate::stats;
use crate::throughput;

/// Issue 16's memory goal.
const RSS_GOAL: &str =
    "< 15 MB, and idle after the 200-request burst within 1 MB of idle before it";

/// Longer than tokio's keep-alive of idle blocking threads.
const SETTLE: Duration = Duration::from_secs(12);

pub fn run(fixtures: &Fixtures, window: Duration) -> Result<(), String> {
    let rss_goal = "daemon at rest: resident memory";
    let wake_goal = "daemon at rest: wake-ups per minute, nothing happening";
    let hsm = fixtures.hsm().inspect_err(|e| {
        for (g, t) in [
            (rss_goal, RSS_GOAL),
            (wake_goal, "none beyond the event wait"),
        ] {
            stats::goal(g, t, "-".to_owned(), stats::Verdict::Skipped(e.clone()));
        }
    })?;
    let pcsc = pcscd::ensure_pcscd();
    let agent = AgentDaemon::start(hsm)?;
    let pid = agent.pid();
    std::thread::sleep(SETTLE);
    let started = memory(pid)?;
    let quiet = idle_window(pid, window)?;

    let mut host = agent.host()?;
    setup::expect_result(
        &host
            .call(&json!({"id": 1, "command": "subscribe", "origin": setup::ORIGIN}))?
            .1,
    )?;
    std::thread::sleep(SETTLE);
    let host_before = Switches::read(host.pid())?;
    let subscribed = idle_window(pid, window)?;
    let host_wakes = Switches::read(host.pid())?.since(&host_before);
    drop(host);

    let thumb = setup::sign_thumbprint(hsm)?;
    let before_load = memory(pid)?;
    // One signature first, to tell what the first use of the signing path costs (its code
    // pages, the module's own state) from what the burst itself leaves behind.
    throughput::burst(&agent, &thumb, 1, 1)?;
    std::thread::sleep(SETTLE);
    let after_one = memory(pid)?;
    throughput::burst(
        &agent,
        &thumb,
        throughput::CONNECTIONS,
        throughput::REQUESTS / throughput::CONNECTIONS,
    )?;
    let just_after = memory(pid)?;
    let threads_just_after = Switches::read(pid)?.0.len();
    std::thread::sleep(SETTLE);
    let after = memory(pid)?;
    let threads_after = Switches::read(pid)?.0.len();

    let per_minute = |n: u64| n as f64 * 60.0 / window.as_secs_f64();
    println!(
        "\n### 4. Daemon at rest (SoftHSM token; pcscd: {})\n\n| state | VmRSS | of it anonymous | VmHWM | threads |\n|---|---|---|---|---|",
        match &pcsc {
            Ok(()) => "running with the vpcd readers".to_owned(),
            Err(e) => format!("**not available** ({e})"),
        }
    );
    println!(
        "| idle, {} s after start-up | {} | {} | {} | {} |",
        SETTLE.as_secs(),
        kb(started.rss),
        kb(started.anon),
        kb(started.hwm),
        quiet.threads
    );
    println!(
        "| idle, just before the load (after the subscribed window) | {} | {} | {} | |",
        kb(before_load.rss),
        kb(before_load.anon),
        kb(before_load.hwm)
    );
    println!(
        "| idle, {} s after one signature (the first use of the signing path) | {} | {} | {} | |",
        SETTLE.as_secs(),
        kb(after_one.rss),
        kb(after_one.anon),
        kb(after_one.hwm)
    );
    println!(
        "| right after {} concurrent signs | {} | {} | {} | {threads_just_after} |",
        throughput::REQUESTS,
        kb(just_after.rss),
        kb(just_after.anon),
        kb(just_after.hwm)
    );
    println!(
        "| idle, {} s after that load | {} | {} | {} | {threads_after} |",
        SETTLE.as_secs(),
        kb(after.rss),
        kb(after.anon),
        kb(after.hwm)
    );
    println!(
        "\n| idle window of {} s | wake-ups (context switches) | per minute | by thread |\n|---|---|---|---|",
        window.as_secs()
    );
    for (label, w) in [
        ("no subscriber", &quiet),
        ("one subscribed native host", &subscribed),
    ] {
        println!(
            "| daemon, {label} | {} | {:.1} | {} |",
            w.total,
            per_minute(w.total),
            w.by_thread_text()
        );
    }
    println!(
        "| the subscribed native host itself | {host_wakes} | {:.1} | |",
        per_minute(host_wakes)
    );

    let rss = started
        .rss
        .max(before_load.rss)
        .max(after_one.rss)
        .max(after.rss);
    let grown = after.rss.saturating_sub(before_load.rss);
    stats::goal_check(
        rss_goal,
        RSS_GOAL,
        format!(
            "VmRSS {} idle after start-up, {} just before the load, {} idle after it \
             (+{}: +{} from the first signature, +{} from the burst after it; anonymous +{}; \
             peak VmHWM {})",
            kb(started.rss),
            kb(before_load.rss),
            kb(after.rss),
            kb(grown),
            kb(after_one.rss.saturating_sub(before_load.rss)),
            kb(after.rss.saturating_sub(after_one.rss)),
            kb(after.anon.saturating_sub(before_load.anon)),
            kb(after.hwm)
        ),
        rss < 15 * 1024 && grown <= 1024,
        "see the at-rest section",
    );
    let outside = quiet.outside_event_wait() + subscribed.outside_event_wait();
    stats::goal_check(
        wake_goal,
        "none beyond the event wait",
        format!(
            "{:.1}/min without, {:.1}/min with a subscriber ({} outside the reader watcher)",
            per_minute(quiet.total),
            per_minute(subscribed.total),
            outside
        ),
        outside == 0,
        "see the at-rest section for the threads that woke",
    );
    Ok(())
}

/// Resident memory, kB: the whole (VmRSS), its peak, and the part that is the daemon's own
/// (anonymous: heap, stacks) rather than pages of its binary and libraries, which the kernel
/// shares and can drop.
struct Memory {
    rss: u64,
    hwm: u64,
    anon: u64,
}

fn memory(pid: u32) -> Result<Memory, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
        anon: field("RssAnon:")?,
    })
}

fn kb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

/// Context switches per thread: TID → (name, voluntary + involuntary).
struct Switches(BTreeMap<u32, (String, u64)>);

impl Switches {
    fn read(pid: u32) -> Result<Switches, String> {
        let dir = format!("/proc/{pid}/task");
        let mut threads = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))? {
            let Ok(entry) = entry else { continue };
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            // A thread may end between the listing and the read.
            let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
                continue;
            };
            let mut name = String::new();
            let mut switches = 0;
            for line in status.lines() {
                if let Some(n) = line.strip_prefix("Name:") {
                    name = n.trim().to_owned();
                } else if let Some(v) = line
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    switches += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
            threads.insert(tid, (name, switches));
        }
        Ok(Switches(threads))
    }

    /// All threads' switches since `before` (a thread new since then counts from zero).
    fn since(&self, before: &Switches) -> u64 {
        self.by_thread(before).iter().map(|(_, n)| n).sum()
    }

    fn by_thread(&self, before: &Switches) -> Vec<(String, u64)> {
        self.0
            .iter()
            .map(|(tid, (name, n))| {
                let was = before.0.get(tid).map_or(0, |(_, n)| *n);
                (name.clone(), n.saturating_sub(was))
            })
            .collect()
    }
}

/// What one idle window saw.
struct Window {
    total: u64,
    by_thread: Vec<(String, u64)>,
    threads: usize,
}

impl Window {
    /// Threads that woke, by name, with their counts.
    fn by_thread_text(&self) -> String {
        let mut merged: BTreeMap<&str, u64> = BTreeMap::new();
        for (name, n) in &self.by_thread {
            *merged.entry(name).or_default() += n;
        }
        let woke: Vec<_> = merged
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(name, n)| format!("{name}: {n}"))
            .collect();
        if woke.is_empty() {
            format!("none of {} threads", self.threads)
        } else {
            woke.join(", ")
        }
    }

    /// Wake-ups of threads other than the PC/SC watcher blocked in SCardGetStatusChange.
    fn outside_event_wait(&self) -> u64 {
        self.by_thread
            .iter()
            .filter(|(name, _)| !name.starts_with("card-agent-read"))
            .map(|(_, n)| n)
            .sum()
    }
}

fn idle_window(pid: u32, window: Duration) -> Result<Window, String> {
    let before = Switches::read(pid)?;
    std::thread::sleep(window);
    let after = Switches::read(pid)?;
    let vanished = before.0.keys().filter(|t| !after.0.contains_key(t)).count();
    if vanished > 0 {
        eprintln!("bench: {vanished} daemon thread(s) ended during the idle window");
    }
    Ok(Window {
        total: after.since(&before),
        by_thread: after.by_thread(&before),
        threads: after.0.len(),
    })
}
