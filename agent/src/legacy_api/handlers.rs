//! The endpoints. Each turns HiPKI's request into a service call and the result (or error)
//! into HiPKI's response.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode, Uri};
use serde_json::{json, Value};

use super::guard::{self, Requester};
use super::tbs::TbsPackage;
pub(super) use super::work::blocking;
use super::{add_domain, bmp, codes, decrypt, pages, pkcs11info, sign, Body};
use crate::error::{Error, Result};
use crate::policy::Origin;
use crate::service::{Caller, Service};
use card_agent_protocol::Language;

/// What every handler needs.
pub struct Context {
    /// The service.
    pub service: Arc<Service>,
    /// Who asks.
    pub requester: Requester,
    /// The language of messages.
    pub lang: Language,
    /// `/addDomain`'s questions, on the HTTP server only.
    pub questions: Option<Arc<super::add_domain::Questions>>,
}

/// The language pages' users read: zh-TW unless the browser prefers something else first.
pub fn language(headers: &HeaderMap) -> Language {
    headers
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            if v.trim_start().to_ascii_lowercase().starts_with("en") {
                Language::En
            } else {
                Language::ZhTw
            }
        })
        .unwrap_or(Language::ZhTw)
}

/// Routes one request.
pub async fn route(
    ctx: &Context,
    method: &Method,
    uri: &Uri,
    body: zeroize::Zeroizing<Vec<u8>>,
) -> Response<Body> {
    let with_cert = uri.query().is_some_and(|q| {
        form_value(q.as_bytes(), "withcert").is_some_and(|v| v.eq_ignore_ascii_case("true"))
    });
    match (method, uri.path()) {
        (&Method::OPTIONS, _) => preflight(ctx),
        (&Method::GET, "/") => text(
            ctx,
            StatusCode::OK,
            "text/plain; charset=utf-8",
            version_text(),
        ),
        (&Method::GET | &Method::POST, "/pkcs11info") => pkcs11info(ctx, with_cert).await,
        (&Method::POST, "/sign" | "/umakeSig" | "/decrypt") => {
            package(ctx, uri.path(), &body).await
        }
        (&Method::GET, "/popupForm" | "/ChtPopupForm") => html(pages::popup_form()),
        (&Method::GET, "/addDomain") => {
            add_domain::add_domain(ctx, uri.query().unwrap_or("")).await
        }
        // The self-test page pages link to is the agent's full one.
        (&Method::GET, "/selfTest.htm") => redirect("/selftest/"),
        (&Method::GET, "/p11Image.bmp") => p11_image(ctx).await,
        (&Method::GET, "/waiting.gif") => bytes("image/gif", pages::waiting_gif()),
        (&Method::POST, "/CardManagement/sendCardCommand") => {
            let func = TbsPackage::from_body(&body)
                .and_then(Result::ok)
                .and_then(|p| p.func())
                .unwrap_or_default();
            json_response(
                ctx,
                None,
                fail_with(
                    &func,
                    codes::UNSUPPORTED,
                    0,
                    "card management (changing the PIN) is done with the card's own tools",
                ),
            )
        }
        _ => text(
            ctx,
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n".to_owned(),
        ),
    }
}

