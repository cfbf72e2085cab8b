//! A connection's one way out: each frame is written whole, one at a time, by the task that
//! has it. A request's answer is written by the request's own task, on the thread that ran
//! the request: handing it to a writer task on another thread cost a thread wake-up on every
//! answer (BENCHMARKS.md, issue 16).

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

/// The write half of a connection, shared by its tasks.
pub(super) struct Outbox {
    writer: Mutex<Option<Box<dyn AsyncWrite + Send + Unpin>>>,
}

impl Outbox {
    /// The way out through `writer`.
    pub(super) fn new(writer: impl AsyncWrite + Send + Unpin + 'static) -> Outbox {
        Outbox {
            writer: Mutex::new(Some(Box::new(writer))),
        }
    }

    /// Writes `frame` whole, after any frame already being written. False once the client is
    /// gone: a failed write closes the way out for every task. A client that stops reading
    /// stalls only its own connection's tasks.
    pub(super) async fn send(&self, frame: &[u8]) -> bool {
        let mut writer = self.writer.lock().await;
        let Some(w) = writer.as_mut() else {
            return false;
        };
        if w.write_all(frame).await.is_err() {
            *writer = None;
            return false;
        }
        true
    }

    /// Ends the way out: the client sees the end of the stream once every frame is written.
    pub(super) async fn close(&self) {
        if let Some(mut w) = self.writer.lock().await.take() {
            let _ = w.shutdown().await;
        }
    }
}
