//! Measure 8: what this machine charges for threads, with no agent at all. The same direct
//! signatures (fresh session + login + sign, as the agent makes them) four ways, interleaved:
//!
//! - in one thread that never sleeps: the token's serial loop, the baseline of both timing
//!   goals;
//! - each handed to another thread that sleeps until it gets it, and back: the least any
//!   daemon adds to one request at a time (two wake-ups, and the signature run on a thread
//!   that was asleep);
//! - by four threads that pass the token's turn around a ring, each signing and then waking
//!   the next: a burst served by workers that take turns on one token;
//! - the same ring, each turn beginning with the token's state read the PIN rules need
//!   (C_GetTokenInfo): every token call the agent makes, in turn.
//!
//! These are the floors under the agent's own share and its throughput ratio on this machine:
//! what the agent adds beyond them is its own. Paired like the goals (`stats::Paired`): each
//! round's serial run in two halves around the other three.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::setup::{self, Direct, Fixtures};
use crate::stats::{self, fmt, Paired};

/// Rounds, and signatures per way and round.
const ROUNDS: usize = 25;
const PER_ROUND: usize = 40;
/// Threads taking turns on the token (the daemon's `work_queue::WORKERS`).
const RING: usize = 4;

pub fn run(fixtures: &Fixtures) -> Result<(), String> {
    let hsm = fixtures.hsm()?;
    let direct = Direct::open(hsm)?;
    let data = setup::sign_data();
    let (mut handed, mut ratios, mut gated) = (Paired::default(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let before = direct.time_fresh(&data, PER_ROUND / 2)?;
        let one = handed_each(&direct, &data, PER_ROUND)?;
        let ring_alone = ring(&direct, &data, PER_ROUND, Direct::sign_fresh)?;
        let ring_gated = ring(&direct, &data, PER_ROUND, Direct::sign_as_the_agent_does)?;
        let after = direct.time_fresh(&data, PER_ROUND - PER_ROUND / 2)?;
        let serial_each = (before + after) / PER_ROUND as u32;
        handed.push(one / PER_ROUND as u32, serial_each);
        ratios.push((before + after).as_secs_f64() / ring_alone.as_secs_f64());
        gated.push((before + after).as_secs_f64() / ring_gated.as_secs_f64());
    }
    let (ratio, ratio_range) = median_and_range(&mut ratios);
    let (gated, gated_range) = median_and_range(&mut gated);
    println!(
        "\n### 8. Threads alone, no agent: direct signatures handed to other threads \
         ({ROUNDS} rounds of {PER_ROUND} each way)\n\n| what | median |\n|---|---|"
    );
    println!(
        "| each signature handed to a sleeping thread and back, over the serial loop (the floor \
         under the agent's own share) | +{} per signature |",
        fmt(handed.median())
    );
    println!(
        "| {RING} threads passing the token's turn around a ring, against the serial loop (the \
         ceiling of a burst served by workers in turn) | **{ratio:.2}** of the serial rate \
         (rounds {ratio_range}) |"
    );
    println!(
        "| the same ring, each turn beginning with the state read the PIN rules need (every \
         token call the agent makes, in turn) | **{gated:.2}** of the serial rate (rounds \
         {gated_range}) |"
    );
    stats::note(
        "Nothing of the agent runs here: these are the machine's costs of waking a thread and \
         of moving the token's work between threads and CPUs, which any daemon that is not the \
         page's own thread pays.",
    );
    Ok(())
}

/// The median of `ratios` and their range, for the table.
fn median_and_range(ratios: &mut [f64]) -> (f64, String) {
    let median = stats::median_of(ratios);
    let range = match (ratios.first(), ratios.last()) {
        (Some(low), Some(high)) => format!("{low:.2}–{high:.2}"),
        _ => "none".to_owned(),
    };
    (median, range)
}

/// `n` signatures, each handed to one other thread, which sleeps between them; timed from the
/// first hand-off to the last answer.
fn handed_each(direct: &Direct, data: &[u8], n: usize) -> Result<Duration, String> {
    let (job_tx, job_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<Result<(), String>>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            while job_rx.recv().is_ok() {
                let signed = direct.sign_fresh(data).map(drop);
                if done_tx.send(signed).is_err() {
                    break;
                }
            }
        });
        let t = Instant::now();
        let signed = (0..n).try_for_each(|_| {
            job_tx
                .send(())
                .map_err(|_| "the signing thread ended".to_owned())?;
            done_rx
                .recv()
                .map_err(|_| "the signing thread ended".to_owned())?
        });
        let took = t.elapsed();
        // Ends the signing thread, which the scope waits for.
        drop(job_tx);
        signed.map(|()| took)
    })
}

/// `n` signatures by [`RING`] threads in turn: each waits for the turn, signs once with `sign`
/// and wakes the next. Timed from the first turn to the last signature.
fn ring(
    direct: &Direct,
    data: &[u8],
    n: usize,
    sign: fn(&Direct, &[u8]) -> Result<Vec<u8>, String>,
) -> Result<Duration, String> {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..RING).map(|_| mpsc::channel::<usize>()).unzip();
    let (done_tx, done_rx) = mpsc::channel::<Result<(), String>>();
    std::thread::scope(|scope| {
        for (i, turn) in receivers.into_iter().enumerate() {
            let next = senders[(i + 1) % RING].clone();
            let done = done_tx.clone();
            scope.spawn(move || {
                // The value passed around is how many signatures are left.
                while let Ok(left) = turn.recv() {
                    if left == 0 {
                        let _ = next.send(0);
                        break;
                    }
                    let signed = sign(direct, data).map(drop);
                    let failed = signed.is_err();
                    let _ = done.send(signed);
                    let _ = next.send(if failed { 0 } else { left - 1 });
                }
            });
        }
        drop(done_tx);
        let t = Instant::now();
        senders[0]
            .send(n)
            .map_err(|_| "the ring's first thread ended".to_owned())?;
        for _ in 0..n {
            done_rx
                .recv()
                .map_err(|_| "a ring thread ended early".to_owned())??;
        }
        let took = t.elapsed();
        drop(senders);
        Ok(took)
    })
}