/// `/sign`, `/umakeSig` and `/decrypt`: the body is a tbsPackage (form field or raw JSON) and
/// its `func` says what to do. The answer's `func` is the response's name (`sign`,
/// `umakeSig`, `decrypt`), on errors too: pages ignore any other.
async fn package(ctx: &Context, path: &str, body: &[u8]) -> Response<Body> {
    let fallback = match path {
        "/decrypt" => "decrypt",
        "/umakeSig" => "umakeSig",
        _ => "sign",
    };
    let parsed = match TbsPackage::from_body(body) {
        None => Err("the body has no tbsPackage"),
        Some(Err(_)) => Err("tbsPackage is not valid JSON"),
        Some(Ok(p)) => Ok(p),
    };
    let package = match parsed {
        Ok(p) => p,
        Err(why) => {
            return json_response(ctx, None, fail_with(fallback, codes::JSON_FORMAT, 0, why))
        }
    };
    let func = package.func().unwrap_or_else(|| match path {
        "/decrypt" => "DecryptData".to_owned(),
        "/umakeSig" => "umakeSig".to_owned(),
        _ => "MakeSignature".to_owned(),
    });
    match func.as_str() {
        "DecryptData" => decrypt::decrypt(ctx, package).await,
        "MakeSignature" => sign::sign(ctx, package, false).await,
        "umakeSig" => sign::sign(ctx, package, true).await,
        // Card management and anything else: the request's func echoed, as the vendor does.
        _ => json_response(
            ctx,
            None,
            fail_with(&func, codes::UNSUPPORTED, 0, "unsupported func"),
        ),
    }
}

/// `GET /`: what administrators' scripts read with `version:([\d.]+)`, with card-agent's own
/// version beside it.
fn version_text() -> String {
    format!(
        "version:{}\ncard-agent {} (HiPKI Local Sign Server compatible interface)\n",
        pkcs11info::COMPAT_VERSION,
        env!("CARGO_PKG_VERSION"),
    )
}

/// The caller as the service sees it: a local program has no site; the popup bridge speaks
/// for its opener; a page speaks for its origin. A browser request that names no origin, our
/// own page without an opener, and anything unparseable are refused, never "local".
fn caller(ctx: &Context) -> Result<Caller> {
    let origin = match &ctx.requester {
        Requester::Local => None,
        Requester::OwnPage { opener: Some(o) } | Requester::Site(o) => Some(o.clone()),
        Requester::OwnPage { opener: None } => {
            return Err(Error::SiteNotTrusted {
                origin: "card-agent's own page without an opener".to_owned(),
            })
        }
        Requester::Browser { .. } => {
            return Err(Error::SiteNotTrusted {
                origin: "a browser request that names no site".to_owned(),
            })
        }
        Requester::Invalid => {
            return Err(Error::SiteNotTrusted {
                origin: "an origin that does not parse".to_owned(),
            })
        }
    };
    Ok(Caller::new(origin, ctx.lang))
}

/// The caller, admitted only if its site is already trusted (no dialog: pages call
/// `/addDomain` for that). Returns the origin to echo in CORS.
pub(super) fn admitted(ctx: &Context) -> Result<(Caller, Option<Origin>)> {
    let caller = caller(ctx)?;
    ctx.service.admit_without_asking(&caller)?;
    let cors = match &ctx.requester {
        Requester::Site(o) => Some(o.clone()),
        _ => None,
    };
    Ok((caller, cors))
}

async fn pkcs11info(ctx: &Context, with_cert: bool) -> Response<Body> {
    let func = pkcs11info::FUNC;
    let (caller, cors) = match admitted(ctx) {
        Ok(a) => a,
        Err(e) => return json_response(ctx, None, failure(ctx, func, &e)),
    };
    let service = ctx.service.clone();
    let work = move || pkcs11info::build(service.core(), with_cert);
    match blocking(ctx, &caller.client, work).await {
        Ok(v) => json_response(ctx, cors.as_ref(), v),
        Err(e) => json_response(ctx, cors.as_ref(), failure(ctx, func, &e)),
    }
}

/// `/p11Image.bmp`: the compact pkcs11info in pixel row 0 of an image whose size never
/// changes. A page's origin gets CORS on every answer (an untrusted page must be able to read
/// `0x76000031` to offer `/addDomain`); only a trusted one gets card facts.
async fn p11_image(ctx: &Context) -> Response<Body> {
    let func = pkcs11info::FUNC;
    let page = match &ctx.requester {
        Requester::Site(o) => Some(o.clone()),
        _ => None,
    };
    let value = match admitted(ctx) {
        Err(e) => failure(ctx, func, &e),
        Ok((caller, _)) => {
            let service = ctx.service.clone();
            let work = move || pkcs11info::build(service.core(), false);
            blocking(ctx, &caller.client, work)
                .await
                .unwrap_or_else(|e| failure(ctx, func, &e))
        }
    };
    let mut r = bytes("image/bmp", bmp::pack(&pkcs11info::compact(&value)));
    add_cors(&mut r, page.as_ref());
    r
}

