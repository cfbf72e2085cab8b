//! The certificate record SmartPKI pages read (`LoadCertificate`, `LoadCertificateByHca`,
//! `GetAll`), built from the certificate alone, and its `certType`.
//!
//! `certType` (1 citizen … 17 limited partnership) is derived from the subject type OID in the
//! Subject Directory Attributes, then from the issuing CA's family. Only the OIDs published with
//! government pages are known here; a certificate whose type cannot be told is `0` (SmartPKI's
//! `CERT_NO_DEFINE`), never a guess:
//!
//! | subject type OID (2.16.886.1.100.…) | certType |
//! |---|---|
//! | 3.1.1 natural person (MOICA), or a MOICA certificate without the attribute | 1 自然人 |
//! | 3.2.2.1.1 company | 2 公司 |
//! | 3.2.3.3.1 branch | 3 分公司 |
//! | 3.2.1.1 government agency, 3.2.1.2 government unit | 4 政府單位 |
//! | 3.3.1 server | 5 伺服器 |
//! | 3.2.3.1 sole proprietorship | 6 行號 |
//! | 3.1.7 medical staff (HCA) | 14 醫事人員 |
//! | 3.2.21 medical institution (HCA) | 15 醫事機構 |
//! | anything else (schools, associations, foundations, foreign residents, ...: OIDs unknown) | 0 |

use base64::Engine as _;
use card_agent_protocol::message::SmartPkiCertificate;

use crate::certificate::{CardFamily, CertificateInfo, KeyAlgorithm};

/// SmartPKI's "type not defined".
pub const CERT_TYPE_UNKNOWN: u8 = 0;

/// The subject type OIDs whose certType is known.
const SUBJECT_TYPES: &[(&str, u8)] = &[
    ("2.16.886.1.100.3.1.1", 1),
    ("2.16.886.1.100.3.2.2.1.1", 2),
    ("2.16.886.1.100.3.2.3.3.1", 3),
    ("2.16.886.1.100.3.2.1.1", 4),
    ("2.16.886.1.100.3.2.1.2", 4),
    ("2.16.886.1.100.3.3.1", 5),
    ("2.16.886.1.100.3.2.3.1", 6),
    ("2.16.886.1.100.3.1.7", 14),
    ("2.16.886.1.100.3.2.21", 15),
];

/// SmartPKI's certType for a certificate of `family` with the subject type `subject_type`.
pub fn cert_type(family: CardFamily, subject_type: Option<&str>) -> u8 {
    match subject_type {
        Some(oid) => SUBJECT_TYPES
            .iter()
            .find(|(known, _)| *known == oid)
            .map_or(CERT_TYPE_UNKNOWN, |(_, t)| *t),
        // MOICA certifies natural persons only; for the other CAs the family alone is not
        // enough (a GCA card may be an agency or a subordinate agency, and so on).
        None if family == CardFamily::Moica => 1,
        None => CERT_TYPE_UNKNOWN,
    }
}

/// The OpenSSL NID of the key's algorithm, as SmartPKI reports `algorithmNid`.
fn algorithm_nid(key: KeyAlgorithm) -> u32 {
    match key {
        KeyAlgorithm::Rsa { .. } => 6,  // NID_rsaEncryption
        KeyAlgorithm::Ec { .. } => 408, // NID_X9_62_id_ecPublicKey
        KeyAlgorithm::Other => 0,
    }
}

