//! The legacy HTTP API: what e-government pages written for Chunghwa Telecom's HiPKI Local
//! Sign Server call on `http://localhost:61161`, answered the same way so those pages work
//! unchanged — and with the safety the original lacked: only loopback, only our Host names,
//! only trusted sites, CORS only for them, the PIN wiped after use.
//!
//! This is an adapter: every decision (site trust, PIN source, which certificate) is the
//! service's. Here are only HiPKI's wire format and HTTP itself.

mod add_domain;
mod bmp;
pub(crate) mod codes;
mod decrypt;
mod extension;
mod guard;
mod handlers;
mod log_limit;
mod pages;
mod pkcs11info;
pub(crate) mod port_owner;
mod selftest;
mod sign;
pub(crate) mod tbs;
mod work;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::service::Service;

pub use bmp::{pack as pack_bmp, unpack as unpack_bmp, WIDTH as BMP_WIDTH};
pub use extension::{port_is_ours, respond_for_extension, set_port_state, PortState, STATUS_PATH};
pub use pkcs11info::COMPAT_VERSION;

/// Largest request body: a tbsPackage with a document of about 1.5 MB in base64.
const MAX_BODY: usize = tbs::MAX_PACKAGE;
/// Time allowed for the request line and headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the body once the headers are in (a slow body is a hostile one).
const BODY_TIMEOUT: Duration = Duration::from_secs(20);
/// Most connections served at once, over every listening address. The port is open to every
/// local user and to web pages, so without a bound anyone could hold enough idle connections
/// (each up to [`HEADER_TIMEOUT`]) to use up the daemon's file descriptors, which its cards
/// and its browser socket need too. A page makes a handful of requests; past this bound a new
/// connection is closed at once.
const MAX_CONNECTIONS: usize = 64;
/// Pause after a failed accept (out of file descriptors, say), which would otherwise fail
/// again at once, forever, at full speed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The listening sockets, bound before the daemon says it is ready.
pub struct Listeners {
    listeners: Vec<TcpListener>,
    port: u16,
}

/// Binds `http_listen` (a loopback `address:port`). The default `127.0.0.1:61161` also binds
/// `[::1]:61161` when the machine has IPv6. A non-loopback address is refused; a port in use
/// is an error naming the process that holds it when that can be found.
pub async fn bind(http_listen: &str) -> Result<Listeners> {
    let addr: SocketAddr = http_listen.parse().map_err(|_| {
        Error::BadInput(format!(
            "http_listen: {http_listen:?} is not an address:port"
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(Error::BadInput(format!(
            "http_listen: {http_listen} is not a loopback address; card-agent only listens on this computer"
        )));
    }
    let mut listeners = vec![bind_one(addr).await?];
    let port = listeners[0]
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(addr.port());
    if addr.ip() == IpAddr::from([127, 0, 0, 1]) {
        // The IPv6 twin is best effort: many machines have no ::1.
        if let Ok(l) = TcpListener::bind(SocketAddr::new(
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            port,
        ))
        .await
        {
            listeners.push(l);
        }
    }
    Ok(Listeners { listeners, port })
}

async fn bind_one(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            let holder = port_owner::find(addr.port())
                .map(|p| format!(" by {p}"))
                .unwrap_or_default();
            Error::PortInUse {
                address: addr.to_string(),
                holder,
            }
        } else {
            Error::io(addr, e)
        }
    })
}

