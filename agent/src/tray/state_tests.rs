//! The tray's state model, case by case: each icon, the 30-day boundary to the second,
//! expired certificates, the demo token, several cards, both languages.

// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#![allow(clippy::unwrap_used)]

use card_agent_protocol::types::{Certificate, Inventory, PinStatus, Reader, Token};
use card_agent_protocol::Language::{En, ZhTw};

use super::*;

/// 2029-01-01T00:00:00Z.
const JAN_2029: i64 = 1_861_920_000;
const DAY: i64 = 86_400;

fn cert(cn: &str, family: &str, not_after: &str, with_key: bool) -> Certificate {
    Certificate {
        subject: format!("C=TW, CN={cn}"),
        subject_cn: Some(cn.to_owned()),
        issuer: "C=TW, O=行政院, OU=內政部憑證管理中心".into(),
        serial: "01".into(),
        not_before: "2019-01-01T00:00:00Z".into(),
        not_after: not_after.into(),
        // Deliberately stale: the model computes from `notAfter` and the time it is given.
        days_to_expiry: 9999,
        key_usage: if with_key {
            vec!["digitalSignature".into()]
        } else {
            vec!["keyCertSign".into(), "cRLSign".into()]
        },
        key_algorithm: "RSA-2048".into(),
        sha1: String::new(),
        sha256: String::new(),
        pkcs11_id: "01".into(),
        pkcs11_label: String::new(),
        card_family: family.into(),
        id_last4: None,
        business_number: None,
        organisation_code: None,
        has_private_key: with_key,
        der_base64: String::new(),
    }
}

fn token(serial: &str, certificates: Vec<Certificate>) -> Token {
    Token {
        label: format!("HiCOS PKI Smart Card {serial}"),
        manufacturer: "Chunghwa Telecom".into(),
        model: "HiCOS".into(),
        serial: serial.into(),
        slot_description: "Reader 00 00".into(),
        slot_id: 0,
        module: "/usr/lib/libHicos_p11.so".into(),
        min_pin_length: 6,
        max_pin_length: 8,
        pin_status: PinStatus::Ok,
        pin_tries_left: None,
        demo: false,
        pin_pad: false,
        certificates,
    }
}

fn moica(cn: &str, not_after: &str) -> Token {
    token(
        "TP0001",
        vec![
            cert(cn, "MOICA", not_after, true),
            cert(cn, "MOICA", not_after, true),
        ],
    )
}

fn reader(card_present: bool) -> Reader {
    Reader {
        name: "Generic USB Reader 00 00".into(),
        card_present,
        atr: card_present.then(|| "3B".into()),
        card_family: card_present.then(|| "MOICA".into()),
        token_serial: None,
    }
}

fn inventory(readers: Vec<Reader>, tokens: Vec<Token>) -> Inventory {
    Inventory {
        readers,
        tokens,
        ..Inventory::default()
    }
}

fn state(inv: &Inventory, now: i64) -> TrayState {
    tray_state(Ok(inv), now, En)
}

#[test]
fn an_unreachable_daemon_is_an_agent_error() {
    let s = tray_state(Err("connection refused"), JAN_2029, En);
    assert_eq!(s.icon, TrayIcon::AgentError);
    assert_eq!(s.headline, "The card-agent service is not available");
    assert!(
        s.tooltip.starts_with("connection refused\n"),
        "{}",
        s.tooltip
    );
    assert!(s.tooltip.contains("Retrying"));
    assert!(s.cards.is_empty());
    assert!(s.icon.needs_attention());
    let zh = tray_state(Err("connection refused"), JAN_2029, ZhTw);
    assert_eq!(zh.headline, "card-agent 服務無法使用");
    // Before the first answer there is no reason yet: only the hint.
    assert_eq!(tray_state(Err(""), JAN_2029, En).tooltip, s.hint.unwrap());
}

#[test]
fn nothing_connected_is_no_reader() {
    let s = state(&Inventory::default(), JAN_2029);
    assert_eq!(s.icon, TrayIcon::NoReader);
    assert_eq!(s.headline, "No card reader");
    assert_eq!(s.hint.as_deref(), Some("Plug in your card reader."));
    assert!(!s.icon.needs_attention());
    let zh = tray_state(Ok(&Inventory::default()), JAN_2029, ZhTw);
    assert_eq!(zh.headline, "未偵測到讀卡機");
}

