//! Signature formats and the orchestration of a signature: hash, DigestInfo, the card's raw
//! operation, and CMS packaging.

use der::asn1::{AnyRef, OctetStringRef, UintRef};
use der::{Encode, Sequence};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierRef;

use crate::certificate::{CertificateInfo, KeyAlgorithm};
use crate::cms_signature::{self, Content};
use crate::error::{Error, Result};

/// Hash algorithms a caller may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1 (legacy pages still ask for it).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Every hash algorithm, weakest first.
    pub const ALL: [HashAlgorithm; 4] = [
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ];

    /// Parses `sha256`, `SHA-256`, `SHA256` and the like.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Some(HashAlgorithm::Sha1),
            "sha256" => Some(HashAlgorithm::Sha256),
            "sha384" => Some(HashAlgorithm::Sha384),
            "sha512" => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
            HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
            HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
            HashAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// The algorithm's object identifier.
    pub fn oid(self) -> const_oid::ObjectIdentifier {
        use const_oid::db::rfc5912;
        match self {
            HashAlgorithm::Sha1 => rfc5912::ID_SHA_1,
            HashAlgorithm::Sha256 => rfc5912::ID_SHA_256,
            HashAlgorithm::Sha384 => rfc5912::ID_SHA_384,
            HashAlgorithm::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// Lower-case name, e.g. `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha1 => "sha1",
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha384 => "sha384",
            HashAlgorithm::Sha512 => "sha512",
        }
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignFormat {
    /// The bare signature: RSA PKCS#1 v1.5, or DER ECDSA-Sig-Value for EC keys.
    Pkcs1,
    /// CMS SignedData without the content (detached).
    Cms,
    /// CMS SignedData with the content inside.
    CmsAttached,
}

impl SignFormat {
    /// Parses `pkcs1`, `cms`, `cms-attached`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pkcs1" => Some(SignFormat::Pkcs1),
            "cms" => Some(SignFormat::Cms),
            "cms-attached" => Some(SignFormat::CmsAttached),
            _ => None,
        }
    }
}

/// What is signed: the data itself, or a hash the caller computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInput {
    /// The data; the agent hashes it.
    Data(Vec<u8>),
    /// A precomputed hash of the data; its length must match the hash algorithm.
    Hash(Vec<u8>),
}

/// Extra signed attributes for CMS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmsOptions {
    /// signingTime; `None` means now.
    pub signing_time: Option<std::time::SystemTime>,
    /// A nonce attribute (OID 1.2.840.113549.1.9.25.3), as legacy pages ask for.
    pub nonce: Option<Vec<u8>>,
    /// The card serial attribute (OID 2.16.886.1.100.2.204), as legacy pages ask for.
    pub card_serial: Option<String>,
    /// No signed attributes at all (OpenSSL's `PKCS7_NOATTR`, which SmartPKI pages ask for):
    /// the signature is over the content's digest itself, and the options above are unused.
    pub without_signed_attributes: bool,
}

/// The raw private-key operation a token performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawMechanism {
    /// CKM_RSA_PKCS: PKCS#1 v1.5 padding of the given DigestInfo, then the RSA operation.
    RsaPkcs1,
    /// CKM_ECDSA over the given hash; output is r || s.
    Ecdsa,
}

/// The token's private-key operation as [`sign_with`] calls it: mechanism and input in, the
/// raw result (PKCS#1 v1.5 signature, or ECDSA `r || s`) out.
pub type RawSign<'a> = dyn FnMut(RawMechanism, &[u8]) -> Result<Vec<u8>> + 'a;

/// Verifies a bare signature (PKCS#1 v1.5 for RSA, DER ECDSA for P-256) over `data` with the
/// certificate's public key: the agent's own check of what a card produced.
pub fn verify(
    cert: &CertificateInfo,
    hash_alg: HashAlgorithm,
    data: &[u8],
    signature: &[u8],
) -> Result<bool> {
    use spki::DecodePublicKey as _;
    use x509_cert::der::{Decode as _, Encode as _};
    let parsed = x509_cert::Certificate::from_der(&cert.der)
        .map_err(|e| Error::Certificate(e.to_string()))?;
    let spki = parsed
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| Error::Certificate(e.to_string()))?;
    let digest = hash_alg.digest(data);
    match cert.key_algorithm {
        KeyAlgorithm::Rsa { .. } => {
            let key = rsa::RsaPublicKey::from_public_key_der(&spki)
                .map_err(|e| Error::Certificate(e.to_string()))?;
            let scheme = match hash_alg {
                HashAlgorithm::Sha1 => rsa::Pkcs1v15Sign::new::<Sha1>(),
                HashAlgorithm::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                HashAlgorithm::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                HashAlgorithm::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
            };
            Ok(key.verify(scheme, &digest, signature).is_ok())
        }
        KeyAlgorithm::Ec { bits: 256 } => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki)
                .map_err(|e| Error::Certificate(e.to_string()))?;
            let Ok(sig) = p256::ecdsa::Signature::from_der(signature) else {
                return Ok(false);
            };
            Ok(key.verify_prehash(&digest, &sig).is_ok())
        }
        other => Err(Error::Unsupported(format!(
            "verifying a {} signature",
            other.name()
        ))),
    }
}