impl Listeners {
    /// The port actually bound (useful with port 0 in tests).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound addresses.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until the task is dropped.
    pub async fn serve(self, service: Arc<Service>) {
        let port = self.port;
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let questions = Arc::new(add_domain::Questions::default());
        let mut tasks = Vec::new();
        for listener in self.listeners {
            let service = service.clone();
            tasks.push(tokio::spawn(accept_loop(
                listener,
                service,
                port,
                slots.clone(),
                questions.clone(),
            )));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    service: Arc<Service>,
    port: u16,
    slots: Arc<tokio::sync::Semaphore>,
    questions: Arc<add_domain::Questions>,
) {
    let local = listener.local_addr().ok();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "legacy API: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Defence in depth: the socket is bound to loopback, so this never refuses anything
        // unless the binding logic is ever broken.
        if !peer.ip().is_loopback() {
            continue;
        }
        // Dropping the stream closes it: the client sees the connection end at once.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(
                limit = MAX_CONNECTIONS,
                "legacy API: connection refused, too many open"
            );
            continue;
        };
        let (service, questions) = (service.clone(), questions.clone());
        tokio::spawn(async move {
            let _permit = permit;
            // Before a byte of the request is read: the port is open to every user of this
            // computer, and only the daemon's own user may drive its cards.
            let allowed = match local {
                Some(local) => peer_is_own_user(peer, local).await,
                None => false,
            };
            if !allowed {
                if let Some(left_out) = log_limit::admit("another user", "peer refused") {
                    tracing::warn!(%peer, left_out, "legacy API: connection from another user refused");
                }
                return;
            }
            serve(stream, service, port, Some(questions)).await;
        });
    }
}

/// Whether the client of a loopback connection runs as this daemon's user. Where the
/// system's socket tables cannot be read (not Linux), the connection is accepted as before
/// and the log says the check did not run.
async fn peer_is_own_user(peer: SocketAddr, local: SocketAddr) -> bool {
    if !port_owner::PEER_UID_KNOWN {
        tracing::debug!("legacy API: the peer's user cannot be checked on this system");
        return true;
    }
    // One table read at a time: a flood of connections must not turn into a flood of open
    // /proc files (each check holds one while it reads).
    let Ok(_turn) = PEER_CHECKS.acquire().await else {
        return false;
    };
    let uid = tokio::task::spawn_blocking(move || port_owner::peer_uid(peer, local))
        .await
        .ok()
        .flatten();
    uid == Some(port_owner::own_uid())
}

/// Peer checks running at once.
static PEER_CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Serves HTTP/1.1 on one accepted connection until the client closes it. `port` is the port
/// the listener is bound to (Host and Origin checks compare against it). Public so that the
/// fuzz harness drives exactly this code over an in-memory stream.
pub async fn serve_connection<S>(stream: S, service: Arc<Service>, port: u16)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    serve(stream, service, port, Some(Arc::default())).await;
}

async fn serve<S>(
    stream: S,
    service: Arc<Service>,
    port: u16,
    questions: Option<Arc<add_domain::Questions>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let handler = hyper::service::service_fn(move |req| {
        handle(req, service.clone(), port, questions.clone())
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), handler)
        .await;
}

/// A response body.
type Body = Full<Bytes>;

async fn handle(
    req: Request<Incoming>,
    service: Arc<Service>,
    port: u16,
    questions: Option<Arc<add_domain::Questions>>,
) -> std::result::Result<Response<selftest::AnyBody>, Infallible> {
    let path = req.uri().path();
    if path == "/selftest" || path.starts_with("/selftest/") {
        let mut r = handle_selftest(req, &service, port).await;
        // The self-test page signs with the card: no page may frame it (clickjacking).
        let h = r.headers_mut();
        h.insert(
            "content-security-policy",
            hyper::header::HeaderValue::from_static("frame-ancestors 'none'"),
        );
        h.insert(
            "x-frame-options",
            hyper::header::HeaderValue::from_static("DENY"),
        );
        return Ok(r);
    }
    Ok(handle_legacy(req, service, port, questions)
        .await?
        .map(BodyExt::boxed))
}