#[test]
fn a_stopped_smart_card_service_is_no_reader_with_its_own_words() {
    let inv = Inventory {
        pcsc_error: Some("SCardEstablishContext: service not available".into()),
        ..Inventory::default()
    };
    let s = state(&inv, JAN_2029);
    assert_eq!(s.icon, TrayIcon::NoReader);
    assert_eq!(s.headline, "The smart card service is not running");
    assert!(s.tooltip.contains("environment check"));
}

#[test]
fn an_empty_reader_is_no_card() {
    let s = state(&inventory(vec![reader(false)], vec![]), JAN_2029);
    assert_eq!(s.icon, TrayIcon::NoCard);
    assert_eq!(s.headline, "No card in the reader");
    assert_eq!(s.tooltip, "Insert your card.");
    let zh = tray_state(Ok(&inventory(vec![reader(false)], vec![])), JAN_2029, ZhTw);
    assert_eq!(zh.tooltip, "請插入憑證卡。");
}

#[test]
fn a_card_no_driver_presents_is_no_card_saying_it_cannot_be_read() {
    let s = state(
        &inventory(vec![reader(false), reader(true)], vec![]),
        JAN_2029,
    );
    assert_eq!(s.icon, TrayIcon::NoCard);
    assert_eq!(s.headline, "The card in the reader cannot be read");
    assert!(s.tooltip.contains("driver"));
}

#[test]
fn a_valid_card_is_ready_with_holder_family_date_and_days_left() {
    let inv = inventory(
        vec![reader(true)],
        vec![moica("王小明", "2029-01-01T00:00:00Z")],
    );
    let s = state(&inv, JAN_2029 - 1200 * DAY);
    assert_eq!(s.icon, TrayIcon::CardReady);
    assert_eq!(s.headline, "Card ready");
    assert_eq!(s.hint, None);
    let card = &s.cards[0];
    assert_eq!(card.holder, "王小明");
    assert_eq!(card.family, CardFamily::Moica);
    assert_eq!(card.expiry_date.as_deref(), Some("2029-01-01"));
    assert_eq!(card.days_left, Some(1200));
    assert!(!card.demo && !card.pin_locked);
    assert_eq!(card.heading, "王小明 · Citizen certificate (MOICA)");
    assert_eq!(card.detail, "expires 2029-01-01 (1200 days left)");
    assert_eq!(
        s.tooltip,
        "王小明 · Citizen certificate (MOICA): expires 2029-01-01 (1200 days left)"
    );

    let zh = tray_state(Ok(&inv), JAN_2029 - 1200 * DAY, ZhTw);
    assert_eq!(zh.headline, "憑證卡可以使用");
    assert_eq!(zh.cards[0].heading, "王小明 · 自然人憑證");
    assert_eq!(zh.cards[0].detail, "到期日 2029-01-01（剩 1200 天）");
}

#[test]
fn expiring_starts_thirty_days_before_expiry_to_the_second() {
    let inv = inventory(vec![], vec![moica("王小明", "2029-01-01T00:00:00Z")]);
    let at = |now| state(&inv, now);

    let s = at(JAN_2029 - 31 * DAY);
    assert_eq!(
        (s.icon, s.cards[0].days_left),
        (TrayIcon::CardReady, Some(31))
    );
    // One second into the last 31st day is still 30 whole days left: expiring.
    let s = at(JAN_2029 - 30 * DAY - DAY + 1);
    assert_eq!(s.cards[0].days_left, Some(30));
    assert_eq!(s.icon, TrayIcon::CertificateExpiring { expired: false });
    let s = at(JAN_2029 - 30 * DAY);
    assert_eq!(s.icon, TrayIcon::CertificateExpiring { expired: false });
    assert_eq!(s.headline, "Certificate expiring soon");
    assert_eq!(
        s.hint.as_deref(),
        Some("Renew it now: renewal opens a month before expiry.")
    );
    assert!(s.tooltip.ends_with("renewal opens a month before expiry."));
    assert!(s.icon.needs_attention());

    let s = at(JAN_2029 - 1);
    assert_eq!(s.cards[0].days_left, Some(0));
    assert_eq!(s.cards[0].detail, "expires 2029-01-01 (today)");
    assert_eq!(s.icon, TrayIcon::CertificateExpiring { expired: false });
    let s = at(JAN_2029);
    assert_eq!(s.cards[0].days_left, Some(0));
    assert!(!s.cards[0].is_expired());
}

