//! Reading X.509 certificates found on cards, including the Taiwan government fields.
//!
//! Parsing is done by `x509-parser`; the Subject Directory Attributes extension (2.5.29.9),
//! which that crate leaves raw, is decoded with `der`/`x509-cert`.

use der::{asn1::SetOfVec, Any, Decode, Tag, Tagged};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::attr::AttributeTypeAndValue;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::error::{Error, Result};

/// The arc 2.16.886.1.100.2 under which Taiwan's government PKI names subject attributes.
pub mod oid {
    use const_oid::ObjectIdentifier;
    /// Subject type (natural person, agency, company, ...).
    pub const SUBJECT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.886.1.100.2.1");
    /// Main or additional (attached) card: `primary` / `secondary` (MOEACA company cards).
    pub const CARD_KIND: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.886.1.100.2.2");
    /// Last four digits of the national ID (MOICA).
    pub const ID_LAST4: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.886.1.100.2.51");
    /// Business number 統一編號 (MOEACA).
    pub const BUSINESS_NUMBER: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.886.1.100.2.101");
    /// Organisation code (GCA, XCA).
    pub const ORGANISATION_CODE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.886.1.100.2.102");
    /// Card serial number.
    pub const CARD_SERIAL: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.886.1.100.2.204");
    /// Subject Directory Attributes extension.
    pub const SUBJECT_DIRECTORY_ATTRIBUTES: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.5.29.9");
}

/// Which government CA family issued a certificate: one table, in the protocol crate, shared
/// with the relying-party verifier so the two can never disagree.
pub use card_agent_protocol::types::CardFamily;

/// The public key's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA with this modulus size.
    Rsa {
        /// Modulus bits.
        bits: usize,
    },
    /// Elliptic curve with this field size.
    Ec {
        /// Curve bits (256 for P-256).
        bits: usize,
    },
    /// Something else.
    Other,
}

impl KeyAlgorithm {
    /// e.g. `RSA-2048`, `EC-256`.
    pub fn name(self) -> String {
        match self {
            KeyAlgorithm::Rsa { bits } => format!("RSA-{bits}"),
            KeyAlgorithm::Ec { bits } => format!("EC-{bits}"),
            KeyAlgorithm::Other => "other".to_owned(),
        }
    }
}

/// A parsed certificate: what people and pages need to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateInfo {
    /// DER encoding.
    pub der: Vec<u8>,
    /// Subject DN, `C=TW, CN=...` in certificate order.
    pub subject: String,
    /// Subject common name.
    pub subject_cn: Option<String>,
    /// Subject organisation (MOEACA companies appear here).
    pub subject_o: Option<String>,
    /// Subject serialNumber attribute (MOICA's 16 digits; sometimes a business number).
    pub subject_serial_number: Option<String>,
    /// Subject e-mail, when present.
    pub email: Option<String>,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, upper-case hex without leading zero bytes.
    pub serial_hex: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Key usage names in X.509 order.
    pub key_usage: Vec<&'static str>,
    /// Public key algorithm.
    pub key_algorithm: KeyAlgorithm,
    /// Signature algorithm OID, dotted.
    pub signature_algorithm: String,
    /// SHA-1 of the DER, lower-case hex.
    pub sha1: String,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// Family from the issuer.
    pub family: CardFamily,
    /// Last four national-ID digits (MOICA).
    pub id_last4: Option<String>,
    /// Business number (MOEACA): the directory attribute, else a subject serialNumber of 8 digits.
    pub business_number: Option<String>,
    /// Organisation code (GCA/XCA).
    pub organisation_code: Option<String>,
    /// Card serial number from the directory attributes.
    pub card_serial: Option<String>,
    /// Subject type OID from the directory attributes.
    pub subject_type: Option<String>,
    /// Main or additional card, from the directory attributes (`primary` / `secondary`).
    pub card_kind: Option<String>,
    /// Whether it is a CA certificate (basicConstraints cA).
    pub is_ca: bool,
}

impl CertificateInfo {
    /// Parses a DER certificate.
    pub fn parse(der: &[u8]) -> Result<Self> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| Error::Certificate(format!("not an X.509 certificate: {e}")))?;
        let subject = cert.subject();
        let subject_serial_number =
            first_text(subject.iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER));
        let directory = subject_directory_attributes(&cert);
        let lookup = |wanted| {
            directory
                .iter()
                .find(|(oid, _)| *oid == wanted)
                .map(|(_, v)| v.clone())
        };
        let issuer = cert.issuer().to_string();
        let business_number = lookup(oid::BUSINESS_NUMBER).or_else(|| {
            subject_serial_number
                .clone()
                .filter(|s| s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()))
        });
        Ok(CertificateInfo {
            der: der.to_vec(),
            subject: subject.to_string(),
            subject_cn: first_text(subject.iter_common_name()),
            subject_o: first_text(subject.iter_organization()),
            email: first_text(subject.iter_email()),
            subject_serial_number,
            // A CA certificate belongs to the family it issues for (its own name says which);
            // a holder certificate to the family of its issuer.
            family: CardFamily::from_issuer(&if cert.is_ca() {
                subject.to_string()
            } else {
                issuer.clone()
            }),
            issuer,
            serial_hex: hex::encode_upper(trim_leading_zeros(cert.raw_serial())),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            key_usage: key_usage(&cert),
            key_algorithm: key_algorithm(&cert),
            signature_algorithm: cert.signature_algorithm.algorithm.to_id_string(),
            sha1: hex::encode(Sha1::digest(der)),
            sha256: hex::encode(Sha256::digest(der)),
            id_last4: lookup(oid::ID_LAST4),
            business_number,
            organisation_code: lookup(oid::ORGANISATION_CODE),
            card_serial: lookup(oid::CARD_SERIAL),
            subject_type: lookup(oid::SUBJECT_TYPE),
            card_kind: lookup(oid::CARD_KIND),
            is_ca: cert.is_ca(),
        })
    }

    /// Whole days from `now` (Unix seconds) to the end of validity; negative once expired.
    pub fn days_to_expiry(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// Whether this certificate is meant for signatures (digitalSignature or nonRepudiation).
    pub fn is_for_signing(&self) -> bool {
        self.key_usage.is_empty()
            || self
                .key_usage
                .iter()
                .any(|u| *u == "digitalSignature" || *u == "nonRepudiation")
    }

    /// The name to show a person: CN, else O, else the whole subject.
    pub fn holder_name(&self) -> &str {
        self.subject_cn
            .as_deref()
            .or(self.subject_o.as_deref())
            .unwrap_or(&self.subject)
    }
}

