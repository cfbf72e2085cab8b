//! A bound on repeated log records per sender. The daemon's log file is size-bounded, so a page
//! (or another local user) that sends refused request after refused request would otherwise
//! push the records that matter (sites approved, PIN failures) out of it within seconds.
//! Each sender may leave [`BURST`] records of one kind per [`WINDOW`]; the rest are counted,
//! and the next record let through says how many were left out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Records of one kind one sender may leave per window.
pub const BURST: u32 = 5;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Senders tracked at once; past it the table starts over (its memory stays bounded).
const MAX_KEYS: usize = 1024;

#[derive(Debug)]
struct Window {
    started: Instant,
    count: u32,
    suppressed: u32,
}

static WINDOWS: Mutex<Option<HashMap<String, Window>>> = Mutex::new(None);

/// Whether a record of `kind` from `sender` may be written now: `Some(n)` yes, where `n`
/// records of that kind were left out since the last one written; `None` leave it out.
pub fn admit(sender: &str, kind: &str) -> Option<u32> {
    admit_at(sender, kind, Instant::now())
}

fn admit_at(sender: &str, kind: &str, now: Instant) -> Option<u32> {
    let mut guard = WINDOWS.lock().unwrap_or_else(|p| p.into_inner());
    let table = guard.get_or_insert_with(HashMap::new);
    if table.len() >= MAX_KEYS {
        table.clear();
    }
    let w = table.entry(format!("{sender}\n{kind}")).or_insert(Window {
        started: now,
        count: 0,
        suppressed: 0,
    });
    if now.duration_since(w.started) >= WINDOW {
        w.started = now;
        w.count = 0;
    }
    if w.count >= BURST {
        w.suppressed = w.suppressed.saturating_add(1);
        return None;
    }
    w.count += 1;
    Some(std::mem::take(&mut w.suppressed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_silence_then_a_count() {
        let t0 = Instant::now();
        let sender = "https://flood.example (log_limit test)";
        for _ in 0..BURST {
            assert_eq!(admit_at(sender, "refused", t0), Some(0));
        }
        for _ in 0..100 {
            assert_eq!(admit_at(sender, "refused", t0), None);
        }
        // Another sender, another kind: their own allowance.
        assert_eq!(
            admit_at("https://other.example (log_limit test)", "refused", t0),
            Some(0)
        );
        assert_eq!(admit_at(sender, "signed", t0), Some(0));
        assert_eq!(admit_at(sender, "refused", t0 + WINDOW), Some(100));
        assert_eq!(admit_at(sender, "refused", t0 + WINDOW), Some(0));
    }
}
