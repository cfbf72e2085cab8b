//! The one way blocking service work runs: requests wait for a worker in a queue per client,
//! and only a handful of blocking threads exist, whatever the number of requests.
//!
//! Cards sign one operation at a time per token (see the card core's turn), and dialogs come
//! one at a time: a thread per waiting request would only hold a stack and its buffers while
//! it waits (the 200-request burst used to leave 204 threads and ~10 MB of freed memory kept
//! by the allocator). Here a request waits as a small queue entry, not on a thread.
//!
//! - **Per client.** Every browser tab shares the native host's one connection, so the client
//!   is the page's origin carried in each request (on that connection: another browser's
//!   native host is another client), never the connection alone; a local program with no
//!   origin is its own connection. Each client has a bounded queue; a full one answers
//!   [`Error::Busy`] to that client only. The connection itself is never paused: frames keep
//!   being read, so another tab's request behind a busy one is still seen at once.
//! - **Fair.** A free worker goes to the waiting client with the fewest requests running, then
//!   the fewest served so far, then the one that came first; and one client never has more
//!   than [`PER_CLIENT_RUNNING`] requests running. A tab sending a hundred signatures does not
//!   hold back another tab's single login: that login goes next.
//! - **Bounded.** At most [`WORKERS`] blocking threads run service work at once (and the
//!   daemon's runtime caps its blocking pool just above, see [`BLOCKING_THREADS`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// Blocking workers for service work: one for the token in use, one preparing the next request
/// (finding its certificate, encoding) while the token signs, and two for a dialog or another
/// token. More would only wait on the token's turn or the one-dialog-at-a-time rule.
pub const WORKERS: usize = 4;

/// The runtime's whole blocking pool: the workers plus a small reserve for the runtime's own
/// blocking calls. Every service call goes through [`WorkQueue`]; the cap makes the bound hold
/// even if one did not.
pub const BLOCKING_THREADS: usize = WORKERS + 2;

/// Most requests one client may have running; the rest wait in its queue. Below [`WORKERS`],
/// so one client can never take every worker.
pub const PER_CLIENT_RUNNING: usize = 2;

/// Most requests one client may have queued or running. A page has no reason to pipeline more
/// (its user signs one thing at a time); beyond it the page hears [`Error::Busy`] at once.
pub const PER_CLIENT_LIMIT: usize = 32;

/// Most clients with work in the queue at once (tabs and local programs together). With
/// [`PER_CLIENT_LIMIT`] it bounds the memory waiting requests hold.
pub const MAX_CLIENTS: usize = 64;

/// Who a request belongs to, for queueing and fairness.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A web page, by the origin the browser gave, on the connection it came on (a native
    /// host's connection carries every tab of its browser, so the connection alone cannot tell
    /// them apart).
    Page {
        /// The daemon's number for the connection (0: the legacy HTTP API).
        connection: u64,
        /// The page's origin.
        origin: String,
    },
    /// A local program or the extension's own pages, by the daemon's number for its connection.
    Local(u64),
}

/// The connection number of the legacy HTTP API's requests: each is a connection of its own,
/// so they are told apart by the page's origin only (the daemon numbers its socket connections
/// from 1). A page's legacy calls through the extension are queued with them.
pub const LEGACY_API: u64 = 0;

/// The queue in front of the blocking workers.
#[derive(Debug, Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    /// Told each time the last request finishes and nothing waits (see [`WorkQueue::quiet_after`]).
    idle: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    clients: HashMap<ClientKey, ClientState>,
    running: usize,
    /// Counts requests as they come, so that equals are served in the order they came (and
    /// a quiet period can tell that nothing came).
    arrivals: u64,
}

#[derive(Debug, Default)]
struct ClientState {
    /// Each waiting request's wake-up: sending on it hands the request a worker.
    waiting: VecDeque<oneshot::Sender<()>>,
    running: usize,
    /// Requests handed a worker since the client appeared (it is forgotten when idle).
    served: u64,
    arrived: u64,
}

impl State {
    /// Nothing runs and nothing waits.
    fn is_empty(&self) -> bool {
        self.running == 0 && self.clients.is_empty()
    }
}

impl ClientState {
    fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running == 0
    }
}

impl WorkQueue {
    /// An empty queue.
    pub fn new() -> Arc<Self> {
        Arc::new(WorkQueue::default())
    }

    /// Runs `work` on a blocking worker when it is `client`'s turn. Fails at once with
    /// [`Error::Busy`] when `client`'s queue is full (or too many clients wait). Dropping the
    /// returned future while it waits gives its place up; once running, the work finishes
    /// and only then frees its worker.
    pub async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        client: ClientKey,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R> {
        let slot = self.enter(client).await?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(|e| Error::Internal(format!("request failed: {e}")))
    }

