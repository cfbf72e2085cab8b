//! A request's work as the queue keeps it while it waits: any result type, behind one trait.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tokio::sync::oneshot;

/// Waiting work of any result type: what the queue holds for each waiting request.
pub(super) trait Job: Send {
    /// Runs the work and hands its result (or its panic) to the caller.
    fn run(self: Box<Self>);
    /// Whether the caller has stopped waiting, so the work must not start.
    fn abandoned(&self) -> bool;
}

/// `work` and where its caller waits for the result.
pub(super) struct Call<F, R> {
    work: F,
    answer: oneshot::Sender<Result<R, String>>,
}

impl<F, R> Call<F, R> {
    pub(super) fn new(work: F, answer: oneshot::Sender<Result<R, String>>) -> Self {
        Call { work, answer }
    }
}

impl<F, R> Job for Call<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    fn run(self: Box<Self>) {
        // A panicking request fails alone; its worker goes on to the next.
        let outcome = catch_unwind(AssertUnwindSafe(self.work)).map_err(panic_message);
        // A caller that gave up meanwhile no longer listens; the result is dropped.
        let _ = self.answer.send(outcome);
    }

    fn abandoned(&self) -> bool {
        self.answer.is_closed()
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the request's work panicked".to_owned())
}
