//! A MOICA-like test PKI: a root, an issuer named like a government CA, and holder
//! certificates with the Taiwan Subject Directory Attributes.
//!
//! Used by the demo token and by the SoftHSM test fixture, so both present certificates that
//! [`CertificateInfo::parse`](crate::certificate::CertificateInfo::parse) reads like real ones.
//! Every name says TEST; nothing here chains to the real GRCA.
//!
//! Certificates are `x509-cert` TBSCertificate structures signed with RSA-2048 CA keys
//! (sha256WithRSAEncryption). The crate's `CertificateBuilder` is not used because its leaf
//! profile always sets digitalSignature, which an encryption certificate must not carry.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use const_oid::db::rfc4519;
use const_oid::{AssociatedOid, ObjectIdentifier};
use der::asn1::{PrintableStringRef, SetOfVec, Utf8StringRef};
use der::referenced::OwnedToRef;
use der::{Any, Decode, Encode};
use rand::rngs::StdRng;
use rand::{CryptoRng, RngCore, SeedableRng};
use rsa::pkcs1v15::SigningKey;
use rsa::RsaPrivateKey;
use sha2::Sha256;
use signature::Signer;
use spki::SubjectPublicKeyInfoOwned;
use spki::{DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding};
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;
use x509_cert::Certificate;

use crate::certificate::{oid, CardFamily};
use crate::cms_signature::{rfc5280_time, text_value};
use crate::error::{Error, Result};
use crate::signer::encoding_error;

/// Subject type "natural person" (MOICA holders).
pub const SUBJECT_TYPE_NATURAL_PERSON: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.886.1.100.3.1.1");
/// Subject type "company" (MOEACA holders).
pub const SUBJECT_TYPE_COMPANY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.886.1.100.3.2.2.1.1");

/// How long the test CAs are valid.
const CA_VALID_DAYS: u32 = 20 * 365;
const DAY: Duration = Duration::from_secs(86_400);

/// What a holder certificate is for; decides its key usage, as on a real card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertUsage {
    /// digitalSignature + nonRepudiation (the card's "SIGN" key).
    Signing,
    /// keyEncipherment + dataEncipherment (the card's "KEYX" key).
    Encryption,
}

/// The person or company a holder certificate names.
///
/// Subject DN, in certificate order: `C=TW`, then `O=<organisation>` when given, `CN=<name>`
/// when not empty, `serialNumber=<serial_number>` when not empty. So a MOICA holder is
/// `C=TW, CN=<name>, serialNumber=<16 digits>` and a MOEACA holder (name and serial_number
/// left empty) is `C=TW, O=<company>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// Common name, e.g. `王小明 TEST`.
    pub name: String,
    /// DN serialNumber (16 digits on MOICA certificates).
    pub serial_number: String,
    /// Last four national-ID digits, directory attribute .51 (MOICA).
    pub id_last4: Option<String>,
    /// Business number 統一編號, directory attribute .101 (MOEACA).
    pub business_number: Option<String>,
    /// Organisation (O), the company name on MOEACA certificates.
    pub organisation: Option<String>,
    /// Card serial number, directory attribute .204.
    pub card_serial: Option<String>,
}

/// A CA: its signing key, certificate and public key.
struct Ca {
    key: SigningKey<Sha256>,
    name: Name,
    spki: SubjectPublicKeyInfoOwned,
    der: Vec<u8>,
}

impl Ca {
    /// A new RSA-2048 CA, self-signed when `parent` is `None`.
    fn generate(
        name: Name,
        parent: Option<&Ca>,
        validity: Validity,
        key: RsaPrivateKey,
        rng: &mut StdRng,
    ) -> Result<Ca> {
        let spki = public_key_info(&key)?;
        let key = SigningKey::<Sha256>::new(key);
        let mut extensions = Vec::with_capacity(4);
        if let Some(parent) = parent {
            extensions.push(extension(
                AuthorityKeyIdentifier::OID,
                false,
                &aki(&parent.spki)?,
            )?);
        }
        extensions.push(extension(SubjectKeyIdentifier::OID, false, &ski(&spki)?)?);
        // pathLen 0 below the root: the issuing CA signs holder certificates only.
        let constraints = BasicConstraints {
            ca: true,
            path_len_constraint: parent.map(|_| 0),
        };
        extensions.push(extension(BasicConstraints::OID, true, &constraints)?);
        let usage = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        extensions.push(extension(KeyUsage::OID, true, &usage)?);
        let (signer, signer_name) = match parent {
            Some(parent) => (&parent.key, &parent.name),
            None => (&key, &name),
        };
        let der = sign(
            signer,
            random_serial(rng)?,
            signer_name,
            name.clone(),
            spki.clone(),
            validity,
            extensions,
        )?;
        Ok(Ca {
            key,
            name,
            spki,
            der,
        })
    }
}

