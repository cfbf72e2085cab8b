//! Made-up facts for the check tests: readers, tokens and the demo token's real certificates.

use std::sync::OnceLock;

use card_agent_protocol::types::Module as ModuleReport;

use super::gather::{CardFacts, Platform, TokenFacts};
use crate::certificate::CardFamily;
use crate::demo::DemoToken;
use crate::pin::{PinLimits, PinState};
use crate::reader::{ReaderState, MOICA_GEN1_ATR};
use crate::token::{TokenCertificate, TokenInfo, TokenRef};

/// The demo token's certificates (signing, encryption, issuing CA, root), made once.
pub fn demo_certificates() -> Vec<TokenCertificate> {
    static CERTS: OnceLock<Vec<TokenCertificate>> = OnceLock::new();
    CERTS
        .get_or_init(|| {
            DemoToken::new()
                .and_then(|d| d.certificates())
                .unwrap_or_else(|e| panic!("demo certificates: {e}"))
        })
        .clone()
}

/// The demo signing certificate's validity, Unix seconds.
pub fn demo_validity() -> (i64, i64) {
    let cert = &demo_certificates()[0].info;
    (cert.not_before, cert.not_after)
}

/// A reader, with a card of this ATR when given.
pub fn reader(name: &str, atr: Option<&[u8]>) -> ReaderState {
    ReaderState {
        name: name.to_owned(),
        card_present: atr.is_some(),
        atr: atr.map(<[u8]>::to_vec),
        family: atr.map(crate::reader::family_from_atr),
    }
}

/// A MOICA card in a reader.
pub fn moica_reader(name: &str) -> ReaderState {
    reader(name, Some(&MOICA_GEN1_ATR))
}

/// A token in `slot` with this PIN state and the given certificates.
pub fn token_facts(
    serial: &str,
    slot: &str,
    pin_state: PinState,
    certificates: Vec<TokenCertificate>,
) -> TokenFacts {
    TokenFacts {
        info: TokenInfo {
            token_ref: TokenRef {
                provider: 0,
                slot_id: 0,
            },
            label: "HiCOS PKI Smart Card".to_owned(),
            manufacturer: "Chunghwa TeleCom Co., Ltd.".to_owned(),
            model: "T7S".to_owned(),
            serial: serial.to_owned(),
            slot_description: slot.to_owned(),
            module: "/usr/lib/libHicos_p11.so".to_owned(),
            pin_limits: PinLimits::GOVERNMENT_CARD,
            pin_state,
            tries_left: None,
            demo: false,
            pin_pad: false,
        },
        certificates: Ok(certificates),
    }
}

/// A loaded (or failed) module.
pub fn module_report(path: &str, error: Option<&str>) -> ModuleReport {
    ModuleReport {
        path: path.to_owned(),
        loaded: error.is_none(),
        source: "well-known".to_owned(),
        error: error.map(str::to_owned),
        description: error.is_none().then(|| "a module".to_owned()),
        version: None,
    }
}

/// A healthy machine: pcscd, one reader with a MOICA card, HiCOS, the card's token with the
/// demo certificates.
pub fn healthy() -> CardFacts {
    CardFacts {
        demo: false,
        pcsc: Ok(vec![moica_reader("CASTLES EZ100PU 00 00")]),
        platform: Platform::Apt,
        modules: vec![module_report("/usr/lib/libHicos_p11.so", None)],
        tokens: Ok(vec![token_facts(
            "TP00000000000042",
            "CASTLES EZ100PU 00 00",
            PinState::Ok,
            demo_certificates(),
        )]),
        duplicates: Vec::new(),
        config_file: "/home/u/.config/card-agent/config.toml".to_owned(),
        downloaded_modules: Vec::new(),
    }
}

/// The family the demo certificates claim, for assertions.
pub const DEMO_FAMILY: CardFamily = CardFamily::Moica;
