//! The endpoints. Each turns HiPKI's request into a service call and the result (or error)
//! into HiPKI's response: the response's own `func` (`sign`, `umakeSig`, `pkcs11info`,
//! `decrypt`), which is what published pages dispatch on.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode, Uri};
use serde_json::{json, Value};

use super::tbs::TbsPackage;
use super::{add_domain, bmp, codes, decrypt, guard, pages, pkcs11info, sign, Body};
use crate::error::{Error, Result};
use crate::policy::Origin;
use crate::service::{Caller, Service};
use card_agent_protocol::Language;

pub(super) use super::work::blocking;

/// What every handler needs.
pub struct Context {
    /// The service.
    pub service: Arc<Service>,
    /// Who asks, as the service's caller decision named it from the request's headers, or why
    /// it could not tell (then only what needs no caller is answered: static pages, `/`).
    pub caller: Result<Caller>,
    /// The site whose `Origin` header the request carries: the only origin CORS headers may
    /// echo (for the image even when refused; elsewhere only when the service trusts it).
    pub cors_site: Option<Origin>,
    /// The `Referer` header's origin: the page that opened `/addDomain`.
    pub referer: Option<Origin>,
    /// The language of messages.
    pub lang: Language,
    /// `/addDomain`'s questions, on the HTTP server only.
    pub questions: Option<Arc<super::add_domain::Questions>>,
}

impl Context {
    /// The caller, or the refusal to answer for the operation `func`.
    pub(super) fn caller(&self, func: &str) -> std::result::Result<Caller, Value> {
        self.caller
            .as_ref()
            .map(Caller::clone)
            .map_err(|e| failure(self, func, e))
    }

    /// The origin CORS headers echo: the request's own site, when it is trusted already.
    fn cors(&self) -> Option<&Origin> {
        let site = self.cors_site.as_ref()?;
        let caller = self.caller.as_ref().ok()?;
        (caller.site() == Some(site) && self.service.is_trusted(caller)).then_some(site)
    }

    /// Who sent the request, for the log.
    pub(super) fn sender(&self) -> String {
        match &self.caller {
            Ok(c) => c.log_name().to_owned(),
            Err(_) => match &self.cors_site {
                Some(o) => format!("unknown caller ({o})"),
                None => "unknown caller".to_owned(),
            },
        }
    }
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
        (&Method::GET | &Method::POST, "/pkcs11info") => {
            let value = inventory_value(ctx, with_cert).await;
            json_response(ctx, value)
        }
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
        Err(why) => return json_response(ctx, fail_with(fallback, codes::JSON_FORMAT, 0, why)),
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

/// `CheckEnvir` / `GetUserCert`: the service's inventory in HiPKI's shape.
async fn inventory_value(ctx: &Context, with_cert: bool) -> Value {
    let func = pkcs11info::FUNC;
    let caller = match ctx.caller(func) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let client = caller.client.clone();
    let snapshot = blocking(ctx, &client, move |service| service.inventory(&caller)).await;
    match snapshot {
        // No module at all is HiPKI's "library not loaded", not an empty list.
        Ok(s) => match &s.no_module {
            Some(e) => failure(ctx, func, e),
            None => pkcs11info::build(&s, with_cert),
        },
        Err(e) => failure(ctx, func, &e),
    }
}

/// `/p11Image.bmp`: the compact pkcs11info in pixel row 0 of an image whose size never
/// changes. A page's origin gets CORS on every answer (an untrusted page must be able to read
/// `0x76000031` to offer `/addDomain`); only a trusted one gets card facts.
async fn p11_image(ctx: &Context) -> Response<Body> {
    let value = inventory_value(ctx, false).await;
    let mut r = bytes("image/bmp", bmp::pack(&pkcs11info::compact(&value)));
    add_cors(&mut r, ctx.cors_site.as_ref());
    r
}

fn preflight(ctx: &Context) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    let Some(origin) = ctx.cors() else {
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

/// A failure response with the mapped codes and a message for people. The log record is
/// bounded per sender, so that a page cannot push the records that matter out of the log.
pub(super) fn failure(ctx: &Context, func: &str, error: &Error) -> Value {
    let (ret_code, last_error) = codes::for_error(error);
    let sender = ctx.sender();
    if let Some(left_out) = super::log_limit::admit(&sender, error.code().as_str()) {
        tracing::info!(func, %sender, code = %error.code(), ret_code = format!("{ret_code:#x}"), left_out, "legacy request failed");
    }
    json!({ "func": func, "ret_code": ret_code, "last_error": last_error, "message": error.user_message(ctx.lang) })
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

pub(super) fn json_response(ctx: &Context, value: Value) -> Response<Body> {
    text(
        ctx,
        StatusCode::OK,
        "application/json; charset=utf-8",
        value.to_string(),
    )
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
    // A trusted page may read the answer; no one else gets CORS headers.
    add_cors(&mut r, ctx.cors());
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
