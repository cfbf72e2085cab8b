//! Running a service call from an async adapter: through the work queue onto one of its few
//! blocking workers (cards and dialogs block), within the timeout ladder's budget. The one
//! helper the daemon's socket and the legacy HTTP API both use.

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
        Err(_) => {
            tracing::info!(limit_secs = limit.as_secs(), "the request's time is up");
            service.client_gone(client);
            Err(Error::Timeout)
        }
    }
}
