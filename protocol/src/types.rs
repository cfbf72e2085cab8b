//! JSON shapes of what the agent reports about readers, tokens and certificates.
//! Field names are camelCase on the wire; optional fields are omitted when unknown.

use serde::{Deserialize, Serialize};

/// Everything the agent can see: readers (PC/SC) and tokens (PKCS#11 or the demo token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// Smart-card readers known to PC/SC.
    pub readers: Vec<Reader>,
    /// Tokens with their certificates.
    pub tokens: Vec<Token>,
    /// PKCS#11 modules tried, loaded or not.
    pub modules: Vec<Module>,
    /// Why PC/SC could not be asked, when it could not (e.g. the service is not running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcsc_error: Option<String>,
}

/// A PKCS#11 module the agent tried to load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Module {
    /// Path of the shared library (or `demo` for the built-in demo token).
    pub path: String,
    /// Whether it loaded.
    pub loaded: bool,
    /// Where the path came from: `command-line`, `environment`, `config`, `well-known`, `demo`.
    pub source: String,
    /// Why it did not load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The module's own description (CK_INFO libraryDescription).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The module's version (CK_INFO libraryVersion, `major.minor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A smart-card reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reader {
    /// Reader name as PC/SC reports it.
    pub name: String,
    /// Whether a card is present.
    pub card_present: bool,
    /// ATR of the present card, upper-case hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub atr: Option<String>,
    /// Card family recognised from the ATR (`MOICA`, ... or `unknown`), when a card is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_family: Option<String>,
    /// The PKCS#11 token serial in this reader, when one matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_serial: Option<String>,
}

/// PIN state read from the token flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PinStatus {
    /// No wrong tries recorded.
    Ok,
    /// At least one wrong try (CKF_USER_PIN_COUNT_LOW).
    CountLow,
    /// One try left (CKF_USER_PIN_FINAL_TRY).
    FinalTry,
    /// Locked (CKF_USER_PIN_LOCKED).
    Locked,
}

/// A token (a card in a reader, a SoftHSM token, or the demo token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// Token label.
    pub label: String,
    /// Manufacturer ID.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Serial number (16 characters on HiCOS cards).
    pub serial: String,
    /// Slot description; on card readers this is the reader name.
    pub slot_description: String,
    /// PKCS#11 slot ID.
    pub slot_id: u64,
    /// PKCS#11 module path, or `demo`.
    pub module: String,
    /// Shortest PIN the token accepts.
    pub min_pin_length: u64,
    /// Longest PIN the token accepts.
    pub max_pin_length: u64,
    /// PIN state.
    pub pin_status: PinStatus,
    /// Tries left, when the token says (the demo token always does; PKCS#11 only at the final try).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_tries_left: Option<u8>,
    /// True for the built-in demo token. It is never a real card.
    pub demo: bool,
    /// The reader has its own PIN pad: the PIN is typed there, so a page asks for none (the
    /// agent ignores a PIN sent for this card). Omitted when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pin_pad: bool,
    /// Certificates on the token.
    pub certificates: Vec<Certificate>,
}

/// A certificate found on a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// Subject DN, RFC 4514 order reversed for reading (`C=TW, CN=...`).
    pub subject: String,
    /// Subject common name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_cn: Option<String>,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, upper-case hex.
    pub serial: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days until `not_after` (negative once expired).
    pub days_to_expiry: i64,
    /// Key usage names, e.g. `digitalSignature`, `nonRepudiation`.
    pub key_usage: Vec<String>,
    /// Key algorithm, e.g. `RSA-2048` or `EC-P256`.
    pub key_algorithm: String,
    /// SHA-1 of the DER, lower-case hex.
    pub sha1: String,
    /// SHA-256 of the DER, lower-case hex; the identifier callers use to choose a certificate.
    pub sha256: String,
    /// PKCS#11 CKA_ID, lower-case hex.
    pub pkcs11_id: String,
    /// PKCS#11 CKA_LABEL.
    pub pkcs11_label: String,
    /// Card family from the issuer: `MOICA`, `MOEACA`, `GCA`, `XCA`, `HCA` or `unknown`.
    pub card_family: String,
    /// Last four digits of the holder's national ID (MOICA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_last4: Option<String>,
    /// Business number 統一編號 (MOEACA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_number: Option<String>,
    /// Organisation code (GCA, XCA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation_code: Option<String>,
    /// Whether the token holds the matching private key.
    pub has_private_key: bool,
    /// DER, base64 (standard alphabet, padded).
    pub der_base64: String,
}

/// The government CA family that issued a certificate, as far as its issuer name tells.
/// Informational: trust comes from the chain, never from this name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CardFamily {
    /// 自然人憑證, issued by 內政部憑證管理中心.
    #[serde(rename = "MOICA")]
    Moica,
    /// 工商憑證, issued by 工商憑證管理中心.
    #[serde(rename = "MOEACA")]
    Moeaca,
    /// 政府機關憑證, issued by 政府憑證管理中心.
    #[serde(rename = "GCA")]
    Gca,
    /// 組織及團體憑證, issued by 組織及團體憑證管理中心.
    #[serde(rename = "XCA")]
    Xca,
    /// 醫事憑證, issued by 衛生福利部醫事憑證管理中心.
    #[serde(rename = "HCA")]
    Hca,
    /// Anything else.
    #[serde(rename = "unknown")]
    Unknown,
}

impl CardFamily {
    /// Recognises the family from issuer text (a whole DN or one OU value). Longer names are
    /// tried first because some CA names contain shorter ones.
    pub fn from_issuer(issuer: &str) -> Self {
        const TABLE: &[(&str, CardFamily)] = &[
            ("醫事憑證管理中心", CardFamily::Hca),
            ("組織及團體憑證管理中心", CardFamily::Xca),
            ("工商憑證管理中心", CardFamily::Moeaca),
            ("內政部憑證管理中心", CardFamily::Moica),
            ("政府憑證管理中心", CardFamily::Gca),
        ];
        TABLE
            .iter()
            .find(|(needle, _)| issuer.contains(needle))
            .map_or(CardFamily::Unknown, |(_, family)| *family)
    }

    /// Wire name: `MOICA`, `MOEACA`, `GCA`, `XCA`, `HCA` or `unknown` (the values of
    /// [`Certificate::card_family`]).
    pub fn as_str(self) -> &'static str {
        match self {
            CardFamily::Moica => "MOICA",
            CardFamily::Moeaca => "MOEACA",
            CardFamily::Gca => "GCA",
            CardFamily::Xca => "XCA",
            CardFamily::Hca => "HCA",
            CardFamily::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_family_from_issuer() {
        let f = CardFamily::from_issuer;
        assert_eq!(
            f("C=TW, O=行政院, OU=內政部憑證管理中心"),
            CardFamily::Moica
        );
        assert_eq!(f("C=TW, O=行政院, OU=工商憑證管理中心"), CardFamily::Moeaca);
        assert_eq!(f("C=TW, O=行政院, OU=政府憑證管理中心"), CardFamily::Gca);
        assert_eq!(
            f("C=TW, O=行政院, OU=組織及團體憑證管理中心"),
            CardFamily::Xca
        );
        assert_eq!(
            f("C=TW, O=行政院, OU=衛生福利部醫事憑證管理中心"),
            CardFamily::Hca
        );
        assert_eq!(f("CN=Example CA"), CardFamily::Unknown);
        assert_eq!(
            serde_json::to_string(&CardFamily::Moica).unwrap(),
            "\"MOICA\""
        );
        assert_eq!(CardFamily::Unknown.as_str(), "unknown");
    }
}