    /// Requests running now (for tests and the bench's view of the daemon).
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// Returns once requests have come since `seen` (what an earlier call returned; 0 at
    /// first) and the queue has then been empty for `period`: none running, none waiting, none
    /// come. Returns the count to pass next time. Waits without a timer while nothing comes or
    /// requests keep coming, so an idle daemon is not woken.
    pub async fn quiet_after(&self, seen: u64, period: std::time::Duration) -> u64 {
        loop {
            let (empty, arrivals) = self.emptiness();
            if !empty || arrivals == seen {
                // Told when the last running request finishes (a permit is kept if that
                // happens before this waits).
                self.idle.notified().await;
                continue;
            }
            tokio::time::sleep(period).await;
            if self.emptiness() == (true, arrivals) {
                return arrivals;
            }
        }
    }

    /// Whether nothing runs or waits, and how many requests have come so far.
    fn emptiness(&self) -> (bool, u64) {
        let state = self.lock();
        (state.is_empty(), state.arrivals)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere must not stop work.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn enter(self: &Arc<Self>, client: ClientKey) -> Result<Slot> {
        let wake = {
            let mut guard = self.lock();
            let state = &mut *guard;
            if !state.clients.contains_key(&client) && state.clients.len() >= MAX_CLIENTS {
                return Err(Error::Busy);
            }
            state.arrivals += 1;
            let arrived = state.arrivals;
            let entry = state
                .clients
                .entry(client.clone())
                .or_insert_with(|| ClientState {
                    arrived,
                    ..ClientState::default()
                });
            // Requests whose callers gave up no longer hold a place.
            entry.waiting.retain(|w| !w.is_closed());
            if entry.waiting.len() + entry.running >= PER_CLIENT_LIMIT {
                return Err(Error::Busy);
            }
            // Nobody of this client waits ahead, and any other waiting client is waiting only
            // for its own running requests (a free worker would have gone to it): go now.
            if state.running < WORKERS
                && entry.running < PER_CLIENT_RUNNING
                && entry.waiting.is_empty()
            {
                entry.running += 1;
                entry.served += 1;
                state.running += 1;
                return Ok(Slot {
                    queue: self.clone(),
                    client,
                });
            }
            let (tx, rx) = oneshot::channel();
            entry.waiting.push_back(tx);
            rx
        };
        let mut ticket = Ticket {
            wake: Some(wake),
            queue: self.clone(),
            client,
        };
        ticket.granted().await
    }

    /// A worker is free: `client`'s request finished (or gave up the worker it was handed).
    fn release(&self, client: &ClientKey) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.running = state.running.saturating_sub(1);
        if let Some(entry) = state.clients.get_mut(client) {
            entry.running = entry.running.saturating_sub(1);
            if entry.is_idle() {
                state.clients.remove(client);
            }
        }
        dispatch(state);
        if state.is_empty() {
            self.idle.notify_one();
        }
    }
}

/// Hands free workers to the waiting clients that may run more: the fewest running first,
/// then the fewest served, then the first come.
fn dispatch(state: &mut State) {
    while state.running < WORKERS {
        let next = state
            .clients
            .iter_mut()
            .filter(|(_, c)| c.running < PER_CLIENT_RUNNING)
            .filter_map(|(key, c)| {
                // Requests whose callers gave up no longer wait.
                c.waiting.retain(|w| !w.is_closed());
                (!c.waiting.is_empty()).then_some((key, c))
            })
            .min_by_key(|(_, c)| (c.running, c.served, c.arrived))
            .map(|(key, _)| key.clone());
        let Some(client) = next else {
            break;
        };
        let Some(entry) = state.clients.get_mut(&client) else {
            break;
        };
        while let Some(wake) = entry.waiting.pop_front() {
            // A caller may give up between the check above and now: skip to its next request.
            if wake.send(()).is_ok() {
                entry.running += 1;
                entry.served += 1;
                state.running += 1;
                break;
            }
        }
        if entry.is_idle() {
            state.clients.remove(&client);
        }
    }
}

/// A worker held by one request; dropping it frees the worker for the next.
struct Slot {
    queue: Arc<WorkQueue>,
    client: ClientKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.queue.release(&self.client);
    }
}

/// A request's place in its client's queue.
struct Ticket {
    wake: Option<oneshot::Receiver<()>>,
    queue: Arc<WorkQueue>,
    client: ClientKey,
}

impl Ticket {
    async fn granted(&mut self) -> Result<Slot> {
        let Some(wake) = self.wake.as_mut() else {
            return Err(Error::Internal("queue ticket used twice".to_owned()));
        };
        let woken = wake.await;
        self.wake = None;
        woken.map_err(|_| Error::Internal("the work queue went away".to_owned()))?;
        Ok(Slot {
            queue: self.queue.clone(),
            client: self.client.clone(),
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // The caller gave up while waiting. If a worker was handed over in the meantime, it
        // goes to the next request; otherwise the closed wake-up is skipped by the dispatcher.
        if let Some(mut wake) = self.wake.take() {
            wake.close();
            if wake.try_recv().is_ok() {
                self.queue.release(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests;
