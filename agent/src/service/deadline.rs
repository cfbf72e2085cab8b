//! Running a service call from an async adapter: on a blocking thread (cards and dialogs
//! block), within the timeout ladder's budget. The one helper the daemon's socket and the
//! legacy HTTP API both use.

use std::sync::Arc;
use std::time::Duration;

use super::Service;
use crate::error::{Error, Result};
use crate::pinentry::Client;

/// Runs `work` on a blocking thread and waits at most `limit` for it. When the time is up the
/// caller stops waiting: `client`'s dialog closes, no card operation starts for it any more,
/// and a result that still comes is discarded by the service (and logged); the caller hears
/// `Timeout` now rather than never.
pub async fn call<T: Send + 'static>(
    service: &Arc<Service>,
    client: &Client,
    limit: Duration,
    work: impl FnOnce(&Service) -> Result<T> + Send + 'static,
) -> Result<T> {
    let worker = service.clone();
    let task = tokio::task::spawn_blocking(move || work(&worker));
    match tokio::time::timeout(limit, task).await {
        // A failure caused by the daemon stopping (its dialog was closed) says so.
        Ok(Ok(outcome)) => service.explain(outcome),
        Ok(Err(join)) => Err(Error::Internal(format!("the request failed: {join}"))),
        Err(_) => {
            tracing::info!(limit_secs = limit.as_secs(), "the request's time is up");
            service.client_gone(client);
            Err(Error::Timeout)
        }
    }
}
