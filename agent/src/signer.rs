//! Signature formats and the orchestration of a signature: hash, DigestInfo, the card's raw
//! operation, and CMS packaging.

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

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
