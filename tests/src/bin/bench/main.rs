//! card-agent's benchmark harness: times what people wait for, on real components (the demo
//! token, SoftHSM2, pcscd with the vpcd virtual card, the real daemon and native host, the
//! legacy HTTP API), measures the daemon at rest and the release binary, and prints Markdown
//! for BENCHMARKS.md, ending with the goals table of issue 8.
//!
//! Run everything (the documented command):
//! `cargo build --release -p card-agent -p card-agent-testbed --bins && ./target/release/bench`;
//! one measure: `./target/release/bench --only sign`; see `--help`.
//!
//! Numbers are wall-clock medians and 95th percentiles over repeated runs on this machine; they
//! are for comparing changes, never asserted in tests. A measure whose components are missing
//! (SoftHSM2, pcscd with vpcd) is skipped with the reason, and the run goes on.
#![forbid(unsafe_code)]

mod at_rest;
mod binary_size;
mod card_event;
mod card_speed;
mod cold_start;
mod hand_off;
mod micro;
mod setup;
mod sign_cost;
mod stats;
mod throughput;

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// One measure of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Measure {
    /// The original table: codec, parser, demo token, SoftHSM2, daemon round trips, CLI.
    Operations,
    /// 1. The agent's added cost per signature vs direct cryptoki C_Sign.
    Sign,
    /// 2. Native host cold start to first answer.
    ColdStart,
    /// 3. Card insertion to event at a subscriber (pcscd + vpcd).
    CardEvent,
    /// 4. The daemon at rest: memory and wake-ups.
    AtRest,
    /// 5. Throughput of 200 concurrent signs vs the token's serial rate.
    Throughput,
    /// 6. Release binary size.
    Size,
    /// 7. A real card's pace (the wrapper module): insertion to certificates, login to
    ///    signature, five tabs signing at once.
    CardSpeed,
    /// 8. Threads alone, no agent: direct signatures handed to other threads (the floors
    ///    under the two timing goals).
    HandOff,
}

#[derive(Debug, Parser)]
#[command(about = "card-agent's benchmarks (Markdown on stdout)")]
struct Args {
    /// Run only these measures (repeatable); default: all of them, side by side.
    #[arg(long, value_enum)]
    only: Vec<Measure>,
    /// The idle window of the at-rest measure, in seconds (each of two windows).
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// KEY=VALUE for the daemons the bench starts (repeatable), for experiments, e.g.
    /// `--daemon-env MALLOC_ARENA_MAX=2`. The documented run sets none.
    #[arg(long, value_parser = parse_env)]
    daemon_env: Vec<(String, String)>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

fn main() {
    let args = Args::parse();
    let _ = setup::DAEMON_ENV.set(args.daemon_env.clone());
    let all = [
        Measure::Operations,
        Measure::Sign,
        Measure::ColdStart,
        Measure::CardEvent,
        Measure::AtRest,
        Measure::Throughput,
        Measure::Size,
        Measure::CardSpeed,
        Measure::HandOff,
    ];
    let chosen: Vec<Measure> = all
        .into_iter()
        .filter(|m| args.only.is_empty() || args.only.contains(m))
        .collect();
    println!("## {}\n", machine_facts());
    println!("- load average at the start: {}", load_average());
    if !args.daemon_env.is_empty() {
        println!("- daemon environment added: {:?}", args.daemon_env);
    }
    let fixtures = setup::Fixtures::default();
    for measure in chosen {
        let outcome = setup::guarded(|| match measure {
            Measure::Operations => micro::run(&fixtures),
            Measure::Sign => sign_cost::run(&fixtures),
            Measure::ColdStart => cold_start::run(&fixtures),
            Measure::CardEvent => card_event::run(&fixtures),
            Measure::AtRest => at_rest::run(&fixtures, Duration::from_secs(args.idle_secs)),
            Measure::Throughput => throughput::run(&fixtures),
            Measure::Size => binary_size::run(),
            Measure::CardSpeed => card_speed::run(&fixtures),
            Measure::HandOff => hand_off::run(&fixtures),
        });
        if let Err(e) = outcome {
            println!("\n**{measure:?} skipped**: {e}");
        }
    }
    println!("\n- load average at the end: {}", load_average());
    stats::print_goals();
}

/// Date, cores, memory, CPU model, OS and kernel, for the heading of a run.
fn machine_facts() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / (1024.0 * 1024.0));
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default();
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{date}, {cores} cores ({model}), {mem_gib:.0} GiB, {os}, Linux {kernel}")
}

/// /proc/loadavg's three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