/// A test root and a MOICA- or MOEACA-like issuing CA under it.
///
/// A PKI is either fresh (random keys, validity from now) or deterministic (keys, serials and
/// dates derived from a seed and a fixed epoch), which is what the demo token uses so that
/// every process shows the same demo certificates.
pub struct TestPki {
    family: CardFamily,
    root: Ca,
    issuer: Ca,
    rng: Mutex<StdRng>,
    /// Keys to hand out before generating any (the demo token's embedded keys).
    spare_keys: Mutex<VecDeque<RsaPrivateKey>>,
}

impl TestPki {
    /// Generates the root and issuer (two RSA-2048 keys). `family` is [`CardFamily::Moica`]
    /// (issuer OU 內政部憑證管理中心) or [`CardFamily::Moeaca`] (OU 工商憑證管理中心).
    pub fn generate(family: CardFamily) -> Result<TestPki> {
        Self::build(family, StdRng::from_entropy(), None, VecDeque::new())
    }

    /// Like [`TestPki::generate`], but every key, serial number and date comes from `seed` and
    /// `epoch`: the same inputs give the same certificates in every process (with the same
    /// build of card-agent).
    pub fn deterministic(family: CardFamily, seed: [u8; 32], epoch: SystemTime) -> Result<TestPki> {
        Self::build(
            family,
            StdRng::from_seed(seed),
            Some(epoch),
            VecDeque::new(),
        )
    }

    /// Like [`TestPki::deterministic`], with RSA keys given instead of generated: the root's,
    /// the issuer's, then those [`TestPki::new_rsa_key`] hands out, in that order (generation
    /// resumes when they run out). Key generation dominates a PKI's start-up; this skips it.
    pub fn deterministic_with_keys(
        family: CardFamily,
        seed: [u8; 32],
        epoch: SystemTime,
        keys: Vec<RsaPrivateKey>,
    ) -> Result<TestPki> {
        Self::build(family, StdRng::from_seed(seed), Some(epoch), keys.into())
    }

    fn build(
        family: CardFamily,
        mut rng: StdRng,
        epoch: Option<SystemTime>,
        mut keys: VecDeque<RsaPrivateKey>,
    ) -> Result<TestPki> {
        let (unit, cn) = match family {
            CardFamily::Moica => ("內政部憑證管理中心", "TEST MOICA"),
            CardFamily::Moeaca => ("工商憑證管理中心", "TEST MOEACA"),
            other => {
                return Err(Error::Unsupported(format!(
                    "test PKI for {} certificates",
                    other.as_str()
                )))
            }
        };
        let start = epoch.unwrap_or_else(SystemTime::now);
        let ca_validity = validity(
            start.checked_sub(DAY),
            start.checked_add(DAY * CA_VALID_DAYS),
        )?;
        let root_name = name(&[
            (rfc4519::C, "TW"),
            (rfc4519::O, "card-agent TEST"),
            (rfc4519::CN, "TEST Government Root CA"),
        ])?;
        let root_key = keys.pop_front().map_or_else(|| rsa_key(&mut rng), Ok)?;
        let root = Ca::generate(root_name, None, ca_validity, root_key, &mut rng)?;
        let issuer_name = name(&[
            (rfc4519::C, "TW"),
            (rfc4519::O, "行政院"),
            (rfc4519::OU, unit),
            (rfc4519::CN, cn),
        ])?;
        let issuer_key = keys.pop_front().map_or_else(|| rsa_key(&mut rng), Ok)?;
        let issuer = Ca::generate(issuer_name, Some(&root), ca_validity, issuer_key, &mut rng)?;
        Ok(TestPki {
            family,
            root,
            issuer,
            rng: Mutex::new(rng),
            spare_keys: Mutex::new(keys),
        })
    }