fn first_text<'a, 'b: 'a>(
    mut it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'b>>,
) -> Option<String> {
    it.next().and_then(|a| a.as_str().ok()).map(str::to_owned)
}

fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

fn key_usage(cert: &X509Certificate) -> Vec<&'static str> {
    let Ok(Some(ku)) = cert.key_usage() else {
        return Vec::new();
    };
    let ku = ku.value;
    [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "nonRepudiation"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect()
}

fn key_algorithm(cert: &X509Certificate) -> KeyAlgorithm {
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => KeyAlgorithm::Rsa {
            bits: rsa.key_size(),
        },
        Ok(PublicKey::EC(ec)) => KeyAlgorithm::Ec {
            bits: ec.key_size(),
        },
        _ => KeyAlgorithm::Other,
    }
}

/// Decodes Subject Directory Attributes into (OID, first value as text) pairs.
///
/// RFC 5280 says each attribute holds a SET OF values; some issuers put a bare value. Both are
/// accepted: each entry is read as (OID, ANY) and a SET is opened to its first element.
fn subject_directory_attributes(
    cert: &X509Certificate,
) -> Vec<(const_oid::ObjectIdentifier, String)> {
    let Some(ext) = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid::SUBJECT_DIRECTORY_ATTRIBUTES.to_string())
    else {
        return Vec::new();
    };
    let Ok(entries) = Vec::<AttributeTypeAndValue>::from_der(ext.value) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|atv| Some((atv.oid, any_to_text(&atv.value)?)))
        .collect()
}

/// SETs an attribute value may be wrapped in before its text. A real one is one SET (the
/// attribute's values) around a string; the bound is what keeps a hostile card's certificate,
/// with SETs nested thousands deep, from recursing through a 2 MiB blocking-thread stack (a
/// stack overflow aborts the daemon) and re-encoding the value at every level.
const MAX_SET_NESTING: usize = 4;

fn any_to_text(value: &Any) -> Option<String> {
    let mut owned;
    let mut value = value;
    let mut depth = 0;
    while value.tag() == Tag::Set {
        depth += 1;
        if depth > MAX_SET_NESTING {
            return None;
        }
        let set = SetOfVec::<Any>::from_der(&der::Encode::to_der(value).ok()?).ok()?;
        owned = set.iter().next()?.clone();
        value = &owned;
    }
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString
        | Tag::TeletexString => std::str::from_utf8(value.value()).ok().map(str::to_owned),
        Tag::BmpString => {
            let units: Vec<u16> = value
                .value()
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::ObjectIdentifier => const_oid::ObjectIdentifier::from_bytes(value.value())
            .ok()
            .map(|o| o.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_nested_in_sets_are_read_to_a_bound() {
        // SET { SET { ... UTF8String "5678" } }, `levels` SETs deep.
        fn nested(levels: usize) -> Any {
            let mut der = vec![0x0C, 4, b'5', b'6', b'7', b'8'];
            for _ in 0..levels {
                let mut wrapped = vec![0x31];
                let len = der.len();
                if len < 0x80 {
                    wrapped.push(len as u8);
                } else {
                    wrapped.extend([0x82, (len >> 8) as u8, len as u8]);
                }
                wrapped.extend(der);
                der = wrapped;
            }
            Any::from_der(&der).unwrap()
        }
        assert_eq!(any_to_text(&nested(1)).as_deref(), Some("5678"));
        assert_eq!(
            any_to_text(&nested(MAX_SET_NESTING)).as_deref(),
            Some("5678")
        );
        assert_eq!(any_to_text(&nested(MAX_SET_NESTING + 1)), None);
        // Thousands deep: refused at the bound, without recursing (this used to overflow the
        // stack; fuzz/regressions/certificate_parse/ has the whole certificate).
        assert_eq!(any_to_text(&nested(10_000)), None);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(matches!(
            CertificateInfo::parse(b"not a cert"),
            Err(Error::Certificate(_))
        ));
        assert!(matches!(
            CertificateInfo::parse(&[]),
            Err(Error::Certificate(_))
        ));
    }
}
