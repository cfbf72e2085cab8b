//! The endpoints. Each turns HiPKI's request into a service call and the result (or error)
//! into HiPKI's response.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode, Uri};
use serde_json::{json, Value};

use super::guard;
use super::tbs::TbsPackage;
use super::{bmp, codes, pages, pkcs11info, Body};
use crate::error::{Error, Result};
use crate::pinentry::Client;
use crate::policy::Origin;
use crate::service::{deadline, Caller, DecryptRequest, Service, SignRequest};
use crate::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};
use card_agent_protocol::timeouts;
use card_agent_protocol::Language;

/// What every handler needs.
pub struct Context {
    /// The service.
    pub service: Arc<Service>,
    /// Who asks, as the service's caller decision named it from the request's headers, or why
    /// it could not tell (then only what needs no caller is answered: static pages, `/`).
    pub caller: Result<Caller>,
    /// The site whose `Origin` header the request carries: the only origin CORS headers may
    /// echo, and only when the service already trusts it.
    pub cors_site: Option<Origin>,
    /// The language of messages.
    pub lang: Language,
}

impl Context {
    /// The caller, or the refusal to answer for the operation `func`.
    fn caller(&self, func: &str) -> std::result::Result<Caller, Value> {
        self.caller
            .as_ref()
            .map(Caller::clone)
            .map_err(|e| failure(func, e, self.lang))
    }

