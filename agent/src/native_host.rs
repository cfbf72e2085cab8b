//! `card-agent native-host`: what the browser starts for the extension (native messaging host
//! `tw.card_agent`). It checks who started it, then relays framed messages between the
//! browser (stdin/stdout) and the daemon (the IPC socket), starting the daemon when none runs.
//!
//! The host is deliberately thin: it enforces only what must be enforced at the browser's door
//! — the caller is one of our extensions, every frame is bounded, every page request carries
//! the origin the extension took from the browser — and leaves every other rule to the daemon.

use std::path::Path;
use std::time::Duration;

use card_agent_protocol::message::{parse_request, ErrorBody, RequestId, Response};
use card_agent_protocol::{ErrorCode, Language};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::framed::{FrameReader, FrameWriter};

pub use crate::service::caller::{BrowserCaller, DEV_EXTENSION_ID, FIREFOX_ADDON_ID};

/// The native messaging host name.
pub const HOST_NAME: &str = "tw.card_agent";

/// The file in the per-user state directory where the native host records its last start.
pub const LAST_SEEN_FILE: &str = "extension-last-seen";

/// When the extension last started the native host, and which extension it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSeen {
    /// When, Unix seconds.
    pub unix: i64,
    /// The caller's ID (`chrome-extension://<id>/` or a Firefox add-on ID).
    pub caller: String,
}

/// Records that `caller` started the native host at `now`: `extension-last-seen` in
/// `state_dir`, a small JSON object with the caller, the RFC 3339 time and the Unix time.
/// A private state file, replaced atomically (see [`crate::state_file`]).
pub fn record_visit(state_dir: &Path, caller: &BrowserCaller, now: i64) -> Result<()> {
    let text = serde_json::json!({
        "caller": caller.id(),
        "time": crate::inventory::rfc3339(now),
        "unixTime": now,
    })
    .to_string();
    crate::state_file::write_atomic(&state_dir.join(LAST_SEEN_FILE), text.as_bytes())
}

