//! One client connection to the daemon: frames in, one task per request, responses and pushed
//! events out through a single writer.
//!
//! Requests on one connection run concurrently (a `status` is answered while a `sign` waits for
//! its PIN dialog); responses carry the request's id, so order does not matter. Frames are
//! always read: a request waits for a worker in its client's queue (see
//! [`crate::work_queue`]), never by pausing the connection, which carries every tab of a
//! browser. Card work itself is one operation at a time per token, in the card core.
//!
//! When the client goes away (or closes its sending side), the dialogs its requests opened are
//! closed and none opens for it any more: nobody would receive the answer. A card operation
//! already running finishes. `cancel` does the same for one request: each request runs as its
//! own dialog client, so closing one leaves the connection's other requests alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use card_agent_protocol::message::{
    parse_request, CancelResult, Command, Request, RequestId, Response, SubscriptionResult,
};
use card_agent_protocol::Language;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::framed::FrameReader;
use crate::pinentry::Client;
use card_agent_protocol::timeouts;

use crate::service::caller::{self, Api, Caller, IpcFacts, Who};
use crate::service::{deadline, Service};

/// Responses waiting for the writer; a client that stops reading stalls only itself.
const OUTGOING_QUEUE: usize = 32;
/// Longest a frame may take to arrive once its first byte has: a whole frame (at most a few
/// MB) crosses a local socket in milliseconds, so a client that stops in the middle of one is
/// broken or hostile, and it would hold one of the daemon's connection slots for good. An idle
/// connection between frames (a browser waiting for events) has no limit.
pub(super) const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection until the client closes it or sends a broken frame.
pub async fn serve<S>(stream: S, service: Arc<Service>, lang: Language)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, mut writer) = tokio::io::split(stream);
    let (out, mut outgoing) = mpsc::channel::<Vec<u8>>(OUTGOING_QUEUE);
    let writer_task = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if writer.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });

    let mut frames = FrameReader::new(reader).with_deadline(FRAME_TIMEOUT);
    let mut subscription: Option<JoinHandle<()>> = None;
    let client = Client::new();
    let connection = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    // This connection's SmartPKI ports: gone, keys and all, when the connection closes.
    let smartpki = Arc::new(crate::smartpki::Ports::default());
    // This connection's requests still running, for `cancel`.
    let running = Arc::new(Running::default());
    loop {
        match frames.read_frame().await {
            Ok(Some(payload)) => {
                let context = (&service, &smartpki, &client, &running);
                on_frame(payload, context, lang, &out, &mut subscription, connection).await;
            }
            Ok(None) => break,
            Err(e) => {
                // The length prefix is the only delimiter: after a bad frame the stream cannot
                // be trusted, so say why once (if the client is still there to hear it) and
                // close.
                match e.refusal(lang) {
                    Some(body) => {
                        tracing::warn!(error = %e, "closing the connection after a bad frame");
                        let _ = out
                            .send(Response::error(None, body).frame_for_browser())
                            .await;
                    }
                    None => tracing::debug!(error = %e, "the client left"),
                }
                break;
            }
        }
    }
    if let Some(task) = subscription {
        task.abort();
    }
    // The client is gone (or closed its sending side, which for this protocol means the
    // same): answers would reach nobody, so close the dialogs its requests opened or wait for.
    service.client_gone(&client);
    for request in running.take_all() {
        service.client_gone(&request);
    }
    drop(out);
    let _ = writer_task.await;
}

/// The daemon's number for each connection, naming a local program's queue in the work queue
/// (0 is the legacy HTTP API's, see [`crate::work_queue::LEGACY_API`]).
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

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

/// What a frame is answered with: the service, the connection's SmartPKI ports, its client,
/// its requests still running.
type FrameContext<'a> = (
    &'a Arc<Service>,
    &'a Arc<crate::smartpki::Ports>,
    &'a Client,
    &'a Arc<Running>,
);

/// The requests of one connection still running, each with the dialog client it runs as, so
/// that `cancel` (or the connection's end) can close exactly its dialogs. Ids may repeat (the
/// client chooses them): a cancel closes every request with that id.
#[derive(Default)]
struct Running {
    requests: Mutex<HashMap<RequestId, Vec<(u64, Client)>>>,
    /// Tells apart requests that share an id.
    next: std::sync::atomic::AtomicU64,
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, Vec<(u64, Client)>>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a request running as `client`; returns its number.
    fn start(&self, id: &RequestId, client: &Client) -> u64 {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock()
            .entry(id.clone())
            .or_default()
            .push((n, client.clone()));
        n
    }

    fn finish(&self, id: &RequestId, n: u64) {
        let mut map = self.lock();
        if let Some(requests) = map.get_mut(id) {
            requests.retain(|(m, _)| *m != n);
            if requests.is_empty() {
                map.remove(id);
            }
        }
    }