    /// The origin CORS headers echo: the request's own site, when it is trusted already.
    fn cors(&self) -> Option<&Origin> {
        let site = self.cors_site.as_ref()?;
        let caller = self.caller.as_ref().ok()?;
        (caller.site() == Some(site) && self.service.is_trusted(caller)).then_some(site)
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
        (&Method::GET | &Method::POST, "/pkcs11info") => pkcs11info(ctx, with_cert).await,
        (&Method::POST, "/sign" | "/umakeSig") => sign(ctx, &body).await,
        (&Method::POST, "/decrypt") => decrypt(ctx, &body).await,
        (&Method::GET, "/popupForm" | "/ChtPopupForm") => html(pages::popup_form()),
        (&Method::GET, "/addDomain") => add_domain(ctx, uri.query().unwrap_or("")).await,
        // The self-test page pages link to is the agent's full one.
        (&Method::GET, "/selfTest.htm") => redirect("/selftest/"),
        (&Method::GET, "/p11Image.bmp") => p11_image(ctx, with_cert).await,
        (&Method::GET, "/waiting.gif") => bytes("image/gif", pages::waiting_gif()),
        (&Method::POST, "/CardManagement/sendCardCommand") => {
            let func = TbsPackage::from_form(&body)
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

fn version_text() -> String {
    format!(
        "card-agent {} — HiPKI Local Sign Server compatible interface\nversion:{}\n",
        env!("CARGO_PKG_VERSION"),
        pkcs11info::COMPAT_VERSION
    )
}

async fn pkcs11info(ctx: &Context, with_cert: bool) -> Response<Body> {
    let value = inventory_value(ctx, with_cert).await;
    json_response(ctx, value)
}

async fn p11_image(ctx: &Context, with_cert: bool) -> Response<Body> {
    let value = inventory_value(ctx, with_cert).await;
    let mut r = bytes("image/bmp", bmp::pack(value.to_string().as_bytes()));
    add_cors(&mut r, ctx.cors());
    r
}

/// `CheckEnvir` / `GetUserCert`: the service's inventory in HiPKI's shape.
async fn inventory_value(ctx: &Context, with_cert: bool) -> Value {
    let func = if with_cert {
        "GetUserCert"
    } else {
        "CheckEnvir"
    };
    let caller = match ctx.caller(func) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let client = caller.client.clone();
    let snapshot = blocking(ctx, &client, move |service| service.inventory(&caller)).await;
    match snapshot {
        // No module at all is HiPKI's "library not loaded", not an empty list.
        Ok(s) => match &s.no_module {
            Some(e) => failure(func, e, ctx.lang),
            None => pkcs11info::build(&s, with_cert),
        },
        Err(e) => failure(func, &e, ctx.lang),
    }
}

async fn sign(ctx: &Context, body: &[u8]) -> Response<Body> {
    let Some(package) = TbsPackage::from_form(body) else {
        return json_response(
            ctx,
            fail_with(
                "MakeSignature",
                codes::JSON_FORMAT,
                0,
                "the body has no tbsPackage",
            ),
        );
    };
    let mut package = match package {
        Ok(p) => p,
        Err(_) => {
            return json_response(
                ctx,
                fail_with(
                    "MakeSignature",
                    codes::JSON_FORMAT,
                    0,
                    "tbsPackage is not valid JSON",
                ),
            )
        }
    };
    let func = package.func().unwrap_or_else(|| "MakeSignature".to_owned());
    if func == "DecryptData" {
        return decrypt_package(ctx, package).await;
    }
    if func != "MakeSignature" && func != "umakeSig" {
        return json_response(
            ctx,
            fail_with(&func, codes::UNSUPPORTED, 0, "unsupported func"),
        );
    }
    let caller = match ctx.caller(&func) {
        Ok(c) => c,
        Err(refusal) => return json_response(ctx, refusal),
    };
    let request = match sign_request(&mut package, func == "umakeSig") {
        Ok(r) => r,
        Err((code, why)) => return json_response(ctx, fail_with(&func, code, 0, why)),
    };
    let with_card_sn = request.with_card_serial;
    let client = caller.client.clone();
    let outcome = blocking(ctx, &client, move |service| service.sign(&caller, request)).await;
    let value = match outcome {
        Ok(out) => {
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut v = json!({
                "func": func,
                "ret_code": codes::OK,
                "last_error": 0,
                "signature": b64.encode(&out.signature),
                "certb64": b64.encode(&out.certificate.info.der),
            });
            if with_card_sn {
                v["cardSN"] = out.token.serial.into();
            }
            v
        }
        Err(e) => failure(&func, &e, ctx.lang),
    };
    json_response(ctx, value)
}

/// HiPKI's MakeSignature fields as a service request. Errors are `(ret_code, reason)`.
fn sign_request(
    p: &mut TbsPackage,
    umake: bool,
) -> std::result::Result<SignRequest, (u32, &'static str)> {
    let tbs = p.text("tbs").ok_or((codes::MISSING_TBS, "tbs is empty"))?;
    let data = match p.text("tbsEncoding").map(|e| e.to_ascii_lowercase()) {
        None => tbs.into_bytes(),
        Some(e) if e == "none" => tbs.into_bytes(),
        Some(e) if e == "base64" => {
            decode_base64(&tbs).ok_or((codes::BASE64, "tbs is not valid base64"))?
        }
        Some(_) => return Err((codes::BAD_PARAMETER, "tbsEncoding must be NONE or base64")),
    };
    let hash = match p.text("hashAlgorithm") {
        None => HashAlgorithm::Sha256,
        Some(h) => HashAlgorithm::parse(&h).ok_or((
            codes::BAD_PARAMETER,
            "hashAlgorithm must be SHA1, SHA256, SHA384 or SHA512",
        ))?,
    };
    // PKCS7 carries the signed text inside (attached), so a server can verify the signature
    // from it alone, as with HiPKI.
    let format = match p.text("signatureType").map(|t| t.to_ascii_uppercase()) {
        None => SignFormat::CmsAttached,
        Some(t) if t == "PKCS7" => SignFormat::CmsAttached,
        Some(t) if t == "PKCS1" => SignFormat::Pkcs1,
        Some(_) => return Err((codes::BAD_PARAMETER, "signatureType must be PKCS7 or PKCS1")),
    };
    Ok(SignRequest {
        certificate: None,
        input: SignInput::Data(data),
        hash,
        format,
        cms: CmsOptions {
            nonce: p.text("nonce").map(String::into_bytes),
            ..CmsOptions::default()
        },
        pin: p.take_secret("pin"),
        slot_description: p.text("slotDescription"),
        with_card_serial: umake || p.flag("withCardSN"),
        check_validity: p.flag("checkValidity"),
    })
}

async fn decrypt(ctx: &Context, body: &[u8]) -> Response<Body> {
    let package = TbsPackage::from_form(body).and_then(Result::ok);
    match package {
        Some(p) => decrypt_package(ctx, p).await,
        None => json_response(
            ctx,
            fail_with(
                "DecryptData",
                codes::JSON_FORMAT,
                0,
                "tbsPackage is not valid JSON",
            ),
        ),
    }
}

async fn decrypt_package(ctx: &Context, mut p: TbsPackage) -> Response<Body> {
    let func = "DecryptData";
    let caller = match ctx.caller(func) {
        Ok(c) => c,
        Err(refusal) => return json_response(ctx, refusal),
    };
    // The field's name is not documented anywhere public; accept the likely spellings.
    let cipher = ["cipher", "cipherText", "ciphertext", "encData", "tbs"]
        .iter()
        .find_map(|k| p.text(k));
    let Some(cipher) = cipher else {
        return json_response(
            ctx,
            fail_with(func, codes::MISSING_CIPHER, 0, "no ciphertext"),
        );
    };
    let Some(ciphertext) = decode_base64(&cipher) else {
        return json_response(
            ctx,
            fail_with(func, codes::BASE64, 0, "the ciphertext is not valid base64"),
        );
    };
    let request = DecryptRequest {
        ciphertext,
        pin: p.take_secret("pin"),
        slot_description: p.text("slotDescription"),
    };
    let client = caller.client.clone();
    let outcome = blocking(ctx, &client, move |service| {
        service.decrypt(&caller, request)
    })
    .await;
    let value = match outcome {
        Ok(plain) => json!({
            "func": func,
            "ret_code": codes::OK,
            "last_error": 0,
            "data": base64::engine::general_purpose::STANDARD.encode(&*plain),
            "tbsEncoding": "base64",
        }),
        Err(e) => failure(func, &e, ctx.lang),
    };
    json_response(ctx, value)
}

/// `/addDomain?domain=<host or origin>`: the user decides in the agent's own dialog; the page
/// never adds a site by itself. The answer goes back to the opener by postMessage.
async fn add_domain(ctx: &Context, query: &str) -> Response<Body> {
    let domain = form_value(query.as_bytes(), "domain").unwrap_or_default();
    let candidate = if domain.contains("://") {
        domain.clone()
    } else {
        format!("https://{domain}")
    };
    let origin = match Origin::parse_page(&candidate) {
        Ok(o) => o,
        Err(_) => {
            return html(pages::add_domain_answer(
                codes::FORBIDDEN_DOMAIN,
                None,
                false,
            ))
        }
    };
    let (site, lang, client) = (origin.clone(), ctx.lang, Client::new());
    let dialog_client = client.clone();
    let answer = blocking(ctx, &client, move |service| {
        service.confirm_site(&site, lang, &dialog_client)
    })
    .await;
    let (code, approved) = match answer {
        Ok(true) => (codes::OK, true),
        Ok(false) => (codes::CANCELLED, false),
        Err(e) => (codes::for_error(&e).0, false),
    };
    html(pages::add_domain_answer(
        code,
        Some(origin.as_str()),
        approved,
    ))
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

/// Runs a service call within the legacy API's budget of the timeout ladder (one dialog, then
/// the card). The caller's dialog closes and no card operation starts when it is up.
async fn blocking<T: Send + 'static>(
    ctx: &Context,
    client: &Client,
    work: impl FnOnce(&Service) -> Result<T> + Send + 'static,
) -> Result<T> {
    deadline::call(&ctx.service, client, timeouts::DAEMON_LEGACY, work).await
}

/// A failure response with the mapped codes and a message for people.
fn failure(func: &str, error: &Error, lang: Language) -> Value {
    let (ret_code, last_error) = codes::for_error(error);
    tracing::info!(func, code = %error.code(), ret_code = format!("{ret_code:#x}"), "legacy request failed");
    json!({ "func": func, "ret_code": ret_code, "last_error": last_error, "message": error.user_message(lang) })
}

fn fail_with(func: &str, ret_code: u32, last_error: u32, message: &str) -> Value {
    json!({ "func": func, "ret_code": ret_code, "last_error": last_error, "message": message })
}

fn form_value(form: &[u8], key: &str) -> Option<String> {
    form_urlencoded::parse(form)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    card_agent_protocol::encoding::decode_base64(s.trim()).ok()
}

fn json_response(ctx: &Context, value: Value) -> Response<Body> {
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

fn html(page: String) -> Response<Body> {
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
