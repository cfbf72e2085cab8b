//! Measure 2: the native host's cold start. A browser starts one host per connection
//! (`card-agent chrome-extension://<id>/`, see `install::started_by_browser`); the time
//! from spawning it to reading its answer to a `version` frame is what a page waits for
//! before its first request, with the daemon already running.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::setup::{self, AgentDaemon, Fixtures};
use crate::stats::{self, fmt, Samples};

const RUNS: usize = 60;

pub fn run(fixtures: &Fixtures) -> Result<(), String> {
    let name = "native host cold start → first answer (median)";
    let hsm = fixtures.hsm().inspect_err(|e| {
        stats::goal(
            name,
            "< 20 ms",
            "-".to_owned(),
            stats::Verdict::Skipped(e.clone()),
        )
    })?;
    let agent = AgentDaemon::start(hsm)?;
    let version = json!({"id": 1, "command": "version", "origin": setup::ORIGIN});
    // One start first, so the binary's pages are in the page cache, as they are for a user who
    // opened any page with the extension before.
    agent.host()?.call(&version)?;
    let mut first_answer = Samples::default();
    let mut spawn_only = Samples::default();
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut host = agent.host()?;
        spawn_only.push(t.elapsed());
        let (at, reply) = host.call(&version)?;
        first_answer.push(at.duration_since(t));
        setup::expect_result(&reply)?;
        // Closing stdin ends the host; waiting is not timed.
        drop(host);
    }
    stats::table("2. Native host cold start (daemon running)");
    stats::report(
        "spawn `card-agent chrome-extension://…/` (fork + exec returns)",
        &spawn_only,
    );
    stats::report("spawn → `version` answer read", &first_answer);
    let median = first_answer.median();
    stats::goal_check(
        name,
        "< 20 ms",
        format!("{} (p95 {})", fmt(median), fmt(first_answer.p95())),
        median < Duration::from_millis(20),
        "see the cold start section",
    );
    Ok(())
}
