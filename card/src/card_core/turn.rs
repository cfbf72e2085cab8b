//! A turn taken first come, first served: card operations on a token run one at a time in the
//! order they asked (and the agent's dialogs, one on screen at a time, likewise).
//!
//! A plain mutex lets a thread that just released the token take it again before the ones
//! already waiting (it is awake, they are not), so a caller with many requests could keep a
//! token while another waited. Tickets make the order first come, first served: with the
//! daemon's few workers (see the agent's work queue), a request that reached the token's turn
//! waits for at most the few that reached it before.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// A first-come, first-served turn (a ticket lock).
#[derive(Debug, Default)]
pub struct Turn {
    tickets: Mutex<Tickets>,
    next_up: Condvar,
}

#[derive(Debug, Default)]
struct Tickets {
    /// The ticket the next caller draws.
    drawn: u64,
    /// The ticket whose holder has the turn now.
    serving: u64,
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
        let mut tickets = self.lock();
        while tickets.serving != ticket {
            tickets = self
                .next_up
                .wait(tickets)
                .unwrap_or_else(PoisonError::into_inner);
        }
        TurnGuard { turn: self }
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
        // Every waiter checks whether its ticket is up; only one's is.
        self.turn.next_up.notify_all();
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
}