#[test]
fn an_expired_certificate_is_expiring_drawn_red() {
    let inv = inventory(vec![], vec![moica("王小明", "2029-01-01T00:00:00Z")]);
    let s = state(&inv, JAN_2029 + 1);
    assert_eq!(s.icon, TrayIcon::CertificateExpiring { expired: true });
    assert_eq!(s.cards[0].days_left, Some(-1));
    assert_eq!(s.cards[0].detail, "expired 2029-01-01 (1 day ago)");
    assert_eq!(s.headline, "Certificate expired");
    assert!(s
        .hint
        .as_deref()
        .unwrap()
        .contains("apply for a new certificate"));
    let zh = tray_state(Ok(&inv), JAN_2029 + 40 * DAY, ZhTw);
    assert_eq!(zh.headline, "憑證已過期");
    assert_eq!(zh.cards[0].detail, "已於 2029-01-01 到期（40 天前）");
}

#[test]
fn the_countdown_comes_from_not_after_and_now_not_the_stale_days_to_expiry() {
    // `cert` sets daysToExpiry to 9999; ten days before notAfter the card is expiring.
    let inv = inventory(vec![], vec![moica("王小明", "2029-01-01T00:00:00Z")]);
    assert_eq!(
        state(&inv, JAN_2029 - 10 * DAY).cards[0].days_left,
        Some(10)
    );
    // An unreadable notAfter falls back to the daemon's count.
    let mut odd = moica("王小明", "not a date");
    odd.certificates[0].days_to_expiry = 12;
    odd.certificates[1].days_to_expiry = 500;
    let s = state(&inventory(vec![], vec![odd]), JAN_2029);
    assert_eq!(s.cards[0].days_left, Some(12));
    assert_eq!(s.cards[0].expiry_date.as_deref(), Some("not a date"));
}

#[test]
fn dates_are_shown_in_taiwan_time() {
    // 16:30 UTC on 1 January is 00:30 on 2 January in Taipei.
    let inv = inventory(vec![], vec![moica("王小明", "2029-01-01T16:30:00Z")]);
    let s = state(&inv, JAN_2029 - 100 * DAY);
    assert_eq!(s.cards[0].expiry_date.as_deref(), Some("2029-01-02"));
    // MOICA's usual 15:59:59 UTC is 23:59:59 the same day in Taipei.
    let inv = inventory(vec![], vec![moica("王小明", "2029-01-01T15:59:59Z")]);
    let s = state(&inv, JAN_2029 - 100 * DAY);
    assert_eq!(s.cards[0].expiry_date.as_deref(), Some("2029-01-01"));
}

#[test]
fn the_earliest_of_the_holders_certificates_counts_and_ca_certificates_do_not() {
    let card = token(
        "TP0002",
        vec![
            cert("王小明", "MOICA", "2030-06-01T00:00:00Z", true),
            cert("王小明", "MOICA", "2029-01-01T00:00:00Z", true),
            // The CA certificate on the card expires first but says nothing about the holder.
            cert("TEST MOICA", "MOICA", "2028-01-01T00:00:00Z", false),
        ],
    );
    let s = state(&inventory(vec![], vec![card]), JAN_2029 - 100 * DAY);
    assert_eq!(s.cards[0].expiry_date.as_deref(), Some("2029-01-01"));
    assert_eq!(s.cards[0].days_left, Some(100));
    assert_eq!(s.cards[0].holder, "王小明");

    // A module that hides private keys: the CA certificate is still skipped.
    let mut hidden = token(
        "TP0003",
        vec![
            cert("TEST MOICA", "MOICA", "2028-01-01T00:00:00Z", false),
            cert("李小華", "MOEACA", "2029-01-01T00:00:00Z", true),
        ],
    );
    hidden.certificates[1].has_private_key = false;
    let s = state(&inventory(vec![], vec![hidden]), JAN_2029 - 100 * DAY);
    assert_eq!(s.cards[0].holder, "李小華");
    assert_eq!(s.cards[0].family, CardFamily::Moeaca);
    assert_eq!(s.cards[0].days_left, Some(100));
}