fn preflight(ctx: &Context) -> Response<Body> {
    let trusted = match &ctx.requester {
        Requester::Site(o) => ctx
            .service
            .admit_without_asking(&Caller::new(Some(o.clone()), ctx.lang))
            .is_ok()
            .then_some(o),
        _ => None,
    };
    let mut r = Response::new(Full::new(Bytes::new()));
    let Some(origin) = trusted else {
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    };
    *r.status_mut() = StatusCode::NO_CONTENT;
    add_cors(&mut r, Some(origin));
    let h = r.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST"),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Content-Type"),
    );
    h.insert(
        "access-control-allow-private-network",
        HeaderValue::from_static("true"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("600"));
    r
}

/// A failure response with the mapped codes and a message for people.
pub(super) fn failure(ctx: &Context, func: &str, error: &Error) -> Value {
    let (ret_code, last_error) = codes::for_error(error);
    let sender = sender(&ctx.requester);
    // Bounded per sender, so that a page cannot push the records that matter out of the log.
    if let Some(left_out) = super::log_limit::admit(&sender, error.code().as_str()) {
        tracing::info!(func, %sender, code = %error.code(), ret_code = format!("{ret_code:#x}"), left_out, "legacy request failed");
    }
    json!({ "func": func, "ret_code": ret_code, "last_error": last_error, "message": error.user_message(ctx.lang) })
}

/// Who sent a request, for the log.
pub(super) fn sender(requester: &Requester) -> String {
    match requester {
        Requester::Local => "local program".to_owned(),
        Requester::OwnPage { opener: Some(o) } => format!("popup for {o}"),
        Requester::OwnPage { opener: None } => "card-agent page".to_owned(),
        Requester::Site(o) => o.to_string(),
        Requester::Browser { referer: Some(o) } => format!("browser navigation from {o}"),
        Requester::Browser { referer: None } => "browser request without origin".to_owned(),
        Requester::Invalid => "unparseable origin".to_owned(),
    }
}

pub(super) fn fail_with(func: &str, ret_code: u32, last_error: u32, message: &str) -> Value {
    json!({ "func": func, "ret_code": ret_code, "last_error": last_error, "message": message })
}

pub(super) fn form_value(form: &[u8], key: &str) -> Option<String> {
    form_urlencoded::parse(form)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

pub(super) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    card_agent_protocol::encoding::decode_base64(s.trim()).ok()
}

pub(super) fn json_response(ctx: &Context, cors: Option<&Origin>, value: Value) -> Response<Body> {
    let mut r = text(
        ctx,
        StatusCode::OK,
        "application/json; charset=utf-8",
        value.to_string(),
    );
    add_cors(&mut r, cors);
    r
}

fn redirect(location: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::FOUND;
    r.headers_mut()
        .insert("location", HeaderValue::from_static(location));
    r
}

pub(super) fn html(page: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(page)));
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn text(
    ctx: &Context,
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // A trusted page may read the version text; no one else gets CORS headers.
    if let Requester::Site(o) = &ctx.requester {
        if ctx
            .service
            .admit_without_asking(&Caller::new(Some(o.clone()), ctx.lang))
            .is_ok()
        {
            add_cors(&mut r, Some(o));
        }
    }
    r
}

fn bytes(content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    r
}

fn add_cors(r: &mut Response<Body>, origin: Option<&Origin>) {
    if let Some(origin) = origin {
        for (k, v) in guard::cors_headers(origin) {
            r.headers_mut().insert(k, v);
        }
    }
}
