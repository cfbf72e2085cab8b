//! Card work for an HTTP request, tied to the request's life: the service call runs within the
//! legacy API's budget of the timeout ladder ([`deadline::call`]), and when the page stops
//! waiting (its connection closes and hyper drops the request's future) its dialogs close and
//! no card operation starts for it after that. A result that finished in the race is
//! discarded (the service says so in the log), and this module logs that the page went away.

use std::sync::Arc;

use card_agent_protocol::timeouts;

use super::handlers::Context;
use crate::error::Result;
use crate::pinentry::Client;
use crate::service::{deadline, Service};
use crate::work_queue::{ClientKey, LEGACY_API};

/// Runs a service call for `client`: within the legacy budget, and abandoned with its page.
pub(super) async fn blocking<T: Send + 'static>(
    ctx: &Context,
    client: &Client,
    work: impl FnOnce(&Service) -> Result<T> + Send + 'static,
) -> Result<T> {
    let mut guard = Abandoned {
        service: ctx.service.clone(),
        client: client.clone(),
        armed: true,
    };
    let (watched, sender) = (client.clone(), ctx.sender());
    let watched_work = move |service: &Service| {
        let outcome = work(service);
        if watched.is_gone() {
            let result = if outcome.is_ok() { "discarded" } else { "none" };
            tracing::info!(result, "legacy request: the page went away ({sender})");
        }
        outcome
    };
    // The work waits for a worker in its page's queue (requests without a page share one).
    let queue = match &ctx.caller {
        Ok(caller) => caller.queue_key(LEGACY_API),
        Err(_) => ClientKey::Local(LEGACY_API),
    };
    let outcome = deadline::call(
        &ctx.service,
        client,
        queue,
        timeouts::DAEMON_LEGACY,
        watched_work,
    )
    .await;
    guard.armed = false;
    outcome
}

/// Marks a request's client gone when its future is dropped before the work ended.
struct Abandoned {
    service: Arc<Service>,
    client: Client,
    armed: bool,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if self.armed {
            self.service.client_gone(&self.client);
        }
    }
}