/// Checks a precomputed hash's length against its algorithm.
pub fn check_hash(hash_alg: HashAlgorithm, hash: &[u8]) -> Result<()> {
    if hash.len() != hash_alg.output_len() {
        return Err(Error::BadInput(format!(
            "a {} hash is {} bytes, got {}",
            hash_alg.name(),
            hash_alg.output_len(),
            hash.len()
        )));
    }
    Ok(())
}

/// `DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING }`
/// (RFC 8017 section 9.2), the value an RSA PKCS#1 v1.5 signature wraps.
#[derive(Sequence)]
struct DigestInfo<'a> {
    digest_algorithm: AlgorithmIdentifierRef<'a>,
    digest: OctetStringRef<'a>,
}

/// The DER DigestInfo of `hash`, the input CKM_RSA_PKCS expects for a signature.
///
/// The algorithm parameters are an explicit NULL, as RFC 8017 prescribes and as every RSA
/// verifier expects byte for byte.
pub fn digest_info(hash_alg: HashAlgorithm, hash: &[u8]) -> Result<Vec<u8>> {
    check_hash(hash_alg, hash)?;
    DigestInfo {
        digest_algorithm: AlgorithmIdentifierRef {
            oid: hash_alg.oid(),
            parameters: Some(AnyRef::NULL),
        },
        digest: OctetStringRef::new(hash).map_err(encoding_error)?,
    }
    .to_der()
    .map_err(encoding_error)
}