/// `/selftest`, its assets and its same-origin API.
async fn handle_selftest(
    req: Request<Incoming>,
    service: &Arc<Service>,
    port: u16,
) -> Response<selftest::AnyBody> {
    if !guard::host_is_ours(req.headers(), port) {
        return plain(
            StatusCode::MISDIRECTED_REQUEST,
            "card-agent answers only to localhost, 127.0.0.1 and [::1]\n",
        )
        .map(BodyExt::boxed);
    }
    let lang = handlers::language(req.headers());
    let (caller, _) = guard::caller(req.headers(), port, lang);
    let (parts, body) = req.into_parts();
    match (&parts.method, parts.uri.path()) {
        // The page's assets are relative (the same files are an extension page), so the page
        // lives at /selftest/.
        (&Method::GET, "/selftest") => selftest::redirect("/selftest/"),
        (&Method::GET, "/selftest/") => selftest::asset(selftest::PAGE, "text/html; charset=utf-8"),
        (&Method::GET, "/selftest/texts.js") => {
            selftest::generated(selftest::texts_js(), "text/javascript; charset=utf-8")
        }
        (&Method::GET, "/selftest/selftest.js") => {
            selftest::asset(selftest::SCRIPT, "text/javascript; charset=utf-8")
        }
        (&Method::GET, "/selftest/selftest.css") => {
            selftest::asset(selftest::STYLE, "text/css; charset=utf-8")
        }
        _ => selftest_api(&parts, body, service, caller, lang).await,
    }
}

/// The self-test page's API: for the user's own callers only (the service refuses others).
async fn selftest_api(
    parts: &hyper::http::request::Parts,
    body: Incoming,
    service: &Arc<Service>,
    caller: Result<crate::service::Caller>,
    lang: card_agent_protocol::Language,
) -> Response<selftest::AnyBody> {
    let caller = match caller.and_then(|c| c.require_own().map(|()| c)) {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(error = %e, "self-test API refused");
            return selftest::forbidden();
        }
    };
    match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/selftest/api/status") => selftest::status(service.clone(), caller).await,
        (&Method::GET, "/selftest/api/events") => selftest::events(service, &caller),
        (&Method::GET, "/selftest/api/checks") => {
            let lang = match parts.uri.query() {
                Some(q) if q.contains("lang=en") => card_agent_protocol::Language::En,
                Some(q) if q.contains("lang=zh") => card_agent_protocol::Language::ZhTw,
                _ => lang,
            };
            selftest::checks(service.clone(), caller.with_lang(lang)).await
        }
        (&Method::POST, "/selftest/api/fix") => match read_body(body).await {
            Ok(bytes) => selftest::fix(service.clone(), caller, &bytes).await,
            Err(status) => {
                plain(status, "request body too large or too slow\n").map(BodyExt::boxed)
            }
        },
        (&Method::POST, "/selftest/api/sign") => match read_body(body).await {
            Ok(bytes) => selftest::sign(service.clone(), caller, &bytes).await,
            Err(status) => {
                plain(status, "request body too large or too slow\n").map(BodyExt::boxed)
            }
        },
        _ => plain(StatusCode::NOT_FOUND, "not found\n").map(BodyExt::boxed),
    }
}

async fn handle_legacy(
    req: Request<Incoming>,
    service: Arc<Service>,
    port: u16,
    questions: Option<Arc<add_domain::Questions>>,
) -> std::result::Result<Response<Body>, Infallible> {
    if !guard::host_is_ours(req.headers(), port) {
        return Ok(plain(
            StatusCode::MISDIRECTED_REQUEST,
            "card-agent answers only to localhost, 127.0.0.1 and [::1]\n",
        ));
    }
    let lang = handlers::language(req.headers());
    let (caller, cors_site) = guard::caller(req.headers(), port, lang);
    let referer = guard::referer_origin(req.headers());
    let (parts, body) = req.into_parts();
    let body = if parts.method == Method::POST {
        match read_body(body).await {
            Ok(b) => b,
            Err(status) => return Ok(plain(status, "request body too large or too slow\n")),
        }
    } else {
        zeroize::Zeroizing::new(Vec::new())
    };
    let ctx = handlers::Context {
        service,
        caller,
        cors_site,
        referer,
        lang,
        questions,
    };
    Ok(handlers::route(&ctx, &parts.method, &parts.uri, body).await)
}

/// Reads a body within the size and time bounds. The bytes may hold a PIN: they live in a
/// zeroizing buffer.
async fn read_body(body: Incoming) -> std::result::Result<zeroize::Zeroizing<Vec<u8>>, StatusCode> {
    let collected = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect())
        .await
        .map_err(|_| StatusCode::REQUEST_TIMEOUT)?
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE)?;
    Ok(zeroize::Zeroizing::new(collected.to_bytes().to_vec()))
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
