//! `/pkcs11info` (`CheckEnvir`) and `/pkcs11info?withcert=true` (`GetUserCert`): readers,
//! tokens and certificates with HiPKI's field names and value formats.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::codes;
use crate::certificate::CertificateInfo;
use crate::inventory::Snapshot;
use crate::reader::{self, ReaderState};
use crate::token::{TokenCertificate, TokenInfo};

/// The version pages read with `version:([\d.]+)`. HiPKI's 1.3.4 line is what pages check
/// for; the last part identifies card-agent's build of that interface.
pub const COMPAT_VERSION: &str = "1.3.4.9100";

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
        "func": if with_certs { "GetUserCert" } else { "CheckEnvir" },
        "ret_code": codes::OK,
        "last_error": 0,
        "version": COMPAT_VERSION,
        "serverVersion": format!("card-agent {}", env!("CARGO_PKG_VERSION")),
        "cryptokiVersion": "2.40",
        "flags": 0,
        "libraryDescription": module.and_then(|m| m.description.clone()).unwrap_or_default(),
        "libraryVersion": "",
        "manufacturerID": if snapshot.demo { "card-agent (DEMO)" } else { "" },
        "installedModule": snapshot.modules.iter().filter(|m| m.loaded).map(|m| m.path.clone()).collect::<Vec<_>>(),
        "slots": slots,
    })
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
    fn demo_token_reads_like_a_hicos_card() {
        let core = crate::card_core::CardCore::open(&crate::card_core::CoreOptions {
            demo: true,
            ..Default::default()
        })
        .unwrap();
        let snapshot = crate::inventory::gather(&core).unwrap();
        let v = build(&snapshot, true);
        assert_eq!(v["func"], "GetUserCert");
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
        assert_eq!(plain["func"], "CheckEnvir");
        assert!(plain["slots"][0]["token"].get("certs").is_none());
    }
}
