//! Card work for an HTTP request, run on a blocking thread and tied to the request's life: when
//! the page stops waiting (its connection closes, hyper drops the request's future) or the time
//! runs out, its dialogs close and no card operation starts for it after that.

use std::sync::Arc;
use std::time::Duration;

use super::handlers::{sender, Context};
use crate::error::{Error, Result};
use crate::service::Service;

/// Longest a request that may show the PIN dialog can take.
const CARD_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs blocking service work for `client` on a blocking thread, bounded in time. When the
/// HTTP client goes away (hyper drops this future) or the time runs out, the client is marked
/// gone: its dialogs close and no card operation starts for it after that. A result that
/// finished in the race is discarded, and the log says so.
pub(super) async fn blocking<T: Send + 'static>(
    ctx: &Context,
    client: &crate::pinentry::Client,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let guard = Abandoned {
        service: ctx.service.clone(),
        client: client.clone(),
        armed: true,
    };
    let watched = client.clone();
    let sender = sender(&ctx.requester);
    let task = tokio::task::spawn_blocking(move || {
        let outcome = work();
        if watched.is_gone() {
            let result = if outcome.is_ok() { "discarded" } else { "none" };
            tracing::info!(result, "legacy request: the page went away ({sender})");
        }
        outcome
    });
    let outcome = match tokio::time::timeout(CARD_TIMEOUT, task).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(Error::Internal(format!("request failed: {e}"))),
        Err(_) => Err(Error::Timeout),
    };
    let mut guard = guard;
    guard.armed = matches!(outcome, Err(Error::Timeout));
    outcome
}

/// Marks a request's client gone when its future is dropped before the work ended.
struct Abandoned {
    service: Arc<Service>,
    client: crate::pinentry::Client,
    armed: bool,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if self.armed {
            self.service.client_gone(&self.client);
        }
    }
}
