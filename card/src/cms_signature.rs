//! CMS SignedData (RFC 5652), the "PKCS7" signature that legacy pages ask for.
//!
//! The structures are RustCrypto's `cms` types filled in directly. Its `SignedDataBuilder`
//! wants a `signature::Signer` with a verifying key; our signer is a token operation behind a
//! `FnMut` that returns our own errors, so wrapping it would only add an adapter and lose the
//! error. The result has the shape HiPKI produces and verifiers expect:
//!
//! - version 1, one digest algorithm, `encapContentInfo` of type id-data (eContent only when
//!   attached), `certificates` holding the signer certificate;
//! - one SignerInfo (version 1, sid issuerAndSerialNumber) with the signed attributes
//!   contentType, messageDigest, signingTime and, when asked, the nonce and the card serial;
//! - signatureAlgorithm rsaEncryption for RSA keys (as HiPKI does), ecdsa-with-SHAxxx for EC.
//!
//! The signature covers the DER of the signed attributes as a SET OF (RFC 5652 section 5.4).

use std::time::SystemTime;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier,
    SignerInfo, SignerInfos,
};
use const_oid::db::{rfc5911, rfc5912};
use const_oid::ObjectIdentifier;
use der::asn1::{
    GeneralizedTime, OctetString, PrintableStringRef, SetOfVec, UtcTime, Utf8StringRef,
};
use der::{Any, DateTime, Decode, Encode, Tag};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::time::Time;
use x509_cert::Certificate;

use crate::certificate::{CertificateInfo, KeyAlgorithm};
use crate::error::{Error, Result};
use crate::signer::{
    self, check_hash, encoding_error, CmsOptions, HashAlgorithm, RawMechanism, RawSign,
};

/// Attribute types beyond RFC 5652's own.
pub mod oid {
    use const_oid::ObjectIdentifier;
    /// PKCS#9 randomNonce (1.2.840.113549.1.9.25.3), the `nonce` of legacy pages.
    pub const NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.25.3");
    /// Card serial number, the same arc as the certificate attribute (2.16.886.1.100.2.204).
    pub const CARD_SERIAL: ObjectIdentifier = crate::certificate::oid::CARD_SERIAL;
    /// ecdsa-with-SHA1 (1.2.840.10045.4.1), which the `const-oid` database lacks.
    pub const ECDSA_WITH_SHA_1: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
}

/// What the signature is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content<'a> {
    /// The data, which goes inside the SignedData (eContent) and is hashed here.
    Attached(&'a [u8]),
    /// Detached: only the data's hash is known; eContent is absent.
    Detached {
        /// The data's hash with the chosen algorithm.
        digest: &'a [u8],
    },
}

