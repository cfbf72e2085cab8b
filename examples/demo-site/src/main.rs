//! `demo-site`: a small e-government site that logs people in with their card through
//! card-agent and verifies documents they sign, as a relying party would. It is what the
//! browser end-to-end tests (tests/browser) drive, and a working example for site developers.
//!
//! ```text
//! demo-site --trust CHAIN.pem [--trust MORE.pem ...] [--port 0 --port 0]
//! {"sites":["http://127.0.0.1:41234","http://127.0.0.1:41235"]}
//! ```
//!
//! Every `--port` is a separate site (its own origin, sessions and nonces) on 127.0.0.1, so a
//! test can carry a token from one origin to another. The line of JSON on standard output says
//! the sites are ready. `--trust` files hold CA certificates (PEM or DER): self-signed ones are
//! roots, the others intermediates. The server stops on SIGINT or SIGTERM.
//!
//! ## Layout
//! - `main.rs`: arguments, listeners, routing.
//! - `login.rs`: sessions, single-use nonces and token verification (the part a real site
//!   copies).
//! - `cms.rs`: verifying a detached CMS signature with `openssl cms -verify`.
//! - `trust.rs`: the trusted CA certificates, for the verifier and for openssl.
//! - `pages.rs`: the HTML; `assets/`: the style sheet and the page scripts.

mod cms;
mod login;
mod pages;
mod trust;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use login::Site;
use trust::Trust;

/// Largest request body: a signed document (1 MiB of text) with its signature.
const MAX_BODY: usize = 2 * 1024 * 1024;
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A demo e-government site that accepts card-agent logins and signatures.
#[derive(Debug, Parser)]
#[command(name = "demo-site")]
struct Args {
    /// A port on 127.0.0.1 for one site (0: any free port). Repeat for more sites.
    #[arg(long = "port", default_value = "0")]
    ports: Vec<u16>,
    /// A file of trusted CA certificates (PEM or DER). Repeatable.
    #[arg(long = "trust", required = true)]
    trust: Vec<PathBuf>,
    /// The page library served at /js/card-agent.js (read at every request).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packages/card-agent-page/card-agent.js"))]
    page_library: PathBuf,
}

/// What every site shares.
struct Shared {
    trust: Trust,
    page_library: PathBuf,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-site: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let shared = Arc::new(Shared {
        trust: Trust::load(&args.trust)?,
        page_library: args.page_library,
    });
    let mut origins = Vec::new();
    for port in &args.ports {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, *port)))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let site = Arc::new(Site::new(port));
        origins.push(site.origin().to_owned());
        tokio::spawn(accept_loop(listener, site, shared.clone()));
    }
    println!("{}", json!({ "sites": origins }));
    shutdown_signal().await;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        // Without a SIGTERM handler, Ctrl-C still stops the server.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn accept_loop(listener: TcpListener, site: Arc<Site>, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let site = site.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |req| {
                let site = site.clone();
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(secure_headers(route(req, &site, &shared).await)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), handler)
                .await;
        });
    }
}

type Body = Full<Bytes>;

async fn route(req: Request<Incoming>, site: &Site, shared: &Shared) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let session = login::session_id(&parts.headers, site.cookie_name());
    let path = parts.uri.path().to_owned();
    if parts.method == Method::POST && !site.is_same_origin(&parts.headers) {
        // Cookies alone do not prove the request came from our pages (cross-site forms).
        return json_response(
            StatusCode::FORBIDDEN,
            &json!({"ok": false, "reason": "cross-origin", "message": "跨來源請求被拒絕 / Cross-origin request refused"}),
            None,
        );
    }
    let body = if parts.method == Method::POST {
        match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"),
        }
    } else {
        Bytes::new()
    };

    match (&parts.method, path.as_str()) {
        (&Method::GET, "/") => {
            let user = session.as_deref().and_then(|s| site.user(s));
            html(StatusCode::OK, pages::home(site.origin(), user.as_ref()))
        }
        (&Method::GET, "/smartpki") => html(StatusCode::OK, pages::smartpki()),
        (&Method::GET, "/sign") => {
            let user = session.as_deref().and_then(|s| site.user(s));
            html(StatusCode::OK, pages::sign(user.as_ref()))
        }
        (&Method::GET, "/login/challenge") => {
            let (session, new_cookie) = site.session_or_new(session.as_deref());
            let nonce = site.challenge(&session);
            json_response(
                StatusCode::OK,
                &json!({ "challengeNonce": nonce }),
                new_cookie,
            )
        }
        (&Method::POST, "/login") => {
            match site.finish_login(session.as_deref(), &body, &shared.trust) {
                Ok((user, cookie)) => json_response(StatusCode::OK, &user.to_json(), Some(cookie)),
                Err(refusal) => json_response(refusal.status(), &refusal.to_json(), None),
            }
        }
        (&Method::POST, "/logout") => {
            if let Some(s) = &session {
                site.logout(s);
            }
            let mut response = html(StatusCode::SEE_OTHER, String::new());
            response
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/"));
            response
        }
        (&Method::POST, "/sign/verify") => {
            let user = session.as_deref().and_then(|s| site.user(s));
            let (status, value) = cms::verify_request(&body, &shared.trust, user.as_ref()).await;
            json_response(status, &value, None)
        }
        (&Method::GET, "/js/card-agent.js") => match std::fs::read(&shared.page_library) {
            Ok(bytes) => asset(bytes.into(), "text/javascript; charset=utf-8"),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("{}: {e}\n", shared.page_library.display()),
            ),
        },
        (&Method::GET, path) if path.starts_with("/assets/") => match pages::asset(path) {
            Some((content, content_type)) => {
                asset(Bytes::from_static(content.as_bytes()), content_type)
            }
            None => html(StatusCode::NOT_FOUND, pages::not_found()),
        },
        (&Method::GET, "/favicon.ico") => text(StatusCode::NO_CONTENT, ""),
        (&Method::GET, _) => html(StatusCode::NOT_FOUND, pages::not_found()),
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
    }
}

fn html(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn asset(body: Bytes, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn json_response(status: StatusCode, value: &Value, cookie: Option<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Headers every answer carries: only our own scripts and styles, no framing, no sniffing.
/// The extension's content script is not a page script, so the policy does not affect it.
fn secure_headers(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not "no-referrer": with it, browsers send `Origin: null` on our own form posts, and the
    // POST origin check would refuse them.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