    /// A new RSA-2048 key from this PKI's randomness (seeded for a deterministic PKI).
    pub fn new_rsa_key(&self) -> Result<RsaPrivateKey> {
        let spare = self
            .spare_keys
            .lock()
            .map_err(|_| Error::Internal("test PKI keys poisoned".into()))?
            .pop_front();
        match spare {
            Some(key) => Ok(key),
            None => rsa_key(&mut *self.rng()?),
        }
    }

    fn rng(&self) -> Result<std::sync::MutexGuard<'_, StdRng>> {
        self.rng
            .lock()
            .map_err(|_| Error::Internal("test PKI random generator poisoned".into()))
    }

    /// The family the issuer imitates.
    pub fn family(&self) -> CardFamily {
        self.family
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root.der
    }

    /// The issuing CA certificate, DER.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer.der
    }

    /// Issues a holder certificate for the public key `spki_der` (a DER SubjectPublicKeyInfo,
    /// RSA or EC, whose private key lives elsewhere, e.g. on a SoftHSM token).
    ///
    /// Valid from a day before now (clock skew) for `valid_days`; zero or negative gives an
    /// already expired certificate, for tests of expiry handling.
    pub fn issue(
        &self,
        holder: &Holder,
        spki_der: &[u8],
        usage: CertUsage,
        valid_days: i64,
    ) -> Result<Vec<u8>> {
        self.issue_at(holder, spki_der, usage, SystemTime::now(), valid_days)
    }

    /// Like [`TestPki::issue`] with `start` in place of now, so a deterministic PKI issues the
    /// same certificate whenever it runs.
    pub fn issue_at(
        &self,
        holder: &Holder,
        spki_der: &[u8],
        usage: CertUsage,
        start: SystemTime,
        valid_days: i64,
    ) -> Result<Vec<u8>> {
        let spki = SubjectPublicKeyInfoOwned::from_der(spki_der)
            .map_err(|e| Error::BadInput(format!("not a DER SubjectPublicKeyInfo: {e}")))?;
        let now = start;
        let offset = DAY
            * u32::try_from(valid_days.unsigned_abs())
                .map_err(|_| Error::BadInput(format!("{valid_days} days is out of range")))?;
        let not_after = if valid_days >= 0 {
            now.checked_add(offset)
        } else {
            now.checked_sub(offset)
        };
        let not_before = not_after
            .map(|t| t.min(now))
            .and_then(|t| t.checked_sub(DAY));
        let key_usage = match usage {
            CertUsage::Signing => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
            CertUsage::Encryption => KeyUsages::KeyEncipherment | KeyUsages::DataEncipherment,
        };
        let extensions = vec![
            extension(AuthorityKeyIdentifier::OID, false, &aki(&self.issuer.spki)?)?,
            extension(SubjectKeyIdentifier::OID, false, &ski(&spki)?)?,
            extension(KeyUsage::OID, true, &KeyUsage(key_usage))?,
            extension(
                oid::SUBJECT_DIRECTORY_ATTRIBUTES,
                false,
                &self.directory_attributes(holder)?,
            )?,
        ];
        let serial = random_serial(&mut *self.rng()?)?;
        sign(
            &self.issuer.key,
            serial,
            &self.issuer.name,
            holder_name(holder)?,
            spki,
            validity(not_before, not_after)?,
            extensions,
        )
    }

    /// Subject Directory Attributes per RFC 5280 section 4.2.1.8: a SEQUENCE OF Attribute, each
    /// with a SET OF values.
    fn directory_attributes(&self, holder: &Holder) -> Result<Vec<Attribute>> {
        let subject_type = match self.family {
            CardFamily::Moeaca => SUBJECT_TYPE_COMPANY,
            _ => SUBJECT_TYPE_NATURAL_PERSON,
        };
        let mut attrs = vec![attribute(
            oid::SUBJECT_TYPE,
            Any::encode_from(&subject_type),
        )?];
        for (oid, value) in [
            (oid::ID_LAST4, &holder.id_last4),
            (oid::BUSINESS_NUMBER, &holder.business_number),
            (oid::CARD_SERIAL, &holder.card_serial),
        ] {
            if let Some(value) = value {
                attrs.push(attribute(oid, text_value(value))?);
            }
        }
        Ok(attrs)
    }
}

