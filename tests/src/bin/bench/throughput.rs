//! Measure 5: throughput under load. 200 sign requests arrive at once from many connections
//! (as from many tabs, each with its own native host); the daemon serialises them on the one
//! token. Compared with the same token's own serial throughput through cryptoki doing the same
//! operation (a fresh session and login per signature, as the agent does), and for reference
//! with bare C_Sign on a logged-in session.
//!
//! The figure is the median over the bursts of each burst's rate against the token's serial
//! run in two halves just before and just after it: this machine's speed drifts by tens of
//! percent over seconds, and a ratio of two medians taken far apart carries that drift.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use card_agent_protocol::encoding::encode_base64;

use crate::setup::{self, AgentDaemon, Direct, Fixtures, IpcClient};
use crate::stats::{self, fmt};

/// Requests per burst, and the connections they come from.
pub const REQUESTS: usize = 200;
pub const CONNECTIONS: usize = 20;
/// Bursts, each between two halves of a serial run; the median of their ratios is the figure.
const REPEATS: usize = 9;
/// Issue 16's goal.
const GOAL: &str = "within 5 % (ratio ≥ 0.95)";

pub fn run(fixtures: &Fixtures) -> Result<(), String> {
    let name = "throughput, 200 concurrent signs vs the token's serial rate";
    let hsm = fixtures.hsm().inspect_err(|e| {
        stats::goal(
            name,
            GOAL,
            "-".to_owned(),
            stats::Verdict::Skipped(e.clone()),
        )
    })?;
    let agent = AgentDaemon::start(hsm)?;
    let direct = Direct::open(hsm)?;
    let data = setup::sign_data();
    let thumb = setup::sign_thumbprint(hsm)?;
    // Warm-up: the daemon's first request reads the token.
    burst(&agent, &thumb, 1, 1)?;

    let (mut agent_rates, mut fresh_rates, mut bare_rates) = (Vec::new(), Vec::new(), Vec::new());
    let mut as_agent_rates = Vec::new();
    let mut burst_times = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..REPEATS {
        let t = Instant::now();
        for _ in 0..REQUESTS {
            direct.sign_as_the_agent_does(&data)?;
        }
        as_agent_rates.push(rate(REQUESTS, t.elapsed()));
        {
            let (session, key) = direct.logged_in()?;
            let t = Instant::now();
            for _ in 0..REQUESTS {
                Direct::sign(&session, key, &data)?;
            }
            bare_rates.push(rate(REQUESTS, t.elapsed()));
            let _ = session.logout();
        }
        // The token's serial run in two halves around the burst: the machine's speed drifts
        // over seconds (see `stats::Paired`), and a drift during the three parts weighs on
        // both sides of the ratio alike.
        let before = direct.time_fresh(&data, REQUESTS / 2)?;
        let took = burst(&agent, &thumb, CONNECTIONS, REQUESTS / CONNECTIONS)?;
        let after = direct.time_fresh(&data, REQUESTS - REQUESTS / 2)?;
        let fresh = rate(REQUESTS, before + after);
        burst_times.push(took);
        agent_rates.push(rate(REQUESTS, took));
        fresh_rates.push(fresh);
        ratios.push(rate(REQUESTS, took) / fresh);
    }
    let (agent_rate, fresh_rate, bare_rate) = (
        stats::median_of(&mut agent_rates),
        stats::median_of(&mut fresh_rates),
        stats::median_of(&mut bare_rates),
    );
    let as_agent_rate = stats::median_of(&mut as_agent_rates);
    burst_times.sort();
    println!(
        "\n### 5. Throughput: {REQUESTS} sign requests at once from {CONNECTIONS} connections \
         (median of {REPEATS})\n\n| what | requests/s | ratio to the token's serial rate |\n|---|---|---|"
    );
    println!(
        "| token serial, direct: session + login + sign + logout per signature | {fresh_rate:.0} | 1.00 |"
    );
    println!(
        "| token serial, direct: C_GetTokenInfo (the state read the PIN rules need) + the line above: every token call the agent makes | {as_agent_rate:.0} | {:.2} |",
        as_agent_rate / fresh_rate
    );
    println!(
        "| token serial, direct: C_Sign on one logged-in session | {bare_rate:.0} | {:.2} |",
        bare_rate / fresh_rate
    );
    println!(
        "| agent: {REQUESTS} concurrent requests over IPC (all answered after {}) | {agent_rate:.0} | {:.2} |",
        fmt(burst_times[burst_times.len() / 2]),
        agent_rate / fresh_rate
    );
    let each = ratios
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(", ");
    // The figure: the median of each burst's ratio to the serial run around it.
    let ratio = stats::median_of(&mut ratios);
    println!(
        "| agent: each burst / the serial run around it ({each}) | | **{ratio:.2}** (median) |"
    );
    stats::goal_check(
        name,
        GOAL,
        format!(
            "{ratio:.2}, the median of {REPEATS} bursts each against the serial run around it \
             (medians {agent_rate:.0}/s vs {fresh_rate:.0}/s; {:.2} of the agent's own token \
             calls made serially, {:.2} of bare logged-in C_Sign)",
            agent_rate / as_agent_rate,
            agent_rate / bare_rate
        ),
        ratio >= 0.95,
        "see the throughput section",
    );
    Ok(())
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

/// Sends `per_connection` sign requests on each of `connections` connections to `agent`'s
/// socket, all at once (each connection writes all its requests, then reads the answers), and
/// returns the time from the start until the last answer. Every answer must be a signature.
/// The requests (4 KB of data each) are encoded before the start, so that the clients, on
/// the same two cores, take as little as they can from the daemon.
pub fn burst(
    agent: &AgentDaemon,
    thumb: &str,
    connections: usize,
    per_connection: usize,
) -> Result<Duration, String> {
    let data_b64 = Arc::new(encode_base64(&setup::sign_data()));
    let start = Arc::new(Barrier::new(connections + 1));
    // Every connection first, so no thread waits at the barrier for one that failed.
    let clients = (0..connections)
        .map(|_| agent.ipc())
        .collect::<Result<Vec<_>, _>>()?;
    let mut workers = Vec::new();
    for (c, mut ipc) in clients.into_iter().enumerate() {
        let (start, data_b64, thumb) = (start.clone(), data_b64.clone(), thumb.to_owned());
        workers.push(std::thread::spawn(move || -> Result<Instant, String> {
            let mut frames = Vec::new();
            for i in 0..per_connection {
                let id = (c * per_connection + i) as u64;
                frames.extend(IpcClient::frame(&setup::sign_request(
                    id, &thumb, &data_b64,
                ))?);
            }
            start.wait();
            ipc.send_encoded(&frames)?;
            for _ in 0..per_connection {
                setup::expect_result(&ipc.recv()?)?;
            }
            Ok(Instant::now())
        }));
    }
    start.wait();
    let t0 = Instant::now();
    let mut last = t0;
    for w in workers {
        let done = w
            .join()
            .map_err(|_| "a load thread panicked".to_owned())??;
        last = last.max(done);
    }
    Ok(last.duration_since(t0))
}