/// The last recorded visit, if any (an unreadable or malformed file counts as none).
pub fn last_seen(state_dir: &Path) -> Option<LastSeen> {
    const MAX_BYTES: usize = 4096;
    let text = std::fs::read_to_string(state_dir.join(LAST_SEEN_FILE)).ok()?;
    if text.len() > MAX_BYTES {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(LastSeen {
        unix: value["unixTime"].as_i64()?,
        caller: value["caller"].as_str()?.chars().take(200).collect(),
    })
}

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
        relay(
            tokio::io::stdin(),
            tokio::io::stdout(),
            daemon,
            caller.clone(),
        )
        .await
    });
    // Tokio reads stdin with a blocking read on a thread of its own, which nothing can cancel;
    // when the relay ends for another reason than the end of input, that read is still pending,
    // and dropping the runtime would wait for it, that is, for the browser. Everything that had
    // to finish has (the relay waited for its writer), so leave that thread behind.
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
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Our development extension, as the browser names it to the host.
    fn ours() -> BrowserCaller {
        BrowserCaller::Chromium(DEV_EXTENSION_ID.into())
    }

    #[test]
    fn callers_from_browser_arguments() {
        let ours = format!("chrome-extension://{DEV_EXTENSION_ID}/");
        assert_eq!(
            BrowserCaller::from_args(&args(&[&ours])),
            Some(BrowserCaller::Chromium(DEV_EXTENSION_ID.into()))
        );
        assert_eq!(
            BrowserCaller::from_args(&args(&[&ours, "--parent-window=1234"])),
            Some(BrowserCaller::Chromium(DEV_EXTENSION_ID.into()))
        );
        assert_eq!(
            BrowserCaller::from_args(&args(&[
                "/usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json",
                FIREFOX_ADDON_ID
            ])),
            Some(BrowserCaller::Firefox(FIREFOX_ADDON_ID.into()))
        );
        assert_eq!(
            BrowserCaller::from_args(&args(&["chrome-extension://short/"])),
            None
        );
        assert_eq!(BrowserCaller::from_args(&args(&[])), None);
    }

    /// Reads one frame's payload from `stream`.
    async fn read_frame<R: AsyncRead + Unpin>(stream: &mut R) -> Vec<u8> {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await.expect("frame length");
        let mut payload = vec![0u8; u32::from_ne_bytes(len) as usize];
        stream
            .read_exact(&mut payload)
            .await
            .expect("frame payload");
        payload
    }

    #[tokio::test]
    async fn the_host_ends_when_the_daemon_goes_away() {
        let (browser, host_side) = tokio::io::duplex(64 * 1024);
        let (host_in, host_out) = tokio::io::split(host_side);
        let (daemon, host_daemon_side) = tokio::io::duplex(64 * 1024);
        let relay = tokio::spawn(relay(host_in, host_out, Ok(host_daemon_side), ours()));
        let (mut browser_in, mut browser_out) = tokio::io::split(browser);
        let (mut daemon_in, mut daemon_out) = tokio::io::split(daemon);

        // A request goes through, and the daemon answers it, then stops.
        let request = br#"{"id":1,"command":"version","origin":"https://example.gov.tw"}"#;
        browser_out
            .write_all(&card_agent_protocol::frame::encode(request).unwrap())
            .await
            .unwrap();
        assert_eq!(read_frame(&mut daemon_in).await, request.to_vec());
        let answer = br#"{"id":1,"result":{}}"#;
        daemon_out
            .write_all(&card_agent_protocol::frame::encode(answer).unwrap())
            .await
            .unwrap();
        drop(daemon_out);
        drop(daemon_in);

        // The answer sent before the daemon left still arrives, and the host ends although the
        // browser keeps its side open.
        assert_eq!(read_frame(&mut browser_in).await, answer.to_vec());
        tokio::time::timeout(Duration::from_secs(10), relay)
            .await
            .expect("the relay ends when the daemon has gone")
            .unwrap()
            .unwrap();
        let mut rest = Vec::new();
        browser_in.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "nothing after the daemon's last answer");
        drop(browser_out);
    }

    #[tokio::test]
    async fn requests_the_daemon_never_answered_get_an_error_when_it_goes_away() {
        let (browser, host_side) = tokio::io::duplex(64 * 1024);
        let (host_in, host_out) = tokio::io::split(host_side);
        let (daemon, host_daemon_side) = tokio::io::duplex(64 * 1024);
        let relay = tokio::spawn(relay(host_in, host_out, Ok(host_daemon_side), ours()));
        let (mut browser_in, mut browser_out) = tokio::io::split(browser);
        let (mut daemon_in, mut daemon_out) = tokio::io::split(daemon);

        // Three requests reach the daemon; it answers the second and dies (SIGKILL: no word).
        for id in [r#"7"#, r#""seven""#, r#"7"#] {
            let request =
                format!(r#"{{"id":{id},"command":"status","origin":"https://example.gov.tw"}}"#);
            browser_out
                .write_all(&card_agent_protocol::frame::encode(request.as_bytes()).unwrap())
                .await
                .unwrap();
            read_frame(&mut daemon_in).await;
        }
        let answer = br#"{"id":"seven","result":{}}"#;
        daemon_out
            .write_all(&card_agent_protocol::frame::encode(answer).unwrap())
            .await
            .unwrap();
        drop(daemon_out);
        drop(daemon_in);

        assert_eq!(read_frame(&mut browser_in).await, answer.to_vec());
        // Both requests with id 7 (ids may repeat) hear that the agent went away.
        for _ in 0..2 {
            let frame: serde_json::Value =
                serde_json::from_slice(&read_frame(&mut browser_in).await).unwrap();
            assert_eq!(frame["id"], 7, "{frame}");
            assert_eq!(frame["error"]["code"], "INTERNAL", "{frame}");
            assert!(
                frame["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("card-agent stopped")),
                "{frame}"
            );
        }
        tokio::time::timeout(Duration::from_secs(10), relay)
            .await
            .expect("the relay ends when the daemon has gone")
            .unwrap()
            .unwrap();
        let mut rest = Vec::new();
        browser_in.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "one answer per request: {rest:?}");
        drop(browser_out);
    }

    #[tokio::test]
    async fn without_a_daemon_every_request_is_answered_with_an_error() {
        let (browser, host_side) = tokio::io::duplex(64 * 1024);
        let (host_in, host_out) = tokio::io::split(host_side);
        let relay = tokio::spawn(relay(
            host_in,
            host_out,
            Err::<tokio::io::DuplexStream, _>(Error::AgentUnavailable("test".into())),
            ours(),
        ));
        let (mut browser_in, mut browser_out) = tokio::io::split(browser);
        let request = br#"{"id":7,"command":"status","origin":"https://example.gov.tw"}"#;
        browser_out
            .write_all(&card_agent_protocol::frame::encode(request).unwrap())
            .await
            .unwrap();
        let answer: serde_json::Value =
            serde_json::from_slice(&read_frame(&mut browser_in).await).unwrap();
        assert_eq!(answer["id"], 7);
        assert_eq!(answer["error"]["code"], "INTERNAL");
        browser_out.shutdown().await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), relay)
            .await
            .expect("the relay ends when the browser closes")
            .unwrap()
            .unwrap();
    }

    #[test]
    fn only_our_extensions_and_configured_ones_are_allowed() {
        assert!(BrowserCaller::Chromium(DEV_EXTENSION_ID.into()).is_allowed(&[]));
        assert!(BrowserCaller::Firefox(FIREFOX_ADDON_ID.into()).is_allowed(&[]));
        let other = "abcdefghijklmnopabcdefghijklmnop".to_owned();
        assert!(!BrowserCaller::Chromium(other.clone()).is_allowed(&[]));
        assert!(BrowserCaller::Chromium(other.clone())
            .is_allowed(&[format!("chrome-extension://{other}/")]));
        assert!(!BrowserCaller::Firefox("evil@example.com".into()).is_allowed(&[]));
    }

    #[test]
    fn visits_are_recorded_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/card-agent");
        assert_eq!(last_seen(&state), None);
        let caller = BrowserCaller::Chromium(DEV_EXTENSION_ID.into());
        record_visit(&state, &caller, 1_800_000_000).unwrap();
        let seen = last_seen(&state).unwrap();
        assert_eq!(seen.unix, 1_800_000_000);
        assert_eq!(
            seen.caller,
            format!("chrome-extension://{DEV_EXTENSION_ID}/")
        );
        let text = std::fs::read_to_string(state.join(LAST_SEEN_FILE)).unwrap();
        assert!(text.contains("2027-01-15T08:00:00Z"), "{text}");
        std::fs::write(state.join(LAST_SEEN_FILE), "garbage").unwrap();
        assert_eq!(last_seen(&state), None);
    }

    /// The development ID is the one extension/manifest.json's key yields, so the host and the
    /// extension cannot drift apart.
    #[test]
    fn dev_id_matches_the_manifest_key() {
        use base64::Engine as _;
        use sha2::Digest as _;
        let manifest = include_str!("../../extension/manifest.json");
        let json: serde_json::Value = serde_json::from_str(manifest).unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(json["key"].as_str().unwrap())
            .unwrap();
        let id: String = hex::encode(sha2::Sha256::digest(der))[..32]
            .chars()
            .map(|c| (b'a' + c.to_digit(16).unwrap() as u8) as char)
            .collect();
        assert_eq!(id, DEV_EXTENSION_ID);
    }
}
