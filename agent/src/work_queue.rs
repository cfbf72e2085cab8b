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
//! - **Bounded.** At most [`WORKERS`] threads of the queue's own run service work (and the
//!   daemon's runtime caps its blocking pool at a small reserve, see [`BLOCKING_THREADS`]).
//! - **No hand-off between requests.** A waiting request is its job itself, not a caller to
//!   wake: a worker that finishes one takes the next from the queue and runs it at once. In a
//!   burst a worker never sleeps between requests, and no other thread is woken to start one
//!   (on a virtual machine each such wake-up costs tens of microseconds and moves the token's
//!   work between CPUs; BENCHMARKS.md, "threads alone").

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::allocator::WORKER_KEEP_ALIVE;
use crate::error::{Error, Result};

mod job;

use job::{Call, Job};

/// Blocking workers for service work: one for the token in use, one preparing the next request
/// (finding its certificate, encoding) while the token signs, and two for a dialog or another
/// token. More would only wait on the token's turn or the one-dialog-at-a-time rule.
pub const WORKERS: usize = 4;

/// The runtime's blocking pool, for its own few blocking calls (service work runs on the
/// queue's workers, never there).
pub const RUNTIME_BLOCKING_THREADS: usize = 2;

/// Every blocking thread the daemon may add to its idle ones: the queue's workers and the
/// runtime's blocking pool.
pub const BLOCKING_THREADS: usize = WORKERS + RUNTIME_BLOCKING_THREADS;

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

/// The queue and its blocking workers.
#[derive(Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    /// Wakes an idle worker when a job is ready for it.
    ready: Condvar,
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

#[derive(Default)]
struct State {
    clients: HashMap<ClientKey, ClientState>,
    /// Requests handed a worker: the ready ones and those a worker runs.
    running: usize,
    /// Handed a worker, not yet taken by one, in the order they were handed.
    ready: VecDeque<(ClientKey, Box<dyn Job>)>,
    /// The queue's worker threads, and how many of them wait for a ready job.
    workers: usize,
    idle_workers: usize,
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
        entry.waiting.retain(|j| !j.abandoned());
        if entry.waiting.len() + entry.running >= PER_CLIENT_LIMIT {
            return Err(Error::Busy);
        }
        entry.waiting.push_back(job);
        dispatch(state);
        self.attend(state);
        Ok(())
    }

    /// A worker thread's life: run the ready jobs, taking the next one itself each time, and
    /// end after [`WORKER_KEEP_ALIVE`] with nothing to run.
    fn work(self: Arc<Self>) {
        let mut next = self.wait_for_job(self.lock());
        while let Some((client, job)) = next {
            // A caller that gave up after its request was handed a worker: it never starts.
            if !job.abandoned() {
                job.run();
            }
            next = self.finish(&client);
        }
    }

    /// `client`'s request finished: frees its worker, hands free workers out, and returns the
    /// job this worker runs next, waiting for one if none is ready.
    fn finish(self: &Arc<Self>, client: &ClientKey) -> Option<(ClientKey, Box<dyn Job>)> {
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
        // This worker takes the first ready job: no other thread is woken for it.
        let mine = state.ready.pop_front();
        self.attend(state);
        if state.is_empty() {
            self.idle.notify_one();
        }
        match mine {
            Some(job) => Some(job),
            None => self.wait_for_job(guard),
        }
    }

    /// Waits as an idle worker for a ready job; `None` when none came within
    /// [`WORKER_KEEP_ALIVE`] (the worker then ends, counted out).
    fn wait_for_job(&self, mut guard: MutexGuard<'_, State>) -> Option<(ClientKey, Box<dyn Job>)> {
        loop {
            if let Some(job) = guard.ready.pop_front() {
                return Some(job);
            }
            guard.idle_workers += 1;
            let (woken, waited) = self
                .ready
                .wait_timeout(guard, WORKER_KEEP_ALIVE)
                .unwrap_or_else(PoisonError::into_inner);
            guard = woken;
            guard.idle_workers -= 1;
            if waited.timed_out() && guard.ready.is_empty() {
                guard.workers -= 1;
                return None;
            }
        }
    }

    /// Starts one worker thread (the caller counts it).
    fn start_worker(self: &Arc<Self>) -> std::io::Result<()> {
        let queue = self.clone();
        std::thread::Builder::new()
            .name("card-agent-work".to_owned())
            .spawn(move || queue.work())
            .map(drop)
    }

    /// Makes sure a worker will take each ready job: idle workers are woken for them, and
    /// workers started while fewer exist than requests hold one (at most [`WORKERS`]).
    fn attend(self: &Arc<Self>, state: &mut State) {
        for _ in 0..state.ready.len().min(state.idle_workers) {
            self.ready.notify_one();
        }
        while state.workers < state.running.min(WORKERS) {
            if let Err(e) = self.start_worker() {
                tracing::error!(error = %e, "cannot start a worker thread");
                break;
            }
            state.workers += 1;
        }
        if state.workers == 0 {
            // Not one worker could start: the ready requests fail now (their callers hear
            // it) rather than wait for ever.
            for (client, _job) in std::mem::take(&mut state.ready) {
                state.running = state.running.saturating_sub(1);
                if let Some(entry) = state.clients.get_mut(&client) {
                    entry.running = entry.running.saturating_sub(1);
                }
            }
            state.clients.retain(|_, c| !c.is_idle());
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
                c.waiting.retain(|j| !j.abandoned());
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
