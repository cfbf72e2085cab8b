//! Running a service call from an async adapter: through the work queue onto one of its few
//! workers (cards and dialogs block), within the timeout ladder's budget. The helpers the
//! daemon's socket and the legacy HTTP API use.

use std::sync::Arc;
use std::time::Duration;

use super::Service;
use crate::error::{Error, Result};
use crate::pinentry::Client;
use crate::work_queue::ClientKey;

/// Runs `work` when `queue`'s turn comes in the work queue (see [`crate::work_queue`]: it
/// waits as a queue entry, not on a thread; a full queue is [`Error::Busy`] at once), and
/// waits at most `limit` for it, the wait for a worker included. When the time is up the
/// caller stops waiting: `client`'s dialog closes, no card operation starts for it any more,
/// and a result that still comes is discarded by the service (and logged); the caller hears
/// `Timeout` now rather than never.
pub async fn call<T: Send + 'static>(
    service: &Arc<Service>,
    client: &Client,
    queue: ClientKey,
    limit: Duration,
    work: impl FnOnce(&Service) -> Result<T> + Send + 'static,
) -> Result<T> {
    let worker = service.clone();
    let task = service.queue().run(queue, move || work(&worker));
    match tokio::time::timeout(limit, task).await {
        // A failure caused by the daemon stopping (its dialog was closed) says so.
        Ok(Ok(outcome)) => service.explain(outcome),
        Ok(Err(refused)) => Err(refused),
        Err(_) => Err(time_up(service, client, limit)),
    }
}

/// [`call`], with the work run on the caller's own runtime thread once the work queue grants
/// it a worker (the runtime hands its other tasks to another thread meanwhile): no hand-off
/// to a blocking thread and back, which cost two thread wake-ups per request (BENCHMARKS.md,
/// issue 16). For an adapter whose transport watches for the caller leaving on another task
/// (the daemon's socket: its reader task sees the connection close or a `cancel`), since this
/// task cannot be dropped while the work runs.
///
/// When the time is up the caller's dialog closes and no card operation starts for it any
/// more, as with [`call`]; the answer, `Timeout`, goes out when the work returns. A card
/// module that never returns holds its worker and leaves the answer to the ladder's outer
/// rungs (the native host's and the extension's own deadlines). On a runtime without worker
/// threads to hand over (tests' single-threaded runtimes), this is [`call`].
pub async fn call_in_place<T: Send + 'static>(
    service: &Arc<Service>,
    client: &Client,
    queue: ClientKey,
    limit: Duration,
    work: impl FnOnce(&Service) -> Result<T> + Send + 'static,
) -> Result<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() != RuntimeFlavor::MultiThread {
        return call(service, client, queue, limit, work).await;
    }
    let deadline = tokio::time::Instant::now() + limit;
    let slot = match tokio::time::timeout_at(deadline, service.queue().enter(queue)).await {
        Ok(granted) => granted?,
        Err(_) => return Err(time_up(service, client, limit)),
    };
    let watchdog = {
        let (service, client) = (service.clone(), client.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            time_up(&service, &client, limit);
        })
    };
    let outcome = tokio::task::block_in_place(|| work(service));
    watchdog.abort();
    drop(slot);
    if tokio::time::Instant::now() >= deadline {
        return Err(Error::Timeout);
    }
    service.explain(outcome)
}

/// The request's time is up: its dialog closes and no card operation starts for it.
fn time_up(service: &Service, client: &Client, limit: Duration) -> Error {
    tracing::info!(limit_secs = limit.as_secs(), "the request's time is up");
    service.client_gone(client);
    Error::Timeout
}