/// The record for `info`, read from the card whose serial is `card_serial`.
pub fn record(info: &CertificateInfo, card_serial: &str) -> SmartPkiCertificate {
    let id = info
        .id_last4
        .as_ref()
        .or(info.business_number.as_ref())
        .or(info.organisation_code.as_ref())
        .cloned()
        .unwrap_or_default();
    SmartPkiCertificate {
        certificate: base64::engine::general_purpose::STANDARD.encode(&info.der),
        subject_name: info.subject.clone(),
        name: info.holder_name().to_owned(),
        id,
        subject_sn: info.subject_serial_number.clone().unwrap_or_default(),
        serial_number: info.serial_hex.clone(),
        // The CA writes the card's number into the certificate; the token's serial is the
        // same number read from the chip, for certificates without the attribute.
        card_number: info
            .card_serial
            .clone()
            .unwrap_or_else(|| card_serial.to_owned()),
        cert_name: info.holder_name().to_owned(),
        algorithm_nid: algorithm_nid(info.key_algorithm),
        not_after: info.not_after,
        is_main_card: match info.card_kind.as_deref() {
            Some(kind) if kind.eq_ignore_ascii_case("secondary") => 2,
            _ => 1,
        },
        cert_type: cert_type(info.family, info.subject_type.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::pki::{CertUsage, Holder, TestPki};

    #[test]
    fn every_known_subject_type() {
        for (oid, want) in SUBJECT_TYPES {
            assert_eq!(cert_type(CardFamily::Unknown, Some(oid)), *want, "{oid}");
        }
        assert_eq!(cert_type(CardFamily::Moica, None), 1);
        for family in [
            CardFamily::Moeaca,
            CardFamily::Gca,
            CardFamily::Xca,
            CardFamily::Hca,
            CardFamily::Unknown,
        ] {
            assert_eq!(cert_type(family, None), CERT_TYPE_UNKNOWN, "{family:?}");
        }
        // An OID nobody published is unknown, whatever the family.
        assert_eq!(
            cert_type(CardFamily::Xca, Some("2.16.886.1.100.3.2.99")),
            CERT_TYPE_UNKNOWN
        );
    }

    fn issued(family: CardFamily, holder: &Holder) -> CertificateInfo {
        let pki = TestPki::generate(family).unwrap();
        let key = pki.new_rsa_key().unwrap();
        let spki = rsa::pkcs8::EncodePublicKey::to_public_key_der(&key.to_public_key()).unwrap();
        let der = pki
            .issue(holder, spki.as_bytes(), CertUsage::Signing, 30)
            .unwrap();
        CertificateInfo::parse(&der).unwrap()
    }

    #[test]
    fn a_citizen_card_of_the_test_pki() {
        let holder = Holder {
            name: "王小明 TEST".to_owned(),
            serial_number: "0000000112831644".to_owned(),
            id_last4: Some("6789".to_owned()),
            card_serial: Some("TP03000000000001".to_owned()),
            ..Holder::default()
        };
        let info = issued(CardFamily::Moica, &holder);
        let r = record(&info, "SOFTHSM0001");
        assert_eq!(r.cert_type, 1);
        assert_eq!(r.name, "王小明 TEST");
        assert_eq!(r.id, "6789");
        assert_eq!(r.subject_sn, "0000000112831644");
        assert_eq!(r.card_number, "TP03000000000001");
        assert_eq!(r.is_main_card, 1);
        assert_eq!(r.algorithm_nid, 6);
        assert_eq!(r.serial_number, info.serial_hex);
        assert_eq!(r.not_after, info.not_after);
        assert!(
            r.subject_name.contains("serialNumber=0000000112831644"),
            "{}",
            r.subject_name
        );
        let der = base64::engine::general_purpose::STANDARD
            .decode(&r.certificate)
            .unwrap();
        assert_eq!(der, info.der);
    }

    #[test]
    fn a_company_card_of_the_test_pki() {
        let holder = Holder {
            organisation: Some("測試股份有限公司 TEST".to_owned()),
            business_number: Some("12345678".to_owned()),
            ..Holder::default()
        };
        let info = issued(CardFamily::Moeaca, &holder);
        let r = record(&info, "MT0000000000001");
        assert_eq!(r.cert_type, 2);
        assert_eq!(r.name, "測試股份有限公司 TEST");
        assert_eq!(r.id, "12345678");
        assert_eq!(r.subject_sn, "");
        // No card-serial attribute: the token's serial.
        assert_eq!(r.card_number, "MT0000000000001");
        assert_eq!(r.is_main_card, 1);
    }

    #[test]
    fn an_attached_card_says_so() {
        let mut info = issued(
            CardFamily::Moeaca,
            &Holder {
                organisation: Some("測試 TEST".to_owned()),
                ..Holder::default()
            },
        );
        info.card_kind = Some("secondary".to_owned());
        assert_eq!(record(&info, "x").is_main_card, 2);
        info.card_kind = Some("primary".to_owned());
        assert_eq!(record(&info, "x").is_main_card, 1);
    }
}