    fn take(&self, id: &RequestId) -> Vec<Client> {
        let taken = self.lock().remove(id).unwrap_or_default();
        taken.into_iter().map(|(_, client)| client).collect()
    }

    fn take_all(&self) -> Vec<Client> {
        let taken: Vec<_> = self.lock().drain().collect();
        taken
            .into_iter()
            .flat_map(|(_, requests)| requests.into_iter().map(|(_, client)| client))
            .collect()
    }
}

async fn on_frame(
    payload: &[u8],
    (service, smartpki, client, running): FrameContext<'_>,
    lang: Language,
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
            // Events tell when the user's card comes and goes, and what it is: for the user's
            // own pages and programs, and for sites the policy already trusts (a subscription
            // opens no dialog). The service decides.
            let subscribed = decide(&request, service, lang, client.clone())
                .and_then(|caller| service.subscribe(&caller));
            let reply = match subscribed {
                Ok(events) => {
                    if subscription.is_none() {
                        *subscription = Some(forward_events(events, out.clone()));
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
        Command::Cancel(args) => {
            // Only this connection's own requests: another connection's ids are not visible.
            let cancelled = running.take(&args.id);
            for request in &cancelled {
                service.client_gone(request);
            }
            if !cancelled.is_empty() {
                tracing::info!(id = %args.id, "request cancelled by the client");
            }
            let result = CancelResult {
                cancelled: !cancelled.is_empty(),
            };
            let _ = out
                .send(Response::result(request.id, &result).frame_for_browser())
                .await;
        }
        _ => {
            // The request's own client (a child of the connection's, so it goes with it too):
            // what `cancel` closes.
            let request_client = client.child();
            let n = running.start(&request.id, &request_client);
            let (service, out, running) = (service.clone(), out.clone(), Arc::clone(running));
            let smartpki = smartpki.clone();
            tokio::spawn(async move {
                let id = request.id.clone();
                let reply = run(request, service, smartpki, lang, request_client, connection).await;
                running.finish(&id, n);
                let _ = out.send(reply.frame_for_browser()).await;
            });
        }
    }
}

/// Who sent `request`, decided by the service's one decision from what this socket knows.
fn decide(
    request: &Request,
    service: &Service,
    lang: Language,
    client: Client,
) -> crate::Result<Caller> {
    let facts = IpcFacts {
        origin: request.origin.as_deref(),
        legacy: matches!(request.command, Command::LegacyRequest(_)),
        smartpki: crate::smartpki::glue::is_smartpki(&request.command),
    };
    caller::decide_ipc(facts, service.extensions(), lang, client)
}

/// Runs one command on a blocking thread, bounded in time. The request has a client of its
/// own (`request_client`, a child of the connection's): when its time is up or the client
/// cancels it, its dialog closes and no card operation starts for it any more.
async fn run(
    request: Request,
    service: Arc<Service>,
    smartpki: Arc<crate::smartpki::Ports>,
    lang: Language,
    request_client: Client,
    connection: u64,
) -> Response {
    let id = request.id.clone();
    let caller = match decide(&request, &service, lang, request_client.clone()) {
        Ok(c) => c,
        Err(e) => return Response::error(id, e.to_wire(lang)),
    };
    if let Command::LegacyRequest(args) = request.command {
        let result = crate::legacy_api::respond_for_extension(service, caller, args).await;
        return Response::result(id, &result);
    }
    // The ladder's budget: a dialog for each one the request may show (a page of the new
    // API may be asked about first, a SmartPKI page when it opens its port), plus the card.
    let may_ask_site = matches!(
        caller.who(),
        Who::Site {
            api: Api::CardAgent,
            ..
        }
    ) || matches!(request.command, Command::SmartPkiOpen);
    let limit = timeouts::daemon_budget(timeouts::Kind::of(request.command.name()), may_ask_site);
    let command = request.command;
    // Every tab shares the native host's connection: a page waits in its origin's queue on
    // it, a local program (or the extension's own page) in its connection's.
    let queue = caller.queue_key(connection);
    let outcome = deadline::call(&service, &request_client, queue, limit, move |service| {
        if crate::smartpki::glue::is_smartpki(&command) {
            crate::smartpki::glue::run(service, &caller, &smartpki, command)
        } else {
            super::dispatch::run(service, &caller, command)
        }
    })
    .await;
    match outcome {
        Ok(value) => Response::ok(id, value),
        Err(e) => {
            tracing::info!(code = %e.code(), error = %e, "request failed");
            Response::error(id, e.to_wire(lang))
        }
    }
}

/// Pushes every card and reader event to this connection until aborted.
fn forward_events(
    mut events: tokio::sync::broadcast::Receiver<card_agent_protocol::message::Event>,
    out: mpsc::Sender<Vec<u8>>,
) -> JoinHandle<()> {
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
