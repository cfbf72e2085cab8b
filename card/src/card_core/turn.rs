//! A turn taken first come, first served: card operations on a token run one at a time in the
//! order they asked (and the agent's dialogs, one on screen at a time, likewise).
//!
//! A plain mutex lets a thread that just released the token take it again before the ones
//! already waiting (it is awake, they are not), so a caller with many requests could keep a
//! token while another waited. Tickets make the order first come, first served: with the
//! daemon's few workers (see the agent's work queue), a request that reached the token's turn
//! waits for at most the few that reached it before.
//!
//! Each release wakes only the thread whose ticket is up, not every waiter: under load the
//! token's next operation then starts after one wake-up, and the waiters that are not next
//! take no CPU from it.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::Thread;

/// A first-come, first-served turn (a ticket lock).
#[derive(Debug, Default)]
pub struct Turn {
    tickets: Mutex<Tickets>,
}

#[derive(Debug, Default)]
struct Tickets {
    /// The ticket the next caller draws.
    drawn: u64,
    /// The ticket whose holder has the turn now.
    serving: u64,
    /// The threads asleep until their ticket is served (a few: one per worker).
    asleep: Vec<(u64, Thread)>,
}

impl Turn {
    /// Waits until every caller that asked earlier is done, then holds the turn until the
    /// guard is dropped (also when the operation panics: the next caller opens a fresh session
    /// anyway, so the card stays usable).
    pub fn take(&self) -> TurnGuard<'_> {
        let mine = self.draw();
        self.wait_for(mine)
    }

    /// Draws the next ticket: its holder goes after every ticket drawn before.
    fn draw(&self) -> u64 {
        let mut tickets = self.lock();
        let mine = tickets.drawn;
        tickets.drawn = tickets.drawn.wrapping_add(1);
        mine
    }

    /// Waits until `ticket` is served.
    fn wait_for(&self, ticket: u64) -> TurnGuard<'_> {
        loop {
            {
                let mut tickets = self.lock();
                if tickets.serving == ticket {
                    return TurnGuard { turn: self };
                }
                if !tickets.asleep.iter().any(|(t, _)| *t == ticket) {
                    tickets.asleep.push((ticket, std::thread::current()));
                }
            }
            // An unpark that came between the unlock and here is kept: park returns at once.
            // A spurious return only goes round the loop again.
            std::thread::park();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tickets> {
        self.tickets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The turn, held.
pub struct TurnGuard<'a> {
    turn: &'a Turn,
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        let mut tickets = self.turn.lock();
        tickets.serving = tickets.serving.wrapping_add(1);
        let next = tickets.serving;
        if let Some(at) = tickets.asleep.iter().position(|(t, _)| *t == next) {
            let (_, thread) = tickets.asleep.swap_remove(at);
            thread.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn callers_get_the_turn_in_the_order_they_asked() {
        let turn = Arc::new(Turn::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = turn.take();
        let tickets: Vec<u64> = (0..8).map(|_| turn.draw()).collect();
        // The waiters start in the reverse order: only their tickets decide who goes first.
        let threads: Vec<_> = tickets
            .into_iter()
            .enumerate()
            .rev()
            .map(|(n, ticket)| {
                let (turn, order) = (turn.clone(), order.clone());
                std::thread::spawn(move || {
                    let _guard = turn.wait_for(ticket);
                    order.lock().unwrap().push(n);
                })
            })
            .collect();
        drop(held);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn one_holder_at_a_time_and_nobody_left_asleep() {
        // Many threads take the turn many times: each wake-up goes to the next ticket alone,
        // so a lost wake-up would hang this test and a double grant would show in `inside`.
        let turn = Arc::new(Turn::default());
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (turn, inside) = (turn.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        let _guard = turn.take();
                        use std::sync::atomic::Ordering::SeqCst;
                        assert_eq!(inside.fetch_add(1, SeqCst), 0);
                        std::thread::yield_now();
                        inside.fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(turn.lock().asleep.is_empty());
    }
}