/// Builds a DER `ContentInfo` holding a CMS SignedData signed by `cert`'s key.
///
/// `raw_sign` is the token operation, called exactly once over the hash of the signed
/// attributes (see [`crate::signer::sign_with`] for the mechanisms). `opts` supplies
/// signingTime (now when `None`), and the optional nonce and card-serial attributes.
pub fn build(
    content: Content<'_>,
    hash_alg: HashAlgorithm,
    cert: &CertificateInfo,
    opts: &CmsOptions,
    raw_sign: &mut RawSign<'_>,
) -> Result<Vec<u8>> {
    let signature_algorithm = signature_algorithm(cert.key_algorithm, hash_alg)?;
    let x509 = Certificate::from_der(&cert.der)
        .map_err(|e| Error::Certificate(format!("signer certificate: {e}")))?;

    let (message_digest, econtent) = match content {
        Content::Attached(data) => (
            hash_alg.digest(data),
            Some(Any::new(Tag::OctetString, data).map_err(encoding_error)?),
        ),
        Content::Detached { digest } => {
            check_hash(hash_alg, digest)?;
            (digest.to_vec(), None)
        }
    };

    let (signed_attrs, signature) = if opts.without_signed_attributes {
        // RFC 5652 section 5.4: without signed attributes the signature is over the content's
        // digest itself.
        let signature =
            signer::sign_digest(raw_sign, cert.key_algorithm, hash_alg, &message_digest)?;
        (None, signature)
    } else {
        let signed_attrs = signed_attributes(&message_digest, opts)?;
        // RFC 5652 section 5.4: the signature input is the attributes' DER with the SET OF tag,
        // not the [0] IMPLICIT tag they carry inside SignerInfo.
        let signed_der = signed_attrs.to_der().map_err(encoding_error)?;
        let signature = signer::sign_digest(
            raw_sign,
            cert.key_algorithm,
            hash_alg,
            &hash_alg.digest(&signed_der),
        )?;
        (Some(signed_attrs), signature)
    };

    // RFC 5754: SHA-2 digest identifiers carry no parameters (absent, not NULL).
    let digest_alg = AlgorithmIdentifierOwned {
        oid: hash_alg.oid(),
        parameters: None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: x509.tbs_certificate.issuer.clone(),
            serial_number: x509.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs,
        signature_algorithm,
        signature: OctetString::new(signature).map_err(encoding_error)?,
        unsigned_attrs: None,
    };
    let signed_data = SignedData {
        // Version 1: only X.509 certificates, a version 1 SignerInfo and id-data content.
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg]).map_err(encoding_error)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent,
        },
        certificates: Some(
            CertificateSet::try_from(vec![CertificateChoices::Certificate(x509)])
                .map_err(encoding_error)?,
        ),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info]).map_err(encoding_error)?,
    };
    ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).map_err(encoding_error)?,
    }
    .to_der()
    .map_err(encoding_error)
}

/// The signed attributes, in DER (sorted) order.
fn signed_attributes(message_digest: &[u8], opts: &CmsOptions) -> Result<SignedAttributes> {
    let signing_time = rfc5280_time(opts.signing_time.unwrap_or_else(SystemTime::now))?;
    let mut attrs = vec![
        attribute(
            rfc5911::ID_CONTENT_TYPE,
            Any::encode_from(&rfc5911::ID_DATA),
        )?,
        attribute(
            rfc5911::ID_MESSAGE_DIGEST,
            Any::new(Tag::OctetString, message_digest),
        )?,
        attribute(rfc5911::ID_SIGNING_TIME, Any::encode_from(&signing_time))?,
    ];
    if let Some(nonce) = &opts.nonce {
        attrs.push(attribute(
            oid::NONCE,
            Any::new(Tag::OctetString, nonce.as_slice()),
        )?);
    }
    if let Some(serial) = &opts.card_serial {
        attrs.push(attribute(oid::CARD_SERIAL, text_value(serial))?);
    }
    SetOfVec::try_from(attrs).map_err(encoding_error)
}

/// An attribute with one value.
fn attribute(oid: ObjectIdentifier, value: der::Result<Any>) -> Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value.map_err(encoding_error)?]).map_err(encoding_error)?,
    })
}

/// A PrintableString when the text allows it (card serials do), else a UTF8String.
pub(crate) fn text_value(text: &str) -> der::Result<Any> {
    match PrintableStringRef::new(text) {
        Ok(printable) => Any::encode_from(&printable),
        Err(_) => Any::encode_from(&Utf8StringRef::new(text)?),
    }
}

/// The signature algorithm identifier HiPKI-compatible verifiers expect for this key.
fn signature_algorithm(
    key: KeyAlgorithm,
    hash_alg: HashAlgorithm,
) -> Result<AlgorithmIdentifierOwned> {
    match signer::supported_key(key)? {
        // RFC 3370 section 3.2: rsaEncryption with NULL parameters; the hash is named by
        // digestAlgorithm. HiPKI writes it this way.
        RawMechanism::RsaPkcs1 => Ok(AlgorithmIdentifierOwned {
            oid: rfc5912::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        }),
        // RFC 5758 section 3.2: ecdsa-with-SHAxxx, parameters absent.
        RawMechanism::Ecdsa => Ok(AlgorithmIdentifierOwned {
            oid: match hash_alg {
                HashAlgorithm::Sha1 => oid::ECDSA_WITH_SHA_1,
                HashAlgorithm::Sha256 => rfc5912::ECDSA_WITH_SHA_256,
                HashAlgorithm::Sha384 => rfc5912::ECDSA_WITH_SHA_384,
                HashAlgorithm::Sha512 => rfc5912::ECDSA_WITH_SHA_512,
            },
            parameters: None,
        }),
    }
}

