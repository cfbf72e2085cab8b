//! One client connection to the daemon: frames in, one task per request, responses and pushed
//! events out through a single writer.
//!
//! Requests on one connection run concurrently (a `status` is answered while a `sign` waits for
//! its PIN dialog); responses carry the request's id, so order does not matter. Card work
//! itself is still one operation at a time per token, in the card core.
//!
//! When the client goes away (or closes its sending side), the dialogs its requests opened are
//! closed and none opens for it any more: nobody would receive the answer. A card operation
//! already running finishes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use card_agent_protocol::frame::FrameDecoder;
use card_agent_protocol::message::{parse_request, Command, Request, Response, SubscriptionResult};
use card_agent_protocol::Language;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::pinentry::Client;
use crate::policy::Origin;
use crate::service::{Caller, Service};
use crate::work_queue::ClientKey;

/// Longest a quick command may take (status, certificates for a local client or an already
/// trusted site).
const QUICK_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a command that may open dialogs may take: the user reads the site confirmation
/// (a page's first request of any kind), then the PIN dialog, each with the dialog's own
/// deadline, then the card signs.
const DIALOG_TIMEOUT: Duration =
    Duration::from_secs(2 * crate::pinentry::DEFAULT_TIMEOUT.as_secs() + 60);
/// Responses waiting for the writer; a client that stops reading stalls only itself.
const OUTGOING_QUEUE: usize = 32;
/// Longest a frame may take to arrive once its first byte has: a whole frame (at most a few
/// MB) crosses a local socket in milliseconds, so a client that stops in the middle of one is
/// broken or hostile, and it would hold one of the daemon's connection slots for good. An idle
/// connection between frames (a browser waiting for events) has no limit.
pub(super) const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// The daemon's number for each connection, naming a local program's queue in the work queue
/// (0 is the legacy HTTP API's).
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// Serves one connection until the client closes it or sends a broken frame.
pub async fn serve<S>(stream: S, service: Arc<Service>, lang: Language)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (out, mut outgoing) = mpsc::channel::<Vec<u8>>(OUTGOING_QUEUE);
    let writer_task = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if writer.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });

    let mut decoder = FrameDecoder::new();
    let mut subscription: Option<JoinHandle<()>> = None;
    let client = Client::new();
    let connection = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let mut buf = vec![0u8; 16 * 1024];
    // When the frame now arriving must be complete; `None` between frames.
    let mut frame_deadline: Option<tokio::time::Instant> = None;
    'read: loop {
        let read = match frame_deadline {
            None => reader.read(&mut buf).await,
            Some(deadline) => {
                match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
                    Ok(read) => read,
                    Err(_) => {
                        tracing::warn!(
                            "closing a connection that stopped in the middle of a frame"
                        );
                        let body = card_agent_protocol::message::ErrorBody::new(
                            card_agent_protocol::ErrorCode::BadRequest,
                            format!(
                                "a frame did not arrive whole within {} s",
                                FRAME_TIMEOUT.as_secs()
                            ),
                        );
                        let _ = out
                            .send(Response::error(None, body).frame_for_browser())
                            .await;
                        break 'read;
                    }
                }
            }
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        loop {
            match decoder.next_frame() {
                Ok(Some(payload)) => {
                    on_frame(
                        &payload,
                        &service,
                        lang,
                        &client,
                        &out,
                        &mut subscription,
                        connection,
                    )
                    .await;
                }
                Ok(None) => {
                    frame_deadline = match (decoder.buffered(), frame_deadline) {
                        (0, _) => None,
                        (_, Some(started)) => Some(started),
                        (_, None) => Some(tokio::time::Instant::now() + FRAME_TIMEOUT),
                    };
                    break;
                }
                Err(e) => {
                    // The length prefix is the only delimiter: after a bad frame the stream
                    // cannot be trusted, so say why once and close.
                    tracing::warn!(error = %e, "closing connection after a bad frame");
                    let body = card_agent_protocol::message::ErrorBody::new(
                        card_agent_protocol::ErrorCode::BadRequest,
                        e.to_string(),
                    );
                    let _ = out
                        .send(Response::error(None, body).frame_for_browser())
                        .await;
                    break 'read;
                }
            }
        }
    }
    if let Err(e) = decoder.finish() {
        tracing::debug!(error = %e, "client left mid-frame");
    }
    if let Some(task) = subscription {
        task.abort();
    }
    // The client is gone (or closed its sending side, which for this protocol means the
    // same): answers would reach nobody, so close the dialogs its requests opened or wait for.
    service.client_gone(&client);
    drop(out);
    let _ = writer_task.await;
}

/// Answers a connection the daemon has no room for with one error frame (no request id: it
/// read nothing) and closes it, so the client hears why at once instead of waiting.
pub async fn refuse<S>(stream: S, lang: Language)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (_, mut writer) = tokio::io::split(stream);
    let body = Error::AgentUnavailable(format!(
        "too many connections are open ({}); close a browser window or try again",
        super::MAX_CONNECTIONS
    ))
    .to_wire(lang);
    let frame = Response::error(None, body).frame_for_browser();
    // A client that does not read cannot hold this task: the write is bounded.
    let _ = tokio::time::timeout(FRAME_TIMEOUT, writer.write_all(&frame)).await;
    let _ = writer.shutdown().await;
}