/// A fresh RSA-2048 key.
fn rsa_key(rng: &mut (impl RngCore + CryptoRng)) -> Result<RsaPrivateKey> {
    RsaPrivateKey::new(rng, 2048)
        .map_err(|e| Error::Internal(format!("RSA key generation failed: {e}")))
}

/// The SubjectPublicKeyInfo of an RSA key.
pub(crate) fn public_key_info(key: &RsaPrivateKey) -> Result<SubjectPublicKeyInfoOwned> {
    SubjectPublicKeyInfoOwned::from_key(key.to_public_key())
        .map_err(|e| Error::Internal(format!("public key encoding failed: {e}")))
}

/// Signs a TBSCertificate with a CA key and returns the certificate's DER.
fn sign(
    ca_key: &SigningKey<Sha256>,
    serial_number: SerialNumber,
    issuer: &Name,
    subject: Name,
    spki: SubjectPublicKeyInfoOwned,
    validity: Validity,
    extensions: Vec<Extension>,
) -> Result<Vec<u8>> {
    let signature_algorithm = ca_key
        .signature_algorithm_identifier()
        .map_err(|e| Error::Internal(format!("signature algorithm: {e}")))?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number,
        signature: signature_algorithm.clone(),
        issuer: issuer.clone(),
        validity,
        subject,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature = ca_key
        .try_sign(&tbs.to_der().map_err(encoding_error)?)
        .map_err(|e| Error::Internal(format!("certificate signing failed: {e}")))?;
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm,
        signature: signature.to_bitstring().map_err(encoding_error)?,
    }
    .to_der()
    .map_err(encoding_error)
}

/// A positive 16-byte serial number; random so that re-generated PKIs never collide.
fn random_serial(rng: &mut impl RngCore) -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    // Keep it positive and exactly 16 bytes long.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::new(&bytes).map_err(encoding_error)
}

fn validity(not_before: Option<SystemTime>, not_after: Option<SystemTime>) -> Result<Validity> {
    let (Some(not_before), Some(not_after)) = (not_before, not_after) else {
        return Err(Error::BadInput("validity out of range".into()));
    };
    Ok(Validity {
        not_before: rfc5280_time(not_before)?,
        not_after: rfc5280_time(not_after)?,
    })
}

fn holder_name(holder: &Holder) -> Result<Name> {
    let mut parts = vec![(rfc4519::C, "TW")];
    if let Some(o) = &holder.organisation {
        parts.push((rfc4519::O, o.as_str()));
    }
    if !holder.name.is_empty() {
        parts.push((rfc4519::CN, holder.name.as_str()));
    }
    if !holder.serial_number.is_empty() {
        parts.push((rfc4519::SERIAL_NUMBER, holder.serial_number.as_str()));
    }
    name(&parts)
}

/// A DN from (type, text) pairs in certificate order, one attribute per RDN. Country and
/// serialNumber are PrintableString as X.520 requires; the rest UTF8String, which carries
/// the Chinese names.
fn name(parts: &[(ObjectIdentifier, &str)]) -> Result<Name> {
    let rdns = parts
        .iter()
        .map(|(oid, text)| {
            let value = if *oid == rfc4519::C || *oid == rfc4519::SERIAL_NUMBER {
                Any::encode_from(&PrintableStringRef::new(text)?)
            } else {
                Any::encode_from(&Utf8StringRef::new(text)?)
            }?;
            let atv = AttributeTypeAndValue { oid: *oid, value };
            Ok(RelativeDistinguishedName(SetOfVec::try_from(vec![atv])?))
        })
        .collect::<der::Result<Vec<_>>>()
        .map_err(|e| Error::BadInput(format!("name cannot be encoded: {e}")))?;
    Ok(RdnSequence(rdns))
}

fn attribute(oid: ObjectIdentifier, value: der::Result<Any>) -> Result<Attribute> {
    let value = value.map_err(|e| Error::BadInput(format!("attribute {oid}: {e}")))?;
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(encoding_error)?,
    })
}