/// A time as RFC 5280 and RFC 5652 want it: UTCTime for 1950 to 2049, GeneralizedTime outside.
pub(crate) fn rfc5280_time(time: SystemTime) -> Result<Time> {
    let date = DateTime::from_system_time(time)
        .map_err(|e| Error::BadInput(format!("time out of range: {e}")))?;
    if (1950..2050).contains(&date.year()) {
        Ok(Time::UtcTime(
            UtcTime::from_date_time(date).map_err(encoding_error)?,
        ))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(date)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use der::Tagged;

    use super::*;
    use crate::demo::testutil::{openssl, openssl_status, read, shared_demo, Scratch};
    use crate::demo::{DemoToken, SIGN_KEY_ID};
    use crate::signer::{sign_with, SignFormat, SignInput};

    fn signing_cert(demo: &DemoToken) -> CertificateInfo {
        demo.certificates().unwrap().remove(0).info
    }

    fn demo_sign(
        input: SignInput,
        hash_alg: HashAlgorithm,
        format: SignFormat,
        opts: &CmsOptions,
    ) -> Vec<u8> {
        let demo = shared_demo();
        let mut calls = 0;
        let mut raw = |m: RawMechanism, data: &[u8]| {
            calls += 1;
            demo.sign_raw(SIGN_KEY_ID, m, data)
        };
        let out = sign_with(
            &mut raw,
            &signing_cert(demo),
            hash_alg,
            &input,
            format,
            opts,
        )
        .unwrap();
        assert_eq!(calls, 1, "the token is asked exactly once");
        out
    }

    /// Files for `openssl cms -verify`: the signature, the content, the root + issuer chain.
    fn verify_files(dir: &Scratch, cms: &[u8], content: &[u8]) -> (String, String, String) {
        let demo = shared_demo();
        (
            dir.file("sig.p7s", cms),
            dir.file("data.txt", content),
            dir.pem("chain.pem", &[demo.root_der(), demo.issuer_der()]),
        )
    }

    /// `openssl cms -verify` of a detached signature over `content`, against `chain`.
    fn verify_detached<'a>(
        sig: &'a str,
        content: &'a str,
        chain: &'a str,
        out: &'a str,
    ) -> [&'a str; 15] {
        [
            "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", content,
            "-CAfile", chain, "-purpose", "any", "-out", out,
        ]
    }

    fn decode(cms_der: &[u8]) -> SignedData {
        let info = ContentInfo::from_der(cms_der).unwrap();
        assert_eq!(info.content_type, rfc5911::ID_SIGNED_DATA);
        info.content.decode_as::<SignedData>().unwrap()
    }

    /// Time is a CHOICE, which `Any::decode_as` cannot target; go through its DER.
    fn time_of(any: &Any) -> Time {
        Time::from_der(&any.to_der().unwrap()).unwrap()
    }

    fn attribute_value(si: &SignerInfo, oid: ObjectIdentifier) -> Option<&Any> {
        let attrs = si.signed_attrs.as_ref()?;
        let attr = attrs.iter().find(|a| a.oid == oid)?;
        assert_eq!(attr.values.len(), 1);
        attr.values.get(0)
    }

    #[test]
    fn detached_verifies_with_openssl_for_every_hash() {
        let data = "申報 DEMO detached\n".repeat(50).into_bytes();
        for hash_alg in HashAlgorithm::ALL {
            let cms = demo_sign(
                SignInput::Data(data.clone()),
                hash_alg,
                SignFormat::Cms,
                &CmsOptions::default(),
            );
            let dir = Scratch::new();
            let (sig, content, chain) = verify_files(&dir, &cms, &data);
            openssl(&verify_detached(&sig, &content, &chain, &dir.path("out")));
            // And a changed content does not verify.
            let tampered = dir.file("tampered.txt", b"something else");
            let (ok, _, _) =
                openssl_status(&verify_detached(&sig, &tampered, &chain, &dir.path("out2")));
            assert!(
                !ok,
                "{} signature verified over the wrong content",
                hash_alg.name()
            );

            let sd = decode(&cms);
            assert_eq!(sd.version, CmsVersion::V1);
            assert!(sd.encap_content_info.econtent.is_none());
            assert_eq!(sd.certificates.as_ref().unwrap().0.len(), 1);
            let si = sd.signer_infos.0.get(0).unwrap();
            assert_eq!(si.version, CmsVersion::V1);
            assert_eq!(si.digest_alg.oid, hash_alg.oid());
            assert_eq!(si.signature_algorithm.oid, rfc5912::RSA_ENCRYPTION);
            assert!(matches!(si.sid, SignerIdentifier::IssuerAndSerialNumber(_)));
        }
    }

    #[test]
    fn without_signed_attributes_verifies_detached_and_attached() {
        let data = "SmartPKI 登入 DEMO\n".as_bytes().to_vec();
        let opts = CmsOptions {
            without_signed_attributes: true,
            ..CmsOptions::default()
        };
        for format in [SignFormat::Cms, SignFormat::CmsAttached] {
            let cms = demo_sign(
                SignInput::Data(data.clone()),
                HashAlgorithm::Sha256,
                format,
                &opts,
            );
            let si_attrs = decode(&cms)
                .signer_infos
                .0
                .get(0)
                .unwrap()
                .signed_attrs
                .clone();
            assert!(si_attrs.is_none(), "{format:?} carries signed attributes");
            let dir = Scratch::new();
            let (sig, content, chain) = verify_files(&dir, &cms, &data);
            let out = dir.path("out");
            if format == SignFormat::Cms {
                openssl(&verify_detached(&sig, &content, &chain, &out));
                let tampered = dir.file("tampered.txt", b"other");
                let (ok, _, _) =
                    openssl_status(&verify_detached(&sig, &tampered, &chain, &dir.path("o2")));
                assert!(!ok, "verified over the wrong content");
            } else {
                openssl(&[
                    "cms", "-verify", "-binary", "-inform", "DER", "-in", &sig, "-CAfile", &chain,
                    "-purpose", "any", "-out", &out,
                ]);
                assert_eq!(read(&out), data);
            }
        }
    }

    #[test]
    fn attached_verifies_and_returns_the_content() {
        let data = b"DEMO attached content \xe4\xb8\xad\xe6\x96\x87\n".to_vec();
        let cms = demo_sign(
            SignInput::Data(data.clone()),
            HashAlgorithm::Sha256,
            SignFormat::CmsAttached,
            &CmsOptions::default(),
        );
        let dir = Scratch::new();
        let (sig, _, chain) = verify_files(&dir, &cms, &data);
        let out = dir.path("out.txt");
        openssl(&[
            "cms", "-verify", "-binary", "-inform", "DER", "-in", &sig, "-CAfile", &chain,
            "-purpose", "any", "-out", &out,
        ]);
        assert_eq!(read(&out), data);
        let econtent = decode(&cms).encap_content_info.econtent.unwrap();
        assert_eq!(econtent.tag(), Tag::OctetString);
        assert_eq!(econtent.value(), data.as_slice());
    }

    #[test]
    fn legacy_attributes_are_signed() {
        let signing_time = UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01 00:00:00Z
        let opts = CmsOptions {
            signing_time: Some(signing_time),
            nonce: Some(b"nonce-1234".to_vec()),
            card_serial: Some("DEMO000000000001".into()),
            ..CmsOptions::default()
        };
        let data = b"with nonce and card serial".to_vec();
        let cms = demo_sign(
            SignInput::Data(data.clone()),
            HashAlgorithm::Sha256,
            SignFormat::Cms,
            &opts,
        );

        let sd = decode(&cms);
        let si = sd.signer_infos.0.get(0).unwrap();
        assert_eq!(si.signed_attrs.as_ref().unwrap().len(), 5);
        assert_eq!(
            attribute_value(si, rfc5911::ID_CONTENT_TYPE)
                .unwrap()
                .decode_as::<ObjectIdentifier>()
                .unwrap(),
            rfc5911::ID_DATA
        );
        assert_eq!(
            attribute_value(si, rfc5911::ID_MESSAGE_DIGEST)
                .unwrap()
                .value(),
            HashAlgorithm::Sha256.digest(&data).as_slice()
        );
        let time = attribute_value(si, rfc5911::ID_SIGNING_TIME).unwrap();
        assert_eq!(time.tag(), Tag::UtcTime);
        assert_eq!(time_of(time).to_system_time(), signing_time);
        let nonce = attribute_value(si, oid::NONCE).unwrap();
        assert_eq!(
            (nonce.tag(), nonce.value()),
            (Tag::OctetString, &b"nonce-1234"[..])
        );
        let serial = attribute_value(si, oid::CARD_SERIAL).unwrap();
        assert_eq!(
            (serial.tag(), serial.value()),
            (Tag::PrintableString, &b"DEMO000000000001"[..])
        );

        // openssl sees them too, and the signature over them verifies.
        let dir = Scratch::new();
        let (sig, content, chain) = verify_files(&dir, &cms, &data);
        let printed = openssl(&["cms", "-cmsout", "-print", "-inform", "DER", "-in", &sig]);
        for needle in [
            "signingTime",
            "UTCTIME:Jan  1 00:00:00 2026 GMT",
            "1.2.840.113549.1.9.25.3",
            "nonce-1234",
            "2.16.886.1.100.2.204",
            "DEMO000000000001",
            "rsaEncryption",
        ] {
            assert!(
                printed.contains(needle),
                "{needle} missing from:\n{printed}"
            );
        }
        openssl(&verify_detached(&sig, &content, &chain, &dir.path("out")));
    }

    #[test]
    fn signing_time_defaults_to_now() {
        let before = SystemTime::now() - Duration::from_secs(1);
        let cms = demo_sign(
            SignInput::Data(b"x".to_vec()),
            HashAlgorithm::Sha256,
            SignFormat::Cms,
            &CmsOptions::default(),
        );
        let sd = decode(&cms);
        let si = sd.signer_infos.0.get(0).unwrap();
        let time = time_of(attribute_value(si, rfc5911::ID_SIGNING_TIME).unwrap());
        assert!(time.to_system_time() >= before);
        assert!(time.to_system_time() <= SystemTime::now());
        assert!(attribute_value(si, oid::NONCE).is_none());
        assert!(attribute_value(si, oid::CARD_SERIAL).is_none());
    }

    #[test]
    fn precomputed_hash_gives_the_same_verifiable_signature() {
        let data = b"hash computed by the page".to_vec();
        let opts = CmsOptions {
            signing_time: Some(SystemTime::now()),
            ..CmsOptions::default()
        };
        for hash_alg in [HashAlgorithm::Sha256, HashAlgorithm::Sha512] {
            let from_data = demo_sign(
                SignInput::Data(data.clone()),
                hash_alg,
                SignFormat::Cms,
                &opts,
            );
            let from_hash = demo_sign(
                SignInput::Hash(hash_alg.digest(&data)),
                hash_alg,
                SignFormat::Cms,
                &opts,
            );
            // Same attributes, deterministic RSA: byte-identical.
            assert_eq!(from_data, from_hash);
            let dir = Scratch::new();
            let (sig, content, chain) = verify_files(&dir, &from_hash, &data);
            openssl(&verify_detached(&sig, &content, &chain, &dir.path("out")));
        }
    }

    #[test]
    fn signing_times_outside_utctime_use_generalizedtime() {
        let late = UNIX_EPOCH + Duration::from_secs(2_556_057_600); // 2051-01-01
        assert!(matches!(rfc5280_time(late).unwrap(), Time::GeneralTime(_)));
        assert!(matches!(
            rfc5280_time(SystemTime::now()).unwrap(),
            Time::UtcTime(_)
        ));
    }

    #[test]
    fn card_serial_that_is_not_printable_is_utf8() {
        assert_eq!(
            text_value("TP12345678901234").unwrap().tag(),
            Tag::PrintableString
        );
        assert_eq!(text_value("卡號 1").unwrap().tag(), Tag::Utf8String);
    }
}
