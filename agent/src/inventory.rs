//! The inventory of cards: one gathering from the card core ([`gather`], what the service's
//! `status` answers), and one conversion to the wire types of `card-agent-protocol`
//! ([`to_wire`]), used by the CLI's `--json` output and by every other channel, so they always
//! agree. The legacy API converts the same [`Snapshot`] to HiPKI's shape.

use base64::Engine as _;
use card_agent_protocol::types::{self, Inventory, PinStatus};

use crate::card_core::CardCore;
use crate::error::{Error, Result};
use crate::pin::PinState;
use crate::reader::{self, ReaderState};
use crate::token::{TokenCertificate, TokenInfo};

/// Readers, tokens and their certificates, and the modules tried, at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// The readers (none for the demo token, which has no reader).
    pub readers: Vec<ReaderState>,
    /// Why the readers could not be listed (the smart-card service is down), if so.
    pub pcsc_error: Option<String>,
    /// Every token present, with its certificates (none when they could not be read).
    pub tokens: Vec<(TokenInfo, Vec<TokenCertificate>)>,
    /// Every module tried, loaded or not.
    pub modules: Vec<types::Module>,
    /// Why no token could be listed at all (no module could be loaded), if so.
    pub no_module: Option<Error>,
    /// Whether the tokens come from the demo token.
    pub demo: bool,
}

/// Gathers readers (unless `core` serves the demo token, which has no reader), tokens and
/// their certificates. A token whose certificates cannot be read is listed without them.
pub fn gather(core: &CardCore) -> Result<Snapshot> {
    let (readers, pcsc_error) = if core.is_demo() {
        (Vec::new(), None)
    } else {
        match reader::list() {
            Ok(r) => (r, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        }
    };
    let (tokens, no_module) = match core.tokens() {
        Ok(tokens) => (tokens, None),
        Err(e @ Error::NoModule { .. }) => (Vec::new(), Some(e)),
        // Only a broken module: the module list says why.
        Err(Error::ModuleNotAnswering { .. } | Error::ModuleGarbage { .. }) => (Vec::new(), None),
        Err(e) => return Err(e),
    };
    let tokens = tokens
        .into_iter()
        .map(|t| {
            let certs = core.certificates(t.token_ref).unwrap_or_else(|e| {
                tracing::warn!(token = %t.serial, error = %e, "cannot read certificates");
                Vec::new()
            });
            (t, certs)
        })
        .collect();
    Ok(Snapshot {
        readers,
        pcsc_error,
        tokens,
        modules: core.modules().to_vec(),
        no_module,
        demo: core.is_demo(),
    })
}

/// Gathers and converts at once (see [`gather`], [`to_wire`]).
pub fn collect(core: &CardCore, now_unix: i64) -> Result<Inventory> {
    Ok(to_wire(&gather(core)?, now_unix))
}

/// The snapshot as the native protocol shows it.
pub fn to_wire(snapshot: &Snapshot, now_unix: i64) -> Inventory {
    let tokens: Vec<types::Token> = snapshot
        .tokens
        .iter()
        .map(|(t, certs)| token(t, certs, now_unix))
        .collect();
    Inventory {
        readers: snapshot
            .readers
            .iter()
            .map(|r| reader_view(r, &tokens))
            .collect(),
        tokens,
        modules: snapshot.modules.clone(),
        pcsc_error: snapshot.pcsc_error.clone(),
    }
}

fn reader_view(r: &ReaderState, tokens: &[types::Token]) -> types::Reader {
    let token_serial = tokens
        .iter()
        .find(|t| reader::reader_for_slot(&t.slot_description, std::slice::from_ref(r)).is_some())
        .map(|t| t.serial.clone());
    types::Reader {
        name: r.name.clone(),
        card_present: r.card_present,
        atr: r.atr.as_deref().map(reader::atr_hex),
        card_family: r.family.map(|f| f.as_str().to_owned()),
        token_serial,
    }
}

/// A token and its certificates as the wire shows them.
pub fn token(t: &TokenInfo, certs: &[TokenCertificate], now_unix: i64) -> types::Token {
    types::Token {
        label: t.label.clone(),
        manufacturer: t.manufacturer.clone(),
        model: t.model.clone(),
        serial: t.serial.clone(),
        slot_description: t.slot_description.clone(),
        slot_id: t.token_ref.slot_id,
        module: t.module.clone(),
        min_pin_length: t.pin_limits.min as u64,
        max_pin_length: t.pin_limits.max as u64,
        pin_status: match t.pin_state {
            PinState::Ok => PinStatus::Ok,
            PinState::CountLow => PinStatus::CountLow,
            PinState::FinalTry => PinStatus::FinalTry,
            PinState::Locked => PinStatus::Locked,
        },
        pin_tries_left: t.known_tries_left(),
        demo: t.demo,
        pin_pad: t.pin_pad,
        certificates: certs.iter().map(|c| certificate(c, now_unix)).collect(),
    }
}

/// A certificate as the wire shows it.
pub fn certificate(c: &TokenCertificate, now_unix: i64) -> types::Certificate {
    let i = &c.info;
    types::Certificate {
        subject: i.subject.clone(),
        subject_cn: i.subject_cn.clone(),
        issuer: i.issuer.clone(),
        serial: i.serial_hex.clone(),
        not_before: rfc3339(i.not_before),
        not_after: rfc3339(i.not_after),
        days_to_expiry: i.days_to_expiry(now_unix),
        key_usage: i.key_usage.iter().map(|u| (*u).to_owned()).collect(),
        key_algorithm: i.key_algorithm.name(),
        sha1: i.sha1.clone(),
        sha256: i.sha256.clone(),
        pkcs11_id: hex::encode(&c.id),
        pkcs11_label: c.label.clone(),
        card_family: i.family.as_str().to_owned(),
        id_last4: i.id_last4.clone(),
        business_number: i.business_number.clone(),
        organisation_code: i.organisation_code.clone(),
        has_private_key: c.has_private_key,
        der_base64: base64::engine::general_purpose::STANDARD.encode(&i.der),
    }
}

/// Unix seconds as RFC 3339 in UTC.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Now, as Unix seconds.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
