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
//! - **Bounded.** At most [`WORKERS`] workers run service work at once, each a task on the
//!   runtime's blocking pool (which the daemon caps just above, see [`BLOCKING_THREADS`]).
//! - **No hand-off between requests.** A waiting request is its job itself, not a caller to
//!   wake: a worker that finishes one takes the next from the queue and runs it at once, and
//!   ends only when none is ready. In a burst a worker never sleeps between requests, and no
//!   other thread is woken to start one (on a virtual machine each such wake-up costs tens of
//!   microseconds and moves the token's work between CPUs; BENCHMARKS.md, "threads alone").
//!   The workers being the runtime's blocking tasks, its shutdown grace covers them, and a
//!   test's paused clock does not move while one runs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::error::{Error, Result};

mod job;

use job::{Call, Job};

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

/// The queue and its workers.
#[derive(Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    /// Told each time the last request finishes and nothing waits (see [`WorkQueue::quiet_after`]).
    idle: tokio::sync::Notify,
}

impl std::fmt::Debug for WorkQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkQueue")
            .field("running", &self.running())
            .finish_non_exhaustive()
    }
}

/// A request handed a worker: whose it is, and its work.
type Ready = (ClientKey, Box<dyn Job>);

#[derive(Default)]
struct State {
    clients: HashMap<ClientKey, ClientState>,
    /// Requests handed a worker: the ready ones and those a worker runs.
    running: usize,
    /// Handed a worker, not yet taken by one, in the order they were handed.
    ready: VecDeque<Ready>,
    /// Workers running (each a blocking task that runs ready jobs until none is left).
    workers: usize,
    /// Counts requests as they come, so that equals are served in the order they came (and
    /// a quiet period can tell that nothing came).
    arrivals: u64,
}

#[derive(Default)]
struct ClientState {
    /// The client's waiting requests, in the order they came.
    waiting: VecDeque<Box<dyn Job>>,
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
    /// returned future while it waits gives its place up (its work never starts); once
    /// running, the work finishes and only then frees its worker.
    pub async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        client: ClientKey,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R> {
        let (answer, answered) = oneshot::channel();
        self.enter(client, Box::new(Call::new(work, answer)))?;
        match answered.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panicked)) => Err(Error::Internal(format!("request failed: {panicked}"))),
            Err(_) => Err(Error::Internal(
                "no worker could run the request".to_owned(),
            )),
        }
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

    /// Queues `job` for `client`, or refuses it at once when the client's queue (or the
    /// queue of clients) is full.
    fn enter(self: &Arc<Self>, client: ClientKey, job: Box<dyn Job>) -> Result<()> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::Internal(format!("no runtime to run the request on: {e}")))?;
        let mut gone = Vec::new();
        let start = self.enter_locked(client, job, &mut gone)?;
        // Given-up requests' work is dropped here, outside the lock: dropping it runs whatever
        // the work held, which must not find the queue locked. Workers start outside it too.
        drop(gone);
        self.start_workers(&runtime, start);
        Ok(())
    }

    /// Queues `job`; returns how many workers to start for the ready jobs.
    fn enter_locked(
        self: &Arc<Self>,
        client: ClientKey,
        job: Box<dyn Job>,
        gone: &mut Vec<Box<dyn Job>>,
    ) -> Result<usize> {
        let mut guard = self.lock();
        let state = &mut *guard;
        if !state.clients.contains_key(&client) && state.clients.len() >= MAX_CLIENTS {
            return Err(Error::Busy);
        }
        state.arrivals += 1;
        let arrived = state.arrivals;
        let entry = state.clients.entry(client).or_insert_with(|| ClientState {
            arrived,
            ..ClientState::default()
        });
        // Requests whose callers gave up no longer hold a place.
        take_abandoned(&mut entry.waiting, gone);
        if entry.waiting.len() + entry.running >= PER_CLIENT_LIMIT {
            return Err(Error::Busy);
        }
        entry.waiting.push_back(job);
        dispatch(state, gone);
        Ok(workers_wanted(state))
    }

    /// A worker's life: run ready jobs, taking the next one itself each time, until none is
    /// ready.
    fn work(self: Arc<Self>, runtime: &tokio::runtime::Handle) {
        let mut next = self.next_job(&mut self.lock());
        while let Some((client, job)) = next {
            // A caller that gave up after its request was handed a worker: it never starts.
            if !job.abandoned() {
                job.run();
            }
            let mut gone = Vec::new();
            let start;
            (next, start) = self.finish(&client, &mut gone);
            drop(gone);
            self.start_workers(runtime, start);
        }
    }

    /// `client`'s request finished: frees its worker, hands free workers out, and returns the
    /// job this worker runs next, if one is ready, and how many more workers to start.
    fn finish(
        self: &Arc<Self>,
        client: &ClientKey,
        gone: &mut Vec<Box<dyn Job>>,
    ) -> (Option<Ready>, usize) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.running = state.running.saturating_sub(1);
        if let Some(entry) = state.clients.get_mut(client) {
            entry.running = entry.running.saturating_sub(1);
            if entry.is_idle() {
                state.clients.remove(client);
            }
        }
        dispatch(state, gone);
        // This worker takes the first ready job: no other thread is woken for it.
        let mine = self.next_job(state);
        let start = workers_wanted(state);
        if state.is_empty() {
            self.idle.notify_one();
        }
        (mine, start)
    }

    /// The next ready job for a worker; `None` counts the worker out (it ends).
    fn next_job(&self, state: &mut State) -> Option<Ready> {
        let next = state.ready.pop_front();
        if next.is_none() {
            state.workers = state.workers.saturating_sub(1);
        }
        next
    }

    /// Starts `count` workers on `runtime`'s blocking pool (already counted in the state).
    fn start_workers(self: &Arc<Self>, runtime: &tokio::runtime::Handle, count: usize) {
        for _ in 0..count {
            let (queue, handle) = (self.clone(), runtime.clone());
            // The worker's end is seen through the queue's state; its handle is not needed.
            drop(runtime.spawn_blocking(move || queue.work(&handle)));
        }
    }
}

/// How many workers to start so that a worker will take each ready job: one per request
/// holding a worker, at most [`WORKERS`]. They are counted as running from now.
fn workers_wanted(state: &mut State) -> usize {
    let wanted = state.running.min(WORKERS).saturating_sub(state.workers);
    state.workers += wanted;
    wanted
}

/// Moves the jobs whose callers gave up from `waiting` to `gone`, keeping the others' order.
fn take_abandoned(waiting: &mut VecDeque<Box<dyn Job>>, gone: &mut Vec<Box<dyn Job>>) {
    if waiting.iter().any(|j| j.abandoned()) {
        let (left, kept): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|j| j.abandoned());
        gone.extend(left);
        waiting.extend(kept);
    }
}

/// Hands free workers to the waiting clients that may run more: the fewest running first,
/// then the fewest served, then the first come.
fn dispatch(state: &mut State, gone: &mut Vec<Box<dyn Job>>) {
    while state.running < WORKERS {
        let next = state
            .clients
            .iter_mut()
            .filter(|(_, c)| c.running < PER_CLIENT_RUNNING)
            .filter_map(|(key, c)| {
                // Requests whose callers gave up no longer wait.
                take_abandoned(&mut c.waiting, gone);
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
        if let Some(job) = entry.waiting.pop_front() {
            entry.running += 1;
            entry.served += 1;
            state.running += 1;
            state.ready.push_back((client.clone(), job));
        }
        if entry.is_idle() {
            state.clients.remove(&client);
        }
    }
}

#[cfg(test)]
mod tests;