async fn on_frame(
    payload: &[u8],
    service: &Arc<Service>,
    lang: Language,
    client: &Client,
    out: &mpsc::Sender<Vec<u8>>,
    subscription: &mut Option<JoinHandle<()>>,
    connection: u64,
) {
    let request = match parse_request(payload) {
        Ok(r) => r,
        Err(invalid) => {
            let _ = out.send(invalid.to_response().frame_for_browser()).await;
            return;
        }
    };
    match request.command {
        Command::Subscribe => {
            // Events tell when the user's card comes and goes, and what it is: only for sites
            // the policy already trusts (a subscription opens no dialog).
            let admitted = request
                .origin
                .as_deref()
                .map(Origin::parse)
                .transpose()
                .and_then(|origin| {
                    service.admit_without_asking(&Caller {
                        origin,
                        lang,
                        client: client.clone(),
                    })
                });
            let reply = match admitted {
                Ok(()) => {
                    if subscription.is_none() {
                        *subscription = Some(forward_events(service, out.clone()));
                    }
                    Response::result(request.id, &SubscriptionResult { subscribed: true })
                }
                Err(e) => Response::error(request.id, e.to_wire(lang)),
            };
            let _ = out.send(reply.frame_for_browser()).await;
        }
        Command::Unsubscribe => {
            if let Some(task) = subscription.take() {
                task.abort();
            }
            let reply = Response::result(request.id, &SubscriptionResult { subscribed: false });
            let _ = out.send(reply.frame_for_browser()).await;
        }
        _ => {
            let (service, out, client) = (service.clone(), out.clone(), client.clone());
            tokio::spawn(async move {
                let reply = run(request, service, lang, client, connection).await;
                let _ = out.send(reply.frame_for_browser()).await;
            });
        }
    }
}

/// Runs one command through the work queue, bounded in time (the wait for a worker included):
/// the request waits in its client's queue, not on a thread of its own.
async fn run(
    request: Request,
    service: Arc<Service>,
    lang: Language,
    client: Client,
    connection: u64,
) -> Response {
    let id = request.id.clone();
    let origin = match request
        .origin
        .as_deref()
        .filter(|o| !is_extension_page(o))
        .map(Origin::parse)
        .transpose()
    {
        Ok(o) => o,
        Err(e) => return Response::error(id, e.to_wire(lang)),
    };
    if let Command::LegacyRequest(args) = request.command {
        // A page's legacy call always has the page's origin; without one it is nobody's.
        let Some(origin) = origin else {
            let body = card_agent_protocol::message::ErrorBody::new(
                card_agent_protocol::ErrorCode::BadRequest,
                "legacy-request needs the page's origin",
            )
            .with_field("origin");
            return Response::error(id, body);
        };
        let result = crate::legacy_api::respond_for_extension(service, origin, lang, args).await;
        return Response::result(id, &result);
    }
    // A page's request may wait for the user to approve the site, whatever the command.
    let limit = match (&request.command, &origin) {
        (Command::Sign(_) | Command::Authenticate(_) | Command::VerifyPin(_), _) => DIALOG_TIMEOUT,
        (Command::Version, _) | (_, None) => QUICK_TIMEOUT,
        (_, Some(_)) => DIALOG_TIMEOUT,
    };
    let caller = Caller {
        origin,
        lang,
        client,
    };
    // Every tab shares the native host's connection: a page is its origin on it; a local
    // program (or the extension's own page) is its connection.
    let queue_key = match &caller.origin {
        Some(origin) => ClientKey::Page {
            connection,
            origin: origin.as_str().to_owned(),
        },
        None => ClientKey::Local(connection),
    };
    let command = request.command;
    let worker = service.clone();
    let work = service
        .queue()
        .run(queue_key, move || worker.handle(&caller, command));
    let outcome = match tokio::time::timeout(limit, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(refused)) => Err(refused),
        // The card operation cannot be interrupted; it finishes in the background holding the
        // token's turn, and the caller hears now rather than never.
        Err(_) => Err(Error::Timeout),
    };
    match outcome {
        Ok(value) => Response::ok(id, value),
        Err(e) => {
            tracing::info!(code = %e.code(), error = %e, "request failed");
            Response::error(id, e.to_wire(lang))
        }
    }
}

/// Pushes every card and reader event to this connection until aborted.
fn forward_events(service: &Service, out: mpsc::Sender<Vec<u8>>) -> JoinHandle<()> {
    let mut events = service.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    let Ok(json) = event.into_message().to_json() else {
                        continue;
                    };
                    let Ok(frame) = card_agent_protocol::frame::encode(&json) else {
                        continue;
                    };
                    if out.send(frame).await.is_err() {
                        break;
                    }
                }
                // A slow client missed some events; the next ones still matter.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

/// Whether a request's origin is one of the extension's own pages (its popup, its self-test
/// page). Only an allowed extension can reach the daemon through the native host, and it sets
/// a page's origin from the browser's sender, so an extension origin never stands for a web
/// page: such requests are the user's own, like a local client's, and no site policy applies.
fn is_extension_page(origin: &str) -> bool {
    origin.starts_with("chrome-extension://") || origin.starts_with("moz-extension://")
}
