//! The extension's route to the legacy API (`legacy-request`): a page's call carried through
//! the native host instead of over HTTP, answered by the same handlers, with the page's origin
//! as the browser reported it. Also whether this daemon holds the legacy port, which only this
//! route tells (the extension must not send pages' calls to a port another program holds).

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::Method;

use super::handlers;
use crate::service::Service;

/// Whether this daemon holds the legacy port. When it does not, pages' calls to the port
/// would reach whoever holds it; the extension then carries legacy calls over native
/// messaging only ([`STATUS_PATH`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortState {
    /// This daemon listens on `http_listen`.
    Ours,
    /// Another program holds it (named when it can be).
    Taken {
        /// Who holds it.
        holder: Option<String>,
    },
    /// `http_listen` is empty: the legacy port is turned off.
    Off,
}

static PORT_STATE: std::sync::OnceLock<PortState> = std::sync::OnceLock::new();

/// Records, once, whether the daemon got the legacy port.
pub fn set_port_state(state: PortState) {
    let _ = PORT_STATE.set(state);
}

/// Whether this process holds the legacy port (unknown counts as no).
pub fn port_is_ours() -> bool {
    PORT_STATE.get() == Some(&PortState::Ours)
}

/// The path of the extension's question "does card-agent hold the legacy port?", answered on
/// the extension's route only (`legacy-request`), never over HTTP: `{"ours": bool}`.
pub const STATUS_PATH: &str = "/.card-agent/port";

/// Answers a legacy call that arrived through the extension (`legacy-request`) instead of over
/// HTTP. `caller` is the page, decided by the service from the origin the browser reported;
/// everything else is decided by the same handlers as for HTTP, so the two routes cannot drift
/// apart.
pub async fn respond_for_extension(
    service: Arc<Service>,
    caller: crate::service::Caller,
    args: card_agent_protocol::message::LegacyRequestArgs,
) -> card_agent_protocol::message::LegacyResult {
    use base64::Engine as _;
    let lang = caller.lang;
    if args.path == STATUS_PATH {
        let body = serde_json::json!({ "ours": port_is_ours() }).to_string();
        return card_agent_protocol::message::LegacyResult {
            status: 200,
            content_type: "application/json; charset=utf-8".to_owned(),
            body: base64::engine::general_purpose::STANDARD.encode(body),
        };
    }
    let method = if args.method == "POST" {
        Method::POST
    } else {
        Method::GET
    };
    let uri: hyper::Uri = args
        .path
        .parse()
        .unwrap_or_else(|_| hyper::Uri::from_static("/invalid"));
    let body = zeroize::Zeroizing::new(
        args.body
            .map(|b| b.into_inner().into_bytes())
            .unwrap_or_default(),
    );
    let ctx = handlers::Context {
        service,
        caller: Ok(caller),
        // The answer goes back through the extension, never to a page's fetch: no CORS.
        cors_site: None,
        referer: None,
        lang,
        // A page's fetch of /addDomain through the extension opens no dialog.
        questions: None,
    };
    let response = handlers::route(&ctx, &method, &uri, body).await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    card_agent_protocol::message::LegacyResult {
        status,
        content_type,
        body: base64::engine::general_purpose::STANDARD.encode(&bytes),
    }
}