fn extension(oid: ObjectIdentifier, critical: bool, value: &impl Encode) -> Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: der::asn1::OctetString::new(value.to_der().map_err(encoding_error)?)
            .map_err(encoding_error)?,
    })
}

/// Key identifier method 1 of RFC 5280 (SHA-1 of the public key bits), via `x509-cert`.
fn ski(spki: &SubjectPublicKeyInfoOwned) -> Result<SubjectKeyIdentifier> {
    SubjectKeyIdentifier::try_from(spki.owned_to_ref()).map_err(encoding_error)
}

fn aki(issuer_spki: &SubjectPublicKeyInfoOwned) -> Result<AuthorityKeyIdentifier> {
    AuthorityKeyIdentifier::try_from(issuer_spki.owned_to_ref()).map_err(encoding_error)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::super::testutil::{openssl, openssl_status, shared_demo, Scratch};
    use super::*;
    use crate::certificate::CertificateInfo;

    /// A holder public key without generating one: the demo signing key's.
    fn some_spki() -> Vec<u8> {
        let cert =
            Certificate::from_der(&shared_demo().certificates().unwrap()[0].info.der).unwrap();
        cert.tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap()
    }

    /// `openssl verify` of `cert` against the PKI's root, with the issuer as intermediate.
    fn openssl_verify(pki: &TestPki, cert: &[u8]) -> (bool, String, String) {
        let dir = Scratch::new();
        let root = dir.pem("root.pem", &[pki.root_der()]);
        let issuer = dir.pem("issuer.pem", &[pki.issuer_der()]);
        let leaf = dir.pem("leaf.pem", &[cert]);
        openssl_status(&["verify", "-CAfile", &root, "-untrusted", &issuer, &leaf])
    }

    fn text(cert: &[u8]) -> String {
        let dir = Scratch::new();
        let path = dir.file("cert.der", cert);
        openssl(&["x509", "-inform", "DER", "-in", &path, "-noout", "-text"])
    }

    #[test]
    fn moica_certificates_read_like_real_ones() {
        let pki = shared_demo().pki();
        let holder = Holder {
            name: "王小明 TEST".into(),
            serial_number: "1234567890123456".into(),
            id_last4: Some("6789".into()),
            card_serial: Some("TP12345678901234".into()),
            ..Holder::default()
        };
        let der = pki
            .issue(&holder, &some_spki(), CertUsage::Signing, 365)
            .unwrap();
        let info = CertificateInfo::parse(&der).unwrap();
        assert_eq!(info.family, CardFamily::Moica);
        assert_eq!(info.subject_cn.as_deref(), Some("王小明 TEST"));
        assert_eq!(
            info.subject_serial_number.as_deref(),
            Some("1234567890123456")
        );
        assert_eq!(info.id_last4.as_deref(), Some("6789"));
        assert_eq!(info.card_serial.as_deref(), Some("TP12345678901234"));
        assert_eq!(info.subject_type.as_deref(), Some("2.16.886.1.100.3.1.1"));
        assert_eq!(info.business_number, None);
        assert_eq!(info.key_usage, ["digitalSignature", "nonRepudiation"]);
        assert_eq!(info.signature_algorithm, "1.2.840.113549.1.1.11");
        assert!(!info.is_ca);
        assert!(info.issuer.contains("內政部憑證管理中心") && info.issuer.contains("TEST"));
        let days = info.days_to_expiry(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64,
        );
        assert!((363..=365).contains(&days), "{days}");

        let (ok, out, err) = openssl_verify(pki, &der);
        assert!(ok, "{out}{err}");
        let text = text(&der);
        assert!(
            text.contains("X509v3 Subject Directory Attributes"),
            "{text}"
        );
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
        assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");

        // RFC 5280 shape: SEQUENCE OF Attribute { type, SET OF value }.
        let cert = Certificate::from_der(&der).unwrap();
        let extensions = cert.tbs_certificate.extensions.unwrap();
        let sda = extensions
            .iter()
            .find(|e| e.extn_id == oid::SUBJECT_DIRECTORY_ATTRIBUTES)
            .unwrap();
        assert!(!sda.critical);
        let attrs = Vec::<Attribute>::from_der(sda.extn_value.as_bytes()).unwrap();
        let types: Vec<_> = attrs.iter().map(|a| a.oid).collect();
        assert_eq!(types, [oid::SUBJECT_TYPE, oid::ID_LAST4, oid::CARD_SERIAL]);
        assert!(attrs.iter().all(|a| a.values.len() == 1));

        let keyx = pki
            .issue(&holder, &some_spki(), CertUsage::Encryption, 365)
            .unwrap();
        let info = CertificateInfo::parse(&keyx).unwrap();
        assert_eq!(info.key_usage, ["keyEncipherment", "dataEncipherment"]);
        assert!(!info.is_for_signing());
        assert!(openssl_verify(pki, &keyx).0);
    }

    #[test]
    fn cas_are_marked_as_test_cas() {
        let pki = shared_demo().pki();
        let root = CertificateInfo::parse(pki.root_der()).unwrap();
        let issuer = CertificateInfo::parse(pki.issuer_der()).unwrap();
        assert!(root.is_ca && issuer.is_ca);
        assert_eq!(root.subject, root.issuer);
        assert!(root.subject.contains("TEST"));
        assert_eq!(issuer.issuer, root.subject);
        assert_eq!(issuer.subject_cn.as_deref(), Some("TEST MOICA"));
        assert_eq!(issuer.key_usage, ["keyCertSign", "cRLSign"]);
        assert_eq!(CardFamily::from_issuer(&issuer.subject), CardFamily::Moica);
        let text = text(pki.issuer_der());
        assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    }

    #[test]
    fn moeaca_certificates_carry_the_business_number() {
        let pki = TestPki::generate(CardFamily::Moeaca).unwrap();
        assert_eq!(pki.family(), CardFamily::Moeaca);
        let holder = Holder {
            organisation: Some("TEST 測試股份有限公司".into()),
            business_number: Some("12345678".into()),
            card_serial: Some("MT12345678901234".into()),
            ..Holder::default()
        };
        let der = pki
            .issue(&holder, &some_spki(), CertUsage::Signing, 30)
            .unwrap();
        let info = CertificateInfo::parse(&der).unwrap();
        assert_eq!(info.family, CardFamily::Moeaca);
        assert_eq!(info.subject, "C=TW, O=TEST 測試股份有限公司");
        assert_eq!(info.subject_cn, None);
        assert_eq!(info.holder_name(), "TEST 測試股份有限公司");
        assert_eq!(info.business_number.as_deref(), Some("12345678"));
        assert_eq!(
            info.subject_type.as_deref(),
            Some("2.16.886.1.100.3.2.2.1.1")
        );
        assert_eq!(info.id_last4, None);
        let issuer = CertificateInfo::parse(pki.issuer_der()).unwrap();
        assert!(issuer.subject.contains("工商憑證管理中心"));
        let (ok, out, err) = openssl_verify(&pki, &der);
        assert!(ok, "{out}{err}");
    }

    #[test]
    fn negative_validity_gives_an_expired_certificate() {
        let pki = shared_demo().pki();
        let der = pki
            .issue(
                &Holder {
                    name: "EXPIRED TEST".into(),
                    ..Holder::default()
                },
                &some_spki(),
                CertUsage::Signing,
                -2,
            )
            .unwrap();
        let info = CertificateInfo::parse(&der).unwrap();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(info.not_before < info.not_after && info.not_after < now);
        let (ok, out, err) = openssl_verify(pki, &der);
        assert!(!ok && (out + &err).contains("expired"));
    }

    #[test]
    fn bad_requests_are_refused() {
        assert!(matches!(
            TestPki::generate(CardFamily::Gca),
            Err(Error::Unsupported(_))
        ));
        let pki = shared_demo().pki();
        let r = pki.issue(&Holder::default(), b"not a key", CertUsage::Signing, 1);
        assert!(matches!(r, Err(Error::BadInput(_))));
        // serialNumber is a PrintableString; Chinese cannot go there.
        let holder = Holder {
            serial_number: "一二三".into(),
            ..Holder::default()
        };
        let r = pki.issue(&holder, &some_spki(), CertUsage::Signing, 1);
        assert!(matches!(r, Err(Error::BadInput(_))));
    }
}
