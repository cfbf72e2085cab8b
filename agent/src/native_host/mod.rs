//! `card-agent native-host`: what the browser starts for the extension (native messaging host
//! `tw.card_agent`). It checks who started it, then relays framed messages between the
//! browser (stdin/stdout) and the daemon (the IPC socket), starting the daemon when none runs.
//!
//! The host is deliberately thin: it enforces only what must be enforced at the browser's door
//! — the caller is one of our extensions, every frame is bounded, every page request carries
//! the origin the extension took from the browser — and leaves every other rule to the daemon.

use std::time::Duration;

use card_agent_protocol::message::{parse_request, ErrorBody, RequestId, Response};
use card_agent_protocol::{ErrorCode, Language};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::framed::{FrameReader, FrameWriter};

pub use crate::service::caller::{BrowserCaller, DEV_EXTENSION_ID, FIREFOX_ADDON_ID};
pub use visit::{last_seen, record_visit, LastSeen, LAST_SEEN_FILE};

mod stdio;
mod visit;

/// The native messaging host name.
pub const HOST_NAME: &str = "tw.card_agent";

/// Runs the host until the browser closes stdin or the daemon closes the connection.
pub fn run(args: &[String], configured: &[String]) -> Result<()> {
    let caller = BrowserCaller::from_args(args).ok_or_else(|| {
        Error::BadInput("native-host: started without a browser caller argument".to_owned())
    })?;
    if !caller.is_allowed(configured) {
        return Err(Error::CallerNotAllowed {
            caller: format!("{caller:?}"),
        });
    }
    // The environment check reads this to tell whether the extension ever reached us; a
    // failure to record it must not stop the browser's session.
    if let Err(e) = record_visit(
        &crate::config::state_dir(),
        &caller,
        crate::inventory::now_unix(),
    ) {
        tracing::debug!(error = %e, "extension visit not recorded");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the runtime: {e}")))?;
    let outcome = runtime.block_on(async {
        let daemon = crate::ipc::connect_or_start().await;
        let (browser_in, browser_out) = stdio::browser_stdio();
        relay(browser_in, browser_out, daemon, caller.clone()).await
    });
    // When stdin is not a pipe, tokio reads it with a blocking read on a thread of its own,
    // which nothing can cancel; when the relay ends for another reason than the end of input,
    // that read is still pending, and dropping the runtime would wait for it, that is, for the
    // browser. Everything that had to finish has (the relay waited for its writer), so leave
    // that thread behind.
    runtime.shutdown_background();
    outcome
}

/// Relays frames until the browser closes stdin or the daemon closes the connection. Frames
/// from the browser are checked (bounded, a request with an origin) before they reach the
/// daemon; frames from the daemon are checked against the browser's message limit. When the
/// daemon cannot be reached at all, every request gets an error response rather than silence;
/// when a connected daemon goes away (it stopped or crashed), the host ends, so the browser
/// disconnects the extension's port instead of waiting forever for answers, and the next
/// connection starts a daemon again. Before it ends, every request the daemon took but never
/// answered (it was killed in the middle of a sign, say) gets an error response, so the page
/// hears why instead of losing its request to a disconnect.
pub async fn relay<R, W, D>(
    browser_in: R,
    mut browser_out: W,
    daemon: Result<D>,
    started_by: BrowserCaller,
) -> Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
    D: AsyncRead + AsyncWrite + Send + 'static,
{
    let (to_browser, mut outgoing) = tokio::sync::mpsc::channel::<Vec<u8>>(32);
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if browser_out.write_all(&frame).await.is_err() || browser_out.flush().await.is_err() {
                break;
            }
        }
    });
    let pending = Pending::default();
    let (mut daemon_writer, daemon_gone) = match daemon {
        Ok(stream) => {
            let (daemon_reader, daemon_writer) = tokio::io::split(stream);
            let daemon_writer = FrameWriter::new(daemon_writer);
            let to_browser = to_browser.clone();
            let (gone, daemon_gone) = tokio::sync::oneshot::channel::<()>();
            let pending = pending.clone();
            tokio::spawn(async move {
                daemon_to_browser(daemon_reader, to_browser, &pending).await;
                let _ = gone.send(());
            });
            (Some(daemon_writer), Some(daemon_gone))
        }
        Err(e) => {
            tracing::warn!(error = %e, "daemon unreachable");
            (None, None)
        }
    };
    // Resolves when the daemon closes the connection; never when there is none.
    let daemon_gone = async move {
        match daemon_gone {
            Some(gone) => {
                let _ = gone.await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(daemon_gone);
    let mut frames = FrameReader::new(browser_in);
    let lang = crate::config::language(None);
    // Set when the daemon went away (rather than the browser): its unanswered requests then
    // get an error from the host.
    let mut daemon_lost = false;
    loop {
        let read = tokio::select! {
            read = frames.read_frame() => read,
            () = &mut daemon_gone => {
                tracing::warn!("the daemon closed the connection");
                daemon_lost = true;
                break;
            }
        };
        let payload = match read {
            Ok(Some(payload)) => payload,
            Ok(None) => break,
            Err(e) => {
                if let Some(body) = e.refusal(lang) {
                    let _ = to_browser
                        .send(Response::error(None, body).frame_for_browser())
                        .await;
                }
                break;
            }
        };
        let id = match check_request(payload, daemon_writer.is_some(), &started_by, lang) {
            Ok(id) => id,
            Err(refusal) => {
                let _ = to_browser.send(refusal.frame_for_browser()).await;
                continue;
            }
        };
        let Some(writer) = daemon_writer.as_mut() else {
            continue;
        };
        pending.add(&id);
        if writer.write_frame(payload).await.is_err() {
            // The daemon is gone; end so that the extension starts afresh.
            daemon_lost = true;
            break;
        }
    }
    // Tell the daemon this client is done. Dropping the write half is not enough: the read
    // half keeps the socket open, so the daemon never saw the end, never closed its side, and
    // the host waited out the whole grace below on every exit. After the shutdown the daemon
    // answers what is in flight, closes, and the writer ends as soon as that is relayed.
    if let Some(mut daemon_writer) = daemon_writer.take() {
        let _ = daemon_writer.shutdown().await;
    }
    if daemon_lost {
        let body = Error::AgentUnavailable(
            "card-agent stopped before it answered this request".to_owned(),
        )
        .to_wire(lang);
        for id in pending.take() {
            tracing::warn!(%id, "request lost with the daemon");
            let _ = to_browser
                .send(Response::error(id, body.clone()).frame_for_browser())
                .await;
        }
    }
    drop(to_browser);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    Ok(())
}

/// The host's own checks on a browser frame: the request's id when it goes on to the daemon,
/// the response that refuses it otherwise. The host's only parse of a request.
fn check_request(
    payload: &[u8],
    daemon_up: bool,
    started_by: &BrowserCaller,
    lang: Language,
) -> Result<RequestId, Response> {
    let request = parse_request(payload).map_err(|invalid| invalid.to_response())?;
    if request.origin.is_none() {
        // The extension always sets the origin from the browser; a request without one did not
        // come from a page through our extension.
        return Err(Response::error(
            request.id,
            Error::OriginRequired.to_wire(lang),
        ));
    }
    // An extension page's origin passes only from the extension the browser started us for:
    // the host's part of the service's caller decision.
    if let Some(origin) = request.origin.as_deref() {
        if let Err(e) = crate::service::caller::check_relayed_origin(started_by, origin) {
            return Err(Response::error(request.id, e.to_wire(lang)));
        }
    }
    if !daemon_up {
        return Err(Response::error(
            request.id,
            ErrorBody::from_code(ErrorCode::Internal, lang),
        ));
    }
    Ok(request.id)
}

/// The ids of the requests relayed to the daemon and not answered yet.
#[derive(Debug, Clone, Default)]
struct Pending(std::sync::Arc<std::sync::Mutex<Vec<RequestId>>>);

impl Pending {
    fn add(&self, id: &RequestId) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(id.clone());
    }

    /// Forgets one request with the id of this response from the daemon (ids may repeat:
    /// the page chooses them, so one answer settles one request).
    fn answered(&self, response: &[u8]) {
        /// Only the id: the rest of the response (up to 1 MB of certificates) is skipped
        /// over, never built into a value the host would throw away.
        #[derive(serde::Deserialize)]
        struct Answered {
            id: Option<RequestId>,
        }
        let Ok(Answered { id: Some(id) }) = serde_json::from_slice(response) else {
            return;
        };
        let mut ids = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(at) = ids.iter().position(|p| *p == id) {
            ids.remove(at);
        }
    }

    fn take(&self) -> Vec<RequestId> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// Copies the daemon's frames to the browser, bounding each to the browser's 1 MB limit, until
/// the daemon closes the connection or breaks the framing.
async fn daemon_to_browser<R: AsyncRead + Unpin>(
    daemon: R,
    to_browser: tokio::sync::mpsc::Sender<Vec<u8>>,
    pending: &Pending,
) {
    let mut frames = FrameReader::new(daemon);
    loop {
        let payload = match frames.read_frame().await {
            Ok(Some(payload)) => payload,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable frame from the daemon");
                break;
            }
        };
        pending.answered(payload);
        let Ok(frame) = card_agent_protocol::frame::encode_for_browser(payload) else {
            continue;
        };
        if to_browser.send(frame).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
