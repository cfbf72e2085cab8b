//! `/pkcs11info` (`CheckEnvir`) and `/pkcs11info?withcert=true` (`GetUserCert`): readers,
//! tokens and certificates with HiPKI's field names and value formats.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::codes;
use crate::certificate::CertificateInfo;
use crate::inventory::Snapshot;
use crate::reader::{self, ReaderState};
use crate::token::{TokenCertificate, TokenInfo};

/// The HiPKI version card-agent answers as: in `GET /` (`version:([\d.]+)`) and in
/// `serverVersion`. Administrators' scripts compare it numerically with `1.3.4.103349` (the
/// release current in 2025–26); published pages compare `serverVersion` *as a string* with
/// their minimum (`"1.3.4.103328"` on Windows, `"1.3.4.13"` on macOS, `"1.3.4.3"` on Linux).
/// A last part that starts with 9 and has six digits passes both kinds of comparison against
/// every one of those. card-agent's own version is given beside it, never in its place.
pub const COMPAT_VERSION: &str = "1.3.4.910000";

/// The response `func` of `/pkcs11info` (both `GetUserCert` and `CheckEnvir`) and of the
/// image: pages dispatch on it.
pub const FUNC: &str = "pkcs11info";

/// The most text `/p11Image.bmp` carries: one probe reads only the first 300 pixels of row 0
/// (a default-size canvas), three characters each.
pub const MAX_IMAGE_TEXT: usize = 900;

/// The service's inventory in HiPKI's shape. `with_certs` adds `certs[]` to each token.
pub fn build(snapshot: &Snapshot, with_certs: bool) -> Value {
    let mut slots = Vec::new();
    for (token, certs) in &snapshot.tokens {
        slots.push(slot(token, with_certs.then_some(certs.as_slice())));
    }
    // Readers that hold no token: an unreadable card shows as "unknown token", which pages test
    // for; an empty reader has no token at all.
    for r in snapshot.readers.iter().filter(|r| {
        !snapshot.tokens.iter().any(|(t, _)| {
            reader::reader_for_slot(&t.slot_description, std::slice::from_ref(*r)).is_some()
        })
    }) {
        slots.push(empty_reader(r));
    }
    let module = snapshot.modules.iter().find(|m| m.loaded);
    json!({
        "func": FUNC,
        "ret_code": codes::OK,
        "last_error": 0,
        "version": COMPAT_VERSION,
        "serverVersion": COMPAT_VERSION,
        "cardAgentVersion": env!("CARGO_PKG_VERSION"),
        "cryptokiVersion": "2.40",
        "flags": 0,
        "libraryDescription": module.and_then(|m| m.description.clone()).unwrap_or_default(),
        "libraryVersion": "",
        "manufacturerID": if snapshot.demo { "card-agent (DEMO)" } else { "" },
        "installedModule": snapshot.modules.iter().filter(|m| m.loaded).map(|m| m.path.clone()).collect::<Vec<_>>(),
        "slots": slots,
    })
}

/// The text `/p11Image.bmp` carries for an answer `value` (a [`build`] result or a failure):
/// `func`, `ret_code`, `last_error`, the versions, and each slot's description and token
/// serial, as ASCII JSON (pages read the pixels with `String.fromCharCode` byte by byte, so a
/// UTF-8 sequence would arrive as mojibake; `\uXXXX` escapes parse back to the text). Slots
/// that do not fit in [`MAX_IMAGE_TEXT`] characters are left out, last first.
pub fn compact(value: &Value) -> Vec<u8> {
    let mut slots: Vec<Value> = value["slots"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|s| {
                    let token = match &s["token"] {
                        Value::Object(t) => json!({ "serialNumber": t.get("serialNumber") }),
                        other => other.clone(),
                    };
                    let mut slot = json!({ "slotDescription": s["slotDescription"] });
                    if !token.is_null() {
                        slot["token"] = token;
                    }
                    slot
                })
                .collect()
        })
        .unwrap_or_default();
    loop {
        let mut v = json!({
            "func": FUNC,
            "ret_code": value["ret_code"],
            "last_error": value["last_error"],
            "serverVersion": COMPAT_VERSION,
            "cardAgentVersion": env!("CARGO_PKG_VERSION"),
        });
        if value.get("slots").is_some() {
            v["slots"] = slots.clone().into();
        }
        let text = ascii_json(&v);
        if text.len() <= MAX_IMAGE_TEXT || slots.pop().is_none() {
            return text.into_bytes();
        }
    }
}