#[test]
fn the_demo_token_is_labelled_demo_everywhere() {
    let mut demo = moica("DEMO 示範用戶", "2035-12-30T00:00:00Z");
    demo.demo = true;
    let inv = inventory(vec![], vec![demo]);
    let s = state(&inv, JAN_2029);
    assert_eq!(s.icon, TrayIcon::CardReady);
    assert!(s.cards[0].demo);
    assert_eq!(
        s.cards[0].heading,
        "DEMO 示範用戶 · Citizen certificate (MOICA) [DEMO, not a real card]"
    );
    assert!(s.tooltip.contains("[DEMO, not a real card]"));
    let zh = tray_state(Ok(&inv), JAN_2029, ZhTw);
    assert!(zh.cards[0].heading.ends_with("[示範卡，不是真的憑證]"));
    assert!(zh.tooltip.contains("示範卡"));
}

#[test]
fn several_cards_are_each_listed_and_the_worst_decides_the_icon() {
    let ready = moica("王小明", "2032-01-01T00:00:00Z");
    let mut expiring = token(
        "TP0009",
        vec![cert("李小華", "MOEACA", "2029-01-21T00:00:00Z", true)],
    );
    expiring.slot_description = "Other Reader 01 00".into();
    let now = JAN_2029;
    let s = state(
        &inventory(vec![reader(true)], vec![ready.clone(), expiring.clone()]),
        now,
    );
    assert_eq!(s.icon, TrayIcon::CertificateExpiring { expired: false });
    let holders: Vec<&str> = s.cards.iter().map(|c| c.holder.as_str()).collect();
    assert_eq!(holders, ["王小明", "李小華"]);
    assert_eq!(s.cards[1].days_left, Some(20));
    let lines: Vec<&str> = s.tooltip.lines().collect();
    assert_eq!(lines.len(), 3, "{}", s.tooltip);
    assert!(lines[0].starts_with("王小明 · Citizen certificate (MOICA): expires 2032-01-01"));
    assert!(lines[1].starts_with("李小華 · Business certificate (MOEACA): expires 2029-01-21"));
    assert!(lines[2].starts_with("Renew it now"));

    let expired = moica("陳大文", "2028-12-01T00:00:00Z");
    let s = state(&inventory(vec![], vec![ready, expiring, expired]), now);
    assert_eq!(s.icon, TrayIcon::CertificateExpiring { expired: true });
    assert_eq!(s.headline, "Certificate expired");
    assert_eq!(s.cards.len(), 3);
}

#[test]
fn a_card_without_certificates_shows_its_label_and_a_locked_pin_is_said() {
    let mut bare = token("TP0004", vec![]);
    bare.pin_status = PinStatus::Locked;
    let s = state(&inventory(vec![reader(true)], vec![bare]), JAN_2029);
    assert_eq!(s.icon, TrayIcon::CardReady);
    let card = &s.cards[0];
    assert_eq!(card.holder, "HiCOS PKI Smart Card TP0004");
    assert_eq!(card.family, CardFamily::Unknown);
    assert_eq!((card.expiry_date.as_deref(), card.days_left), (None, None));
    assert_eq!(card.detail, "PIN locked");

    let mut locked = moica("王小明", "2029-01-01T00:00:00Z");
    locked.pin_status = PinStatus::Locked;
    let s = tray_state(
        Ok(&inventory(vec![], vec![locked])),
        JAN_2029 - 100 * DAY,
        ZhTw,
    );
    assert_eq!(
        s.cards[0].detail,
        "到期日 2029-01-01（剩 100 天）；PIN 碼已鎖住"
    );
}

#[test]
fn every_icon_is_listed_once() {
    let mut seen = std::collections::HashSet::new();
    for icon in TrayIcon::ALL {
        assert!(seen.insert(icon));
    }
    assert_eq!(seen.len(), 6);
}
