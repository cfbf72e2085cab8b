//! The queue's rules with jobs that wait on gates the test opens: no card, no timing.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};

use super::*;

/// Jobs that record their start, then wait until the test lets them finish.
#[derive(Default, Clone)]
struct Jobs {
    started: Arc<Mutex<Vec<String>>>,
    gates: Arc<Mutex<HashMap<String, Sender<()>>>>,
}

impl Jobs {
    fn job(&self, name: &str) -> impl FnOnce() -> String + Send + 'static {
        let (open, gate) = channel::<()>();
        self.gates.lock().unwrap().insert(name.to_owned(), open);
        let (started, name) = (self.started.clone(), name.to_owned());
        move || {
            started.lock().unwrap().push(name.clone());
            let _ = gate.recv();
            name
        }
    }

    fn finish(&self, name: &str) {
        self.gates.lock().unwrap().remove(name);
    }

    fn finish_all(&self) {
        self.gates.lock().unwrap().clear();
    }

    /// How many of the jobs whose names start with `prefix` have started.
    fn started(&self, prefix: &str) -> usize {
        let started = self.started.lock().unwrap();
        started.iter().filter(|n| n.starts_with(prefix)).count()
    }

    /// The names of started jobs with `prefix`.
    fn started_names(&self, prefix: &str) -> Vec<String> {
        let started = self.started.lock().unwrap();
        started
            .iter()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Waits (yielding, no deadline) until `n` jobs have started.
    async fn until_started(&self, n: usize) {
        while self.started.lock().unwrap().len() < n {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

fn page(name: &str) -> ClientKey {
    ClientKey::Page {
        connection: 1,
        origin: format!("https://{name}.example"),
    }
}

fn submit(
    queue: &Arc<WorkQueue>,
    jobs: &Jobs,
    client: ClientKey,
    name: &str,
) -> tokio::task::JoinHandle<Result<String>> {
    let (queue, work) = (queue.clone(), jobs.job(name));
    tokio::spawn(async move { queue.run(client, work).await })
}

/// Waits until `client` has `n` requests waiting (not yet running).
async fn until_waiting(queue: &WorkQueue, client: &ClientKey, n: usize) {
    loop {
        let waiting = queue
            .lock()
            .clients
            .get(client)
            .map_or(0, |c| c.waiting.len());
        if waiting >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tabs_hundred_requests_do_not_hold_back_another_tabs_login() {
    let (queue, jobs) = (WorkQueue::new(), Jobs::default());
    let busy_tab = page("busy");
    let mut handles: Vec<_> = (0..PER_CLIENT_LIMIT)
        .map(|i| submit(&queue, &jobs, busy_tab.clone(), &format!("busy-{i:03}")))
        .collect();
    until_waiting(&queue, &busy_tab, PER_CLIENT_LIMIT - PER_CLIENT_RUNNING).await;
    let login = submit(&queue, &jobs, page("login"), "login");
    jobs.until_started(PER_CLIENT_RUNNING + 1).await;
    // Two of the busy tab's requests run; the other tab's single request runs next to them,
    // ahead of the thirty the busy tab has waiting.
    assert_eq!(jobs.started("busy-"), PER_CLIENT_RUNNING);
    assert_eq!(jobs.started("login"), 1);
    jobs.finish("login");
    assert_eq!(login.await.unwrap().unwrap(), "login");
    jobs.finish_all();
    for h in handles.drain(..) {
        h.await.unwrap().unwrap();
    }
    // Nothing is left behind: no worker counted, no client remembered.
    assert_eq!(queue.running(), 0);
    assert!(queue.lock().clients.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_busy_for_its_client_only() {
    let (queue, jobs) = (WorkQueue::new(), Jobs::default());
    let busy_tab = page("busy");
    let handles: Vec<_> = (0..PER_CLIENT_LIMIT)
        .map(|i| submit(&queue, &jobs, busy_tab.clone(), &format!("busy-{i:03}")))
        .collect();
    until_waiting(&queue, &busy_tab, PER_CLIENT_LIMIT - PER_CLIENT_RUNNING).await;
    let refused = queue.run(busy_tab.clone(), || ()).await;
    assert!(matches!(refused, Err(Error::Busy)), "{refused:?}");
    assert_eq!(Error::Busy.code(), card_agent_protocol::ErrorCode::Busy);
    // Another tab, and a local program, are served as usual.
    assert_eq!(queue.run(page("other"), || 7).await.unwrap(), 7);
    assert_eq!(queue.run(ClientKey::Local(1), || 8).await.unwrap(), 8);
    jobs.finish_all();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    // Once its answers are out, the busy tab is served again.
    assert_eq!(queue.run(busy_tab, || 9).await.unwrap(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_never_exceed_the_bound_and_a_freed_one_goes_to_the_tab_served_least() {
    let (queue, jobs) = (WorkQueue::new(), Jobs::default());
    let tabs: Vec<ClientKey> = (0..4).map(|i| page(&format!("tab{i}"))).collect();
    let mut handles = Vec::new();
    for (t, tab) in tabs.iter().enumerate() {
        for i in 0..5 {
            handles.push(submit(&queue, &jobs, tab.clone(), &format!("t{t}-{i}")));
        }
        // Each tab's requests are all in before the next tab's.
        until_waiting(&queue, tab, 5 - PER_CLIENT_RUNNING.min(5)).await;
    }
    jobs.until_started(WORKERS).await;
    assert_eq!(queue.running(), WORKERS);
    // The first two tabs took the four workers, two each.
    assert_eq!((jobs.started("t0-"), jobs.started("t1-")), (2, 2));
    // The workers the first tab frees go to the tabs that have had none, in the order they
    // came, although the first tab still has three waiting.
    let first_tab = jobs.started_names("t0-");
    jobs.finish(&first_tab[0]);
    jobs.until_started(WORKERS + 1).await;
    assert_eq!((jobs.started("t2-"), jobs.started("t3-")), (1, 0));
    jobs.finish(&first_tab[1]);
    jobs.until_started(WORKERS + 2).await;
    assert_eq!((jobs.started("t2-"), jobs.started("t3-")), (1, 1));
    assert_eq!(jobs.started("t0-"), 2);
    assert_eq!(queue.running(), WORKERS);
    jobs.finish_all();
    for h in handles {
        h.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_while_waiting_frees_its_place() {
    let (queue, jobs) = (WorkQueue::new(), Jobs::default());
    let tab = page("tab");
    let running: Vec<_> = (0..PER_CLIENT_RUNNING)
        .map(|i| submit(&queue, &jobs, tab.clone(), &format!("run-{i}")))
        .collect();
    jobs.until_started(PER_CLIENT_RUNNING).await;
    let given_up = submit(&queue, &jobs, tab.clone(), "given-up");
    until_waiting(&queue, &tab, 1).await;
    given_up.abort();
    let _ = given_up.await;
    let next = submit(&queue, &jobs, tab.clone(), "next");
    until_waiting(&queue, &tab, 1).await;
    jobs.finish("run-0");
    jobs.until_started(PER_CLIENT_RUNNING + 1).await;
    assert_eq!(jobs.started("given-up"), 0);
    assert_eq!(jobs.started("next"), 1);
    jobs.finish_all();
    assert_eq!(next.await.unwrap().unwrap(), "next");
    for h in running {
        h.await.unwrap().unwrap();
    }
    assert_eq!(queue.running(), 0);
}

/// Whether `queue.quiet_after(seen, period)` is still waiting after a day of the paused clock.
async fn quiet_waits_a_day(queue: &Arc<WorkQueue>, seen: u64, period: std::time::Duration) -> bool {
    let queue = queue.clone();
    let waiting = tokio::spawn(async move { queue.quiet_after(seen, period).await });
    // Moved by hand: the paused clock does not move by itself while a blocking job runs.
    tokio::time::advance(std::time::Duration::from_secs(86_400)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let still = !waiting.is_finished();
    waiting.abort();
    still
}

/// Runs one job to its end.
async fn run_one(queue: &Arc<WorkQueue>, jobs: &Jobs, name: &str) {
    let job = submit(queue, jobs, page("tab"), name);
    jobs.finish(name);
    job.await.unwrap().unwrap();
}

/// The daemon gives memory back after a burst (crate::allocator): the queue says when it has
/// been quiet, once per burst, and never while idle with nothing come (an idle daemon must
/// not wake). The clock is tokio's paused test clock.
#[tokio::test(start_paused = true)]
async fn quiet_comes_once_after_each_burst_and_never_while_nothing_comes() {
    let (queue, jobs) = (WorkQueue::new(), Jobs::default());
    let period = std::time::Duration::from_secs(2);
    assert!(
        quiet_waits_a_day(&queue, 0, period).await,
        "before any request"
    );

    let running = submit(&queue, &jobs, page("tab"), "sign");
    while jobs.started("sign") == 0 {
        // The job starts on a blocking thread, in real time: no paused-clock sleep here.
        tokio::task::yield_now().await;
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(
        quiet_waits_a_day(&queue, 0, period).await,
        "while a request runs"
    );
    jobs.finish("sign");
    running.await.unwrap().unwrap();
    let started = tokio::time::Instant::now();
    let seen = queue.quiet_after(0, period).await;
    assert!(started.elapsed() >= period);
    assert_eq!(seen, 1);
    assert!(
        quiet_waits_a_day(&queue, seen, period).await,
        "twice for one burst"
    );

    // A request that comes during the quiet period starts the period again.
    let waiting = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.quiet_after(seen, period).await })
    };
    run_one(&queue, &jobs, "first").await;
    tokio::time::sleep(period / 2).await;
    run_one(&queue, &jobs, "second").await;
    let after_second = tokio::time::Instant::now();
    assert_eq!(waiting.await.unwrap(), 3);
    assert!(after_second.elapsed() >= period);
}
