//! `/sign` and `/umakeSig`: HiPKI's `MakeSignature` (and `umakeSig`) as a service request, and
//! the answer pages dispatch on: `func` is the response's name, `"sign"` (`"umakeSig"` for
//! `/umakeSig`), never the request's.

use base64::Engine as _;
use hyper::Response;
use serde_json::json;

use super::handlers::{blocking, decode_base64, fail_with, failure, json_response, Context};
use super::tbs::TbsPackage;
use super::{codes, Body};
use crate::service::SignRequest;
use crate::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};
use card_agent_protocol::SecretString;

/// Signs a parsed package whose `func` is `MakeSignature` or `umakeSig`.
pub async fn sign(ctx: &Context, mut package: TbsPackage, umake: bool) -> Response<Body> {
    let func = if umake { "umakeSig" } else { "sign" };
    let caller = match ctx.caller(func) {
        Ok(c) => c,
        Err(refusal) => return json_response(ctx, refusal),
    };
    let request = match sign_request(&mut package, umake) {
        Ok(r) => r,
        Err((code, why)) => return json_response(ctx, fail_with(func, code, 0, why)),
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
        Err(e) => failure(ctx, func, &e),
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
    let pin = p.take_secret("pin");
    let pin = if umake { pin.map(umake_pin) } else { pin };
    Ok(SignRequest {
        certificate: None,
        input: SignInput::Data(data),
        hash,
        format,
        cms: CmsOptions {
            nonce: p.text("nonce").map(String::into_bytes),
            ..CmsOptions::default()
        },
        pin,
        slot_description: p.text("slotDescription"),
        with_card_serial: umake || p.flag("withCardSN"),
        check_validity: p.flag("checkValidity"),
    })
}

/// `/umakeSig`'s PIN: the vendor's error table says that handler decodes a base64 PIN, and no
/// published page shows which one pages send. Neither reading may cost a PIN try on a guess:
/// a card PIN is digits only (the format rule, checked before the card), and a string of
/// digits never base64-decodes to digits (a base64 digit is worth 52 to 61, so every decoded
/// byte starts at 0xD0 or above), so at most one reading is a well-formed PIN. That one is
/// taken; with none, the raw text goes on and the format check refuses it before the card.
fn umake_pin(pin: SecretString) -> SecretString {
    if pin.expose().bytes().all(|b| b.is_ascii_digit()) {
        return pin;
    }
    let decoded = decode_base64(pin.expose())
        .map(zeroize::Zeroizing::new)
        .filter(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit));
    match decoded.and_then(|d| String::from_utf8(d.to_vec()).ok()) {
        Some(text) => SecretString::new(text),
        None => pin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umake_pin_takes_the_only_well_formed_reading() {
        let read = |s: &str| {
            umake_pin(SecretString::new(s.to_owned()))
                .expose()
                .to_owned()
        };
        assert_eq!(read("123456"), "123456");
        assert_eq!(read("MTIzNDU2"), "123456");
        assert_eq!(read("MTIzNDU2Nzg="), "12345678");
        // Neither reading is a PIN: passed on, the format check refuses it before the card.
        assert_eq!(read("abc"), "abc");
        assert_eq!(read("YWJj"), "YWJj");
        // No string of digits decodes to digits, whatever its length.
        for n in 4..=12 {
            for d in 0..10u8 {
                let digits: String = std::iter::repeat_n((b'0' + d) as char, n).collect();
                if let Some(bytes) = decode_base64(&digits) {
                    assert!(!bytes.iter().all(u8::is_ascii_digit), "{digits}");
                }
            }
        }
    }
}
