//! `/selftest`: the self-test page (its source is shared with the extension, in
//! extension/selftest/) and the small same-origin API it uses. Only the agent's own pages and
//! local programs may call the API: a web page's request is refused, because the self-test
//! signs with the card.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use card_agent_protocol::message::ErrorBody;
use card_agent_protocol::Language;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::Error;
use crate::service::{Caller, Service};
use crate::work_queue::LEGACY_API;

/// The page.
pub const PAGE: &str = include_str!("../../../extension/selftest/selftest.html");
/// Its script.
pub const SCRIPT: &str = include_str!("../../../extension/selftest/selftest.js");
/// Its style sheet.
pub const STYLE: &str = include_str!("../../../extension/selftest/selftest.css");

/// `texts.js`: the page's words in both languages, from the message catalogue (`selftest.*`).
/// The agent serves it as generated; the extension ships the same file, which a test keeps
/// equal to this.
pub fn texts_js() -> String {
    let table = |lang| {
        card_agent_protocol::i18n::with_prefix(lang, "selftest.")
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect::<serde_json::Map<String, Value>>()
    };
    let texts = json!({ "zh-TW": table(Language::ZhTw), "en": table(Language::En) });
    format!(
        "// Generated from protocol/locales/ (keys selftest.*) by card-agent; do not edit.\n\
         // A test regenerates it: CARD_AGENT_UPDATE_TEXTS=1 cargo test -p card-agent texts_js\n\
         globalThis.CARD_AGENT_SELFTEST_TEXTS = {};\n",
        serde_json::to_string_pretty(&texts).unwrap_or_default()
    )
}

/// A response body that may stream (the event stream) or not.
pub type AnyBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// `GET /selftest/api/events`: card and reader events as Server-Sent Events, pushed the moment
/// the daemon sees them.
pub fn events(service: &Service, caller: &Caller) -> Response<AnyBody> {
    let mut events = match service.subscribe(caller) {
        Ok(events) => events,
        Err(_) => return forbidden(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        // A comment first, so the browser knows the stream is open.
        if tx
            .send(Bytes::from_static(b": card-agent events\n\n"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            match events.recv().await {
                Ok(event) => {
                    let Ok(json) = serde_json::to_string(&event) else {
                        continue;
                    };
                    if tx
                        .send(Bytes::from(format!("data: {json}\n\n")))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let mut r = Response::new(AnyBody::new(EventStream(rx)));
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    r
}

struct EventStream(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// `GET /selftest/api/status`: readers, tokens and certificates.
pub async fn status(service: Arc<Service>, caller: Caller) -> Response<AnyBody> {
    let lang = caller.lang;
    let (queue, key) = (service.queue().clone(), caller.queue_key(LEGACY_API));
    let outcome = queue
        .run(key, move || {
            service.inventory(&caller).and_then(|s| {
                let wire = crate::inventory::to_wire(&s, crate::inventory::now_unix());
                serde_json::to_value(wire).map_err(|e| Error::Internal(e.to_string()))
            })
        })
        .await;
    json_outcome(outcome.and_then(|done| done), lang)
}

/// `GET /selftest/api/checks?lang=zh-TW|en`: the environment check's report.
pub async fn checks(service: Arc<Service>, caller: Caller) -> Response<AnyBody> {
    let lang = caller.lang;
    let (queue, key) = (service.queue().clone(), caller.queue_key(LEGACY_API));
    let outcome = queue
        .run(key, move || {
            service
                .environment_check(&caller)
                .and_then(|r| serde_json::to_value(r).map_err(|e| Error::Internal(e.to_string())))
        })
        .await;
    json_outcome(outcome.and_then(|done| done), lang)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixBody {
    id: String,
}

/// `POST /selftest/api/fix` with `{"id": "register-host"}`: a fix the agent applies itself.
pub async fn fix(service: Arc<Service>, caller: Caller, body: &[u8]) -> Response<AnyBody> {
    let lang = caller.lang;
    let Ok(FixBody { id }) = serde_json::from_slice(body) else {
        return json_outcome(Err(Error::BadInput("expected {\"id\"}".to_owned())), lang);
    };
    let (queue, key) = (service.queue().clone(), caller.queue_key(LEGACY_API));
    let outcome = queue
        .run(key, move || {
            service
                .apply_fix(&caller, &id)
                .map(|o| json!({ "action": o.action, "message": o.message }))
        })
        .await;
    json_outcome(outcome.and_then(|done| done), lang)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    certificate: Option<String>,
    pin: Option<String>,
}

/// `POST /selftest/api/sign` with `{"certificate": "<sha256>", "pin": "..."}` (both optional).
pub async fn sign(service: Arc<Service>, caller: Caller, body: &[u8]) -> Response<AnyBody> {
    let lang = caller.lang;
    let parsed: Result<SignBody, _> = serde_json::from_slice(body);
    let Ok(SignBody { certificate, pin }) = parsed else {
        return json_outcome(
            Err(Error::BadInput(
                "expected {\"certificate\", \"pin\"}".to_owned(),
            )),
            lang,
        );
    };
    let pin = pin.map(card_agent_protocol::SecretString::new);
    let (queue, key) = (service.queue().clone(), caller.queue_key(LEGACY_API));
    let outcome = queue
        .run(key, move || {
            service
                .self_test_sign(&caller, certificate, pin)
                .and_then(|r| serde_json::to_value(r).map_err(|e| Error::Internal(e.to_string())))
        })
        .await;
    json_outcome(outcome.and_then(|done| done), lang)
}

fn json_outcome(outcome: crate::error::Result<Value>, lang: Language) -> Response<AnyBody> {
    let value = match outcome {
        Ok(v) => v,
        Err(e) => json!({ "error": body(&e, lang) }),
    };
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    r
}

fn body(e: &Error, lang: Language) -> ErrorBody {
    e.to_wire(lang)
}

/// A static asset of the page.
pub fn asset(text: &'static str, content_type: &'static str) -> Response<AnyBody> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// A generated asset.
pub fn generated(text: String, content_type: &'static str) -> Response<AnyBody> {
    let mut r = Response::new(Full::new(Bytes::from(text)).boxed());
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The answer to a web page that tries the self-test API.
pub fn forbidden() -> Response<AnyBody> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(
            b"the self-test is for this computer's user only\n",
        ))
        .boxed(),
    );
    *r.status_mut() = StatusCode::FORBIDDEN;
    r
}

/// A redirect to `location` (a fixed path of ours).
pub fn redirect(location: &'static str) -> Response<AnyBody> {
    let mut r = Response::new(Full::new(Bytes::new()).boxed());
    *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
    r.headers_mut()
        .insert("location", HeaderValue::from_static(location));
    r
}

#[cfg(test)]
mod tests {
    /// The extension's copy of texts.js is the catalogue's, word for word.
    #[test]
    fn texts_js_matches_the_catalogue() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../extension/selftest/texts.js"
        );
        let generated = super::texts_js();
        if std::env::var_os("CARD_AGENT_UPDATE_TEXTS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "extension/selftest/texts.js is out of date: CARD_AGENT_UPDATE_TEXTS=1 cargo test -p card-agent texts_js"
        );
    }
}