/// `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279 section 2.2.3).
#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// Converts the `r || s` that CKM_ECDSA returns into a DER ECDSA-Sig-Value.
///
/// Works for any curve: the two halves are equal-length big-endian integers. Only a token
/// produces this input, so a length that cannot be `r || s` or a zero half is reported as
/// [`Error::Internal`] (the token misbehaved), not as a caller error.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>> {
    // 132 bytes is r || s for P-521, the largest curve PKCS#11 tokens offer.
    if raw.is_empty() || !raw.len().is_multiple_of(2) || raw.len() > 132 {
        return Err(Error::Internal(format!(
            "the token returned a {}-byte ECDSA signature, which cannot be r || s",
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    if r.iter().all(|b| *b == 0) || s.iter().all(|b| *b == 0) {
        return Err(Error::Internal(
            "the token returned an ECDSA signature with r or s zero".into(),
        ));
    }
    EcdsaSigValue {
        r: UintRef::new(r).map_err(encoding_error)?,
        s: UintRef::new(s).map_err(encoding_error)?,
    }
    .to_der()
    .map_err(encoding_error)
}

/// Signs `input` with the certificate's private key through `raw_sign`, in `format`.
///
/// `raw_sign` is the token's private-key operation and is called exactly once: for RSA keys
/// with [`RawMechanism::RsaPkcs1`] and a DigestInfo, for EC keys with [`RawMechanism::Ecdsa`]
/// and a bare hash (it returns `r || s`). The mechanism follows `cert.key_algorithm`.
///
/// - [`SignFormat::Pkcs1`]: the bare signature (DER ECDSA-Sig-Value for EC keys).
/// - [`SignFormat::Cms`] / [`SignFormat::CmsAttached`]: a DER CMS ContentInfo with SignedData,
///   built by [`cms_signature::build`] with the attributes in `cms`.
///
/// A precomputed [`SignInput::Hash`] must have the algorithm's length, and cannot be used with
/// [`SignFormat::CmsAttached`] since the content itself is not available.
pub fn sign_with(
    raw_sign: &mut RawSign<'_>,
    cert: &CertificateInfo,
    hash_alg: HashAlgorithm,
    input: &SignInput,
    format: SignFormat,
    cms: &CmsOptions,
) -> Result<Vec<u8>> {
    // Refuse an unusable key before touching the data or the token.
    supported_key(cert.key_algorithm)?;
    let hash = match input {
        // Signing nothing is almost always a caller's bug (an unread file, an empty form), and a
        // signature over nothing could be replayed onto any empty document.
        SignInput::Data(data) if data.is_empty() => {
            return Err(Error::BadInput(
                "there is nothing to sign: the data is empty".into(),
            ))
        }
        SignInput::Data(data) => hash_alg.digest(data),
        SignInput::Hash(hash) => {
            check_hash(hash_alg, hash)?;
            hash.clone()
        }
    };
    match (format, input) {
        (SignFormat::Pkcs1, _) => sign_digest(raw_sign, cert.key_algorithm, hash_alg, &hash),
        (SignFormat::Cms, _) => cms_signature::build(
            Content::Detached { digest: &hash },
            hash_alg,
            cert,
            cms,
            raw_sign,
        ),
        (SignFormat::CmsAttached, SignInput::Data(data)) => {
            cms_signature::build(Content::Attached(data), hash_alg, cert, cms, raw_sign)
        }
        (SignFormat::CmsAttached, SignInput::Hash(_)) => Err(Error::BadInput(
            "an attached CMS signature needs the data itself, not its hash".into(),
        )),
    }
}

/// Signs a digest with the key kind's mechanism: one call to `raw_sign`, and the result in its
/// final form (PKCS#1 v1.5 bytes for RSA, DER ECDSA-Sig-Value for EC).
pub(crate) fn sign_digest(
    raw_sign: &mut RawSign<'_>,
    key: KeyAlgorithm,
    hash_alg: HashAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>> {
    match supported_key(key)? {
        RawMechanism::RsaPkcs1 => raw_sign(RawMechanism::RsaPkcs1, &digest_info(hash_alg, digest)?),
        RawMechanism::Ecdsa => {
            check_hash(hash_alg, digest)?;
            ecdsa_raw_to_der(&raw_sign(RawMechanism::Ecdsa, digest)?)
        }
    }
}

/// The raw mechanism for a key, or [`Error::Unsupported`].
pub(crate) fn supported_key(key: KeyAlgorithm) -> Result<RawMechanism> {
    match key {
        KeyAlgorithm::Rsa { .. } => Ok(RawMechanism::RsaPkcs1),
        KeyAlgorithm::Ec { .. } => Ok(RawMechanism::Ecdsa),
        KeyAlgorithm::Other => Err(Error::Unsupported(
            "the certificate's key is neither RSA nor EC".into(),
        )),
    }
}

/// A DER encoding failure of our own structures: a bug, not bad input.
pub(crate) fn encoding_error(e: der::Error) -> Error {
    Error::Internal(format!("DER encoding failed: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey;

    use super::*;
    use crate::demo::testutil::{openssl, shared_demo, Scratch};
    use crate::demo::{CertUsage, Holder};

    #[test]
    fn digest_info_matches_rfc_8017() {
        // RFC 8017 section 9.2, note 1: the DER prefixes T minus the hash.
        let prefixes: [(HashAlgorithm, &str); 4] = [
            (HashAlgorithm::Sha1, "3021300906052b0e03021a05000414"),
            (
                HashAlgorithm::Sha256,
                "3031300d060960864801650304020105000420",
            ),
            (
                HashAlgorithm::Sha384,
                "3041300d060960864801650304020205000430",
            ),
            (
                HashAlgorithm::Sha512,
                "3051300d060960864801650304020305000440",
            ),
        ];
        for (hash_alg, prefix) in prefixes {
            let hash = hash_alg.digest(b"abc");
            let expected = [hex::decode(prefix).unwrap(), hash.clone()].concat();
            assert_eq!(
                digest_info(hash_alg, &hash).unwrap(),
                expected,
                "{}",
                hash_alg.name()
            );
        }
    }

    #[test]
    fn digest_info_refuses_a_hash_of_the_wrong_length() {
        assert!(matches!(
            digest_info(HashAlgorithm::Sha256, &[0; 20]),
            Err(Error::BadInput(_))
        ));
    }

    #[test]
    fn ecdsa_raw_to_der_matches_the_ecdsa_crate() {
        let key = SigningKey::random(&mut rand::thread_rng());
        let mut raws: Vec<Vec<u8>> = (0..20u8)
            .map(|i| {
                let sig: Signature = key.sign_prehash(&[i; 32]).unwrap();
                sig.to_bytes().to_vec()
            })
            .collect();
        // High bit set (needs a 0x00 pad) and leading zeros (must be stripped).
        let mut edge = vec![0x80; 32];
        edge.extend([0; 31]);
        edge.push(1);
        raws.push(edge);
        for raw in raws {
            let expected = Signature::from_slice(&raw).unwrap().to_der();
            assert_eq!(ecdsa_raw_to_der(&raw).unwrap(), expected.as_bytes());
        }
    }

    #[test]
    fn ecdsa_raw_to_der_refuses_what_cannot_be_r_and_s() {
        for raw in [
            vec![],
            vec![1; 63],
            vec![1; 134],
            [vec![0; 32], vec![1; 32]].concat(),
        ] {
            assert!(
                matches!(ecdsa_raw_to_der(&raw), Err(Error::Internal(_))),
                "{}",
                raw.len()
            );
        }
    }

    #[test]
    fn sign_with_refuses_before_calling_the_token() {
        let mut cert = shared_demo().certificates().unwrap().remove(0).info;
        let mut calls = 0;
        let mut raw = |_: RawMechanism, _: &[u8]| -> Result<Vec<u8>> {
            calls += 1;
            Ok(vec![])
        };
        let opts = CmsOptions::default();
        let hash = SignInput::Hash(vec![0; 32]);
        let r = sign_with(
            &mut raw,
            &cert,
            HashAlgorithm::Sha256,
            &hash,
            SignFormat::CmsAttached,
            &opts,
        );
        assert!(matches!(r, Err(Error::BadInput(_))));
        let short = SignInput::Hash(vec![0; 31]);
        let r = sign_with(
            &mut raw,
            &cert,
            HashAlgorithm::Sha256,
            &short,
            SignFormat::Pkcs1,
            &opts,
        );
        assert!(matches!(r, Err(Error::BadInput(_))));
        cert.key_algorithm = KeyAlgorithm::Other;
        let data = SignInput::Data(b"x".to_vec());
        let r = sign_with(
            &mut raw,
            &cert,
            HashAlgorithm::Sha256,
            &data,
            SignFormat::Cms,
            &opts,
        );
        assert!(matches!(r, Err(Error::Unsupported(_))));
        assert_eq!(calls, 0);
    }

    #[test]
    fn token_errors_pass_through() {
        let cert = shared_demo().certificates().unwrap().remove(0).info;
        let mut raw = |_: RawMechanism, _: &[u8]| -> Result<Vec<u8>> { Err(Error::PinLocked) };
        let data = SignInput::Data(b"x".to_vec());
        for format in [SignFormat::Pkcs1, SignFormat::Cms, SignFormat::CmsAttached] {
            let r = sign_with(
                &mut raw,
                &cert,
                HashAlgorithm::Sha256,
                &data,
                format,
                &CmsOptions::default(),
            );
            assert!(matches!(r, Err(Error::PinLocked)));
        }
    }

    /// An EC P-256 key held "on the token" (here, in the test closure), with a certificate
    /// from the demo's test PKI.
    #[test]
    fn ec_signatures_verify_with_openssl() {
        let demo = shared_demo();
        let key = SigningKey::random(&mut rand::thread_rng());
        let spki = key.verifying_key().to_public_key_der().unwrap();
        let holder = Holder {
            name: "EC TEST".into(),
            serial_number: "1111222233334444".into(),
            ..Holder::default()
        };
        let cert_der = demo
            .pki()
            .issue(&holder, spki.as_bytes(), CertUsage::Signing, 30)
            .unwrap();
        let cert = CertificateInfo::parse(&cert_der).unwrap();
        assert_eq!(cert.key_algorithm, KeyAlgorithm::Ec { bits: 256 });

        let dir = Scratch::new();
        let public_key = dir.public_key("ec.pub.pem", &cert_der);
        let chain = dir.pem("chain.pem", &[demo.root_der(), demo.issuer_der()]);
        let data = b"EC DEMO data".to_vec();
        let data_path = dir.file("data.txt", &data);
        for hash_alg in HashAlgorithm::ALL {
            let expected_hash = hash_alg.digest(&data);
            let mut calls = 0;
            let mut raw = |m: RawMechanism, input: &[u8]| -> Result<Vec<u8>> {
                calls += 1;
                assert_eq!(m, RawMechanism::Ecdsa);
                assert_eq!(input.len(), hash_alg.output_len());
                let sig: Signature = key.sign_prehash(input).unwrap();
                Ok(sig.to_bytes().to_vec())
            };
            let input = SignInput::Data(data.clone());
            let opts = CmsOptions::default();
            let sig =
                sign_with(&mut raw, &cert, hash_alg, &input, SignFormat::Pkcs1, &opts).unwrap();
            let sig_path = dir.file("ec.sig", &sig);
            let digest_flag = format!("-{}", hash_alg.name());
            openssl(&[
                "dgst",
                &digest_flag,
                "-verify",
                &public_key,
                "-signature",
                &sig_path,
                &data_path,
            ]);

            let cms = sign_with(
                &mut raw,
                &cert,
                hash_alg,
                &SignInput::Hash(expected_hash),
                SignFormat::Cms,
                &opts,
            )
            .unwrap();
            let cms_path = dir.file("ec.p7s", &cms);
            openssl(&[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                &cms_path,
                "-content",
                &data_path,
                "-CAfile",
                &chain,
                "-purpose",
                "any",
                "-out",
                &dir.path("out"),
            ]);
            let printed = openssl(&[
                "cms", "-cmsout", "-print", "-inform", "DER", "-in", &cms_path,
            ]);
            let ecdsa_name = format!("ecdsa-with-{}", hash_alg.name().to_uppercase());
            assert!(
                printed.contains(&ecdsa_name),
                "{ecdsa_name} missing:\n{printed}"
            );
            assert_eq!(calls, 2);
        }
    }
}
