//! `/decrypt` (`DecryptData`): `{cipher, cipherType, plainEncoding, pin}` as pages send it, and
//! the answer they read: `func:"decrypt"` with the plaintext in `plain`.
//!
//! - `cipherType:"PKCS1"`: `cipher` is an RSA PKCS#1 v1.5 ciphertext for the card's
//!   encryption key (the vendor's sample encodes it with line breaks, which are ignored).
//! - `cipherType:"PKCS7"` (the vendor's default, also when absent): a CMS EnvelopedData; the
//!   card unwraps the content key, the agent decrypts the content ([`crate::envelope`]).
//! - `plainEncoding:"base64"`: `plain` is base64; `"NONE"` (the default) or anything else:
//!   `plain` is the text itself, which must then be UTF-8.

use base64::Engine as _;
use hyper::Response;
use serde_json::json;

use super::handlers::{blocking, fail_with, failure, json_response, Context};
use super::tbs::TbsPackage;
use super::{codes, Body};
use crate::envelope::Envelope;
use crate::error::Error;
use crate::service::DecryptRequest;

/// The response `func` of every decryption answer.
const FUNC: &str = "decrypt";

/// How the page wants the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlainEncoding {
    None,
    Base64,
}

/// Decrypts a parsed package (its `func` is `DecryptData`).
pub async fn decrypt(ctx: &Context, mut p: TbsPackage) -> Response<Body> {
    let caller = match ctx.caller(FUNC) {
        Ok(c) => c,
        Err(refusal) => return json_response(ctx, refusal),
    };
    let fail = |code, why| json_response(ctx, fail_with(FUNC, code, 0, why));
    // "cipher" is the published pages' name; the others are tolerated spellings.
    let cipher = ["cipher", "cipherText", "ciphertext", "encData"]
        .iter()
        .find_map(|k| p.text(k));
    let Some(cipher) = cipher else {
        return fail(codes::MISSING_CIPHER, "no ciphertext");
    };
    let compact: String = cipher
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let Some(cipher) = card_agent_protocol::encoding::decode_base64(&compact).ok() else {
        return fail(codes::BASE64, "the ciphertext is not valid base64");
    };
    let pkcs1 = match p.text("cipherType").map(|t| t.to_ascii_uppercase()) {
        None => false,
        Some(t) if t == "PKCS7" => false,
        Some(t) if t == "PKCS1" => true,
        Some(_) => return fail(codes::BAD_PARAMETER, "cipherType must be PKCS7 or PKCS1"),
    };
    let encoding = match p.text("plainEncoding") {
        Some(e) if e.eq_ignore_ascii_case("base64") => PlainEncoding::Base64,
        _ => PlainEncoding::None,
    };
    // The envelope is read before any PIN is asked for: a malformed one costs nothing.
    let envelope = if pkcs1 {
        None
    } else {
        match Envelope::parse(&cipher) {
            Ok(e) => Some(e),
            Err(e) => return json_response(ctx, failure(ctx, FUNC, &e.into())),
        }
    };
    let (pin, slot) = (p.take_secret("pin"), p.text("slotDescription"));
    let client = caller.client.clone();
    let outcome = blocking(ctx, &client, move |service| match &envelope {
        Some(envelope) => service.decrypt_envelope(&caller, envelope, pin, slot.as_deref()),
        None => service.decrypt(
            &caller,
            DecryptRequest {
                ciphertext: cipher,
                pin,
                slot_description: slot,
            },
        ),
    })
    .await;
    let value = match outcome.and_then(|plain| encode(&plain, encoding)) {
        Ok(plain) => json!({
            "func": FUNC,
            "ret_code": codes::OK,
            "last_error": 0,
            "plain": plain.as_str(),
        }),
        Err(e) => failure(ctx, FUNC, &e),
    };
    json_response(ctx, value)
}

/// The plaintext as the page asked for it.
fn encode(
    plain: &[u8],
    encoding: PlainEncoding,
) -> crate::error::Result<zeroize::Zeroizing<String>> {
    match encoding {
        PlainEncoding::Base64 => Ok(zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD.encode(plain),
        )),
        PlainEncoding::None => std::str::from_utf8(plain)
            .map(|t| zeroize::Zeroizing::new(t.to_owned()))
            .map_err(|_| {
                Error::BadInput(
                    "the plaintext is not text; ask for it with plainEncoding \"base64\""
                        .to_owned(),
                )
            }),
    }
}
