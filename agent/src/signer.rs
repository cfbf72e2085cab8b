//! Signature formats and the orchestration of a signature: hash, DigestInfo, the card's raw
//! operation, and CMS packaging.

use der::asn1::{AnyRef, OctetStringRef, UintRef};
use der::{Encode, Sequence};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierRef;

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
}

/// The raw private-key operation a token performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawMechanism {
    /// CKM_RSA_PKCS: PKCS#1 v1.5 padding of the given DigestInfo, then the RSA operation.
    RsaPkcs1,
    /// CKM_ECDSA over the given hash; output is r || s.
    Ecdsa,
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
    if raw.is_empty() || raw.len() % 2 != 0 || raw.len() > 132 {
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

/// A DER encoding failure of our own structures: a bug, not bad input.
pub(crate) fn encoding_error(e: der::Error) -> Error {
    Error::Internal(format!("DER encoding failed: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::ecdsa::{Signature, SigningKey};

    use super::*;

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
}
