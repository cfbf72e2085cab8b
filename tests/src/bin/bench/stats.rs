//! Samples, their medians and 95th percentiles, and the Markdown the bench prints.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Timings of one operation.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Adds one timing.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Adds every timing of `other`.
    pub fn extend(&mut self, other: &Samples) {
        self.0.extend_from_slice(&other.0);
    }

    /// How many timings.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut s = self.0.clone();
        s.sort();
        s
    }

    /// The median (the upper one for an even count); zero without samples.
    pub fn median(&self) -> Duration {
        self.quantile(50)
    }

    /// The 95th percentile (nearest rank); zero without samples.
    pub fn p95(&self) -> Duration {
        self.quantile(95)
    }

    fn quantile(&self, percent: usize) -> Duration {
        let s = self.sorted();
        if s.is_empty() {
            return Duration::ZERO;
        }
        s[(s.len() * percent / 100).min(s.len() - 1)]
    }

    /// The smallest and largest timing.
    pub fn range(&self) -> (Duration, Duration) {
        let s = self.sorted();
        (
            s.first().copied().unwrap_or_default(),
            s.last().copied().unwrap_or_default(),
        )
    }
}

/// Differences between two timings taken back to back (`a − b`, each pair within tens of
/// milliseconds). This machine's speed drifts by tens of percent over seconds, more than the
/// differences measured; a pair shares the moment, so the median of the pairs' differences
/// follows the difference, not the drift (a difference of two medians taken over a minute
/// carries the drift of both).
#[derive(Default)]
pub struct Paired(Vec<i128>);

impl Paired {
    /// Adds one pair's difference, `a − b`.
    pub fn push(&mut self, a: Duration, b: Duration) {
        self.0.push(a.as_nanos() as i128 - b.as_nanos() as i128);
    }

    /// The median difference (the upper one for an even count), zero when it is negative or
    /// there are no pairs.
    pub fn median(&self) -> Duration {
        let mut s = self.0.clone();
        s.sort_unstable();
        let Some(&m) = s.get(s.len() / 2) else {
            return Duration::ZERO;
        };
        Duration::from_nanos(u64::try_from(m.max(0)).unwrap_or(u64::MAX))
    }
}

/// The median of `values` (rates or ratios; the upper one for an even count), which it sorts.
/// Zero for none.
pub fn median_of(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Times `runs` calls of `f`.
pub fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Samples {
    Samples(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

/// A duration for a person: µs below a millisecond, ms below ten seconds, s above.
pub fn fmt(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else if d < Duration::from_secs(10) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Starts a section: a heading and the header of a `operation | runs | median | p95` table.
pub fn table(title: &str) {
    println!("\n### {title}\n\n| operation | runs | median | p95 |\n|---|---|---|---|");
}

/// One row of the current table.
pub fn report(name: &str, samples: &Samples) {
    println!(
        "| {name} | {} | {} | {} |",
        samples.len(),
        fmt(samples.median()),
        fmt(samples.p95())
    );
}

/// A line of notes under the current table.
pub fn note(text: &str) {
    println!("\n{text}");
}

/// One row of the goals table printed at the end of the run.
#[derive(Debug, Clone)]
pub struct Goal {
    /// What is measured, e.g. "sign: agent's added cost (median)".
    pub name: String,
    /// The goal, e.g. "< 0.5 ms".
    pub target: String,
    /// The measured figure.
    pub measured: String,
    /// Met, missed, or not measured (with why).
    pub verdict: Verdict,
}

/// Whether a goal was met.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Met.
    Met,
    /// Missed, and why (a short reason).
    Missed(String),
    /// Not measured in this run, and why.
    Skipped(String),
    /// A figure without a pass/fail goal (the binary size).
    Info,
}

static GOALS: Mutex<Vec<Goal>> = Mutex::new(Vec::new());

/// Records a goal's outcome for the final table.
pub fn goal(name: &str, target: &str, measured: String, verdict: Verdict) {
    GOALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Goal {
            name: name.to_owned(),
            target: target.to_owned(),
            measured,
            verdict,
        });
}

/// Records a goal as met when `met`, else missed with `why`.
pub fn goal_check(name: &str, target: &str, measured: String, met: bool, why: &str) {
    let verdict = if met {
        Verdict::Met
    } else {
        Verdict::Missed(why.to_owned())
    };
    goal(name, target, measured, verdict);
}

/// Prints the goals table.
pub fn print_goals() {
    let goals = GOALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    println!("\n### Goals\n\n| goal | target | measured | met |\n|---|---|---|---|");
    for g in goals {
        let verdict = match g.verdict {
            Verdict::Met => "yes".to_owned(),
            Verdict::Missed(why) => format!("**no**: {why}"),
            Verdict::Skipped(why) => format!("not measured: {why}"),
            Verdict::Info => "(no goal)".to_owned(),
        };
        println!("| {} | {} | {} | {verdict} |", g.name, g.target, g.measured);
    }
}