/// JSON text with every non-ASCII character as `\uXXXX` (UTF-16 units).
fn ascii_json(v: &Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn slot(token: &TokenInfo, certs: Option<&[TokenCertificate]>) -> Value {
    let mut t = Map::new();
    t.insert("label".into(), token.label.clone().into());
    t.insert("manufacturerID".into(), token.manufacturer.clone().into());
    t.insert("model".into(), token.model.clone().into());
    t.insert("serialNumber".into(), token.serial.clone().into());
    t.insert("flags".into(), token_flags(token).into());
    t.insert("ulMinPinLen".into(), token.pin_limits.min.into());
    t.insert("ulMaxPinLen".into(), token.pin_limits.max.into());
    t.insert("utcTime".into(), "".into());
    if let Some(certs) = certs {
        t.insert(
            "certs".into(),
            certs.iter().map(certificate).collect::<Vec<_>>().into(),
        );
    }
    json!({
        "slotDescription": token.slot_description,
        "slotID": token.token_ref.slot_id,
        // CKF_TOKEN_PRESENT | CKF_REMOVABLE_DEVICE | CKF_HW_SLOT, as a card reader reports.
        "flags": 7,
        "manufacturerID": "",
        "firmwareVersion": "",
        "hardwareVersion": "",
        "token": Value::Object(t),
    })
}

fn empty_reader(r: &ReaderState) -> Value {
    let mut slot = json!({
        "slotDescription": r.name,
        "slotID": Value::Null,
        "flags": if r.card_present { 7 } else { 6 },
        "manufacturerID": "",
        "firmwareVersion": "",
        "hardwareVersion": "",
    });
    if r.card_present {
        slot["token"] = "unknown token".into();
    }
    slot
}

/// CK_TOKEN_INFO flags as HiPKI reports them: the PIN state bits pages read for tries left.
fn token_flags(token: &TokenInfo) -> u64 {
    const RNG: u64 = 0x1;
    const LOGIN_REQUIRED: u64 = 0x4;
    const USER_PIN_INITIALIZED: u64 = 0x8;
    const TOKEN_INITIALIZED: u64 = 0x400;
    const COUNT_LOW: u64 = 0x10000;
    const FINAL_TRY: u64 = 0x20000;
    const LOCKED: u64 = 0x40000;
    let pin = match token.pin_state {
        crate::pin::PinState::Ok => 0,
        crate::pin::PinState::CountLow => COUNT_LOW,
        crate::pin::PinState::FinalTry => COUNT_LOW | FINAL_TRY,
        crate::pin::PinState::Locked => LOCKED,
    };
    RNG | LOGIN_REQUIRED | USER_PIN_INITIALIZED | TOKEN_INITIALIZED | pin
}

/// One certificate in HiPKI's shape.
pub fn certificate(c: &TokenCertificate) -> Value {
    let i = &c.info;
    json!({
        "certb64": base64::engine::general_purpose::STANDARD.encode(&i.der),
        "subjectDN": compact_dn(&i.subject),
        "issuerDN": compact_dn(&i.issuer),
        "sn": i.serial_hex,
        "notBefore": utc_time(i.not_before),
        "notAfter": utc_time(i.not_after),
        "notBeforeT": i.not_before,
        "notAfterT": i.not_after,
        "signatureAlgorithm": i.signature_algorithm,
        "thumbprint": i.sha1.to_ascii_uppercase(),
        "usage": usage(i),
        "label": c.label,
        "id": hex::encode(&c.id),
        "subjectID": i.id_last4.clone().unwrap_or_default(),
        "subjectCN": i.subject_cn.clone().or_else(|| i.subject_o.clone()).unwrap_or_default(),
        "email": i.email.clone().unwrap_or_default(),
    })
}

/// `C=TW, O=行政院` → `C=TW,O=行政院`, as HiPKI prints DNs.
fn compact_dn(dn: &str) -> String {
    dn.split(", ").collect::<Vec<_>>().join(",")
}

/// `YYMMDDhhmmssZ` in UTC.
fn utc_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year repr:last_two][month][day][hour][minute][second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// HiPKI's usage strings: `digitalSignature` for signing certificates (pages compare with it),
/// `keyEncipherment|dataEncipherment` for encryption, `keyCertSign|cRLSign` for CAs.
fn usage(i: &CertificateInfo) -> String {
    if i.key_usage.contains(&"digitalSignature") {
        return "digitalSignature".to_owned();
    }
    i.key_usage.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            compact_dn("C=TW, O=行政院, OU=內政部憑證管理中心"),
            "C=TW,O=行政院,OU=內政部憑證管理中心"
        );
        assert_eq!(utc_time(1_767_225_600), "260101000000Z");
    }

    #[test]
    fn the_image_text_is_ascii_and_bounded() {
        let many: Vec<Value> = (0..40)
            .map(|i| json!({"slotDescription": format!("讀卡機 CASTLES EZ100PU {i:02}"), "token": {"serialNumber": "TP03123456789012", "label": "x"}}))
            .collect();
        let text = compact(&json!({"ret_code": 0, "last_error": 0, "slots": many}));
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.is_ascii() && text.len() <= MAX_IMAGE_TEXT,
            "{}",
            text.len()
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert!(back["slots"][0]["slotDescription"]
            .as_str()
            .unwrap()
            .starts_with("讀卡機"));
        assert!(back["slots"].as_array().unwrap().len() < 40);
        // A failure carries no slots at all.
        let text = compact(&json!({"ret_code": 0x7600_0031u32, "last_error": 0, "message": "x"}));
        let back: Value = serde_json::from_slice(&text).unwrap();
        assert!(back.get("slots").is_none() && back.get("message").is_none());
    }

    #[test]
    fn the_version_passes_every_published_comparison() {
        for minimum in [
            "1.3.4.103349",
            "1.3.4.103328",
            "1.3.4.13",
            "1.3.4.3",
            "1.3.4.103327",
        ] {
            assert!(COMPAT_VERSION > minimum, "as strings: {minimum}");
            let parts = |v: &str| {
                v.split('.')
                    .map(|p| p.parse::<u64>().unwrap())
                    .collect::<Vec<_>>()
            };
            assert!(
                parts(COMPAT_VERSION) >= parts(minimum),
                "as numbers: {minimum}"
            );
        }
    }

    #[test]
    fn demo_token_reads_like_a_hicos_card() {
        let core = crate::card_core::CardCore::open(&crate::card_core::CoreOptions {
            demo: true,
            ..Default::default()
        })
        .unwrap();
        let snapshot = crate::inventory::gather(&core).unwrap();
        let v = build(&snapshot, true);
        assert_eq!(v["func"], "pkcs11info");
        assert_eq!(v["serverVersion"], COMPAT_VERSION);
        assert_eq!(v["ret_code"], 0);
        let token = &v["slots"][0]["token"];
        assert_eq!(token["serialNumber"], "DEMO000000000001");
        assert_eq!(token["ulMinPinLen"], 6);
        let sign = token["certs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "5349474e")
            .unwrap();
        assert_eq!(sign["usage"], "digitalSignature");
        assert_eq!(sign["subjectID"], "0000");
        assert!(sign["issuerDN"]
            .as_str()
            .unwrap()
            .starts_with("C=TW,O=行政院,OU=內政部憑證管理中心"));
        assert_eq!(sign["notBefore"].as_str().unwrap().len(), 13);
        assert_eq!(sign["thumbprint"].as_str().unwrap().len(), 40);
        let keyx = token["certs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "4b455958")
            .unwrap();
        assert_eq!(keyx["usage"], "keyEncipherment|dataEncipherment");
        let plain = build(&snapshot, false);
        assert_eq!(plain["func"], "pkcs11info");
        let image = String::from_utf8(compact(&plain)).unwrap();
        assert!(image.is_ascii() && image.len() <= MAX_IMAGE_TEXT, "{image}");
        let back: Value = serde_json::from_str(&image).unwrap();
        assert_eq!(
            back["slots"][0]["token"]["serialNumber"],
            "DEMO000000000001"
        );
        assert!(plain["slots"][0]["token"].get("certs").is_none());
    }
}
