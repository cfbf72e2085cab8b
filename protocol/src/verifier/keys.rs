//! Public keys from certificates and the signature checks the verifier makes with them.

use const_oid::db::rfc5912;
use der::asn1::ObjectIdentifier;
use der::Encode;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::{DecodePublicKey, SubjectPublicKeyInfoOwned};

use super::VerifyError;
use crate::auth::AuthAlgorithm;
use crate::message::HashAlgorithm;

/// Smallest RSA modulus accepted anywhere in a chain. Government CAs moved past 1024-bit keys
/// long ago; anything smaller is factorable.
pub(super) const MIN_RSA_BITS: usize = 2048;

/// A key the verifier can check signatures with.
pub(super) enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo; the error says why the key is unusable.
    pub(super) fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, String> {
        let der = spki
            .to_der()
            .map_err(|e| format!("the public key cannot be encoded: {e}"))?;
        match spki.algorithm.oid {
            rfc5912::RSA_ENCRYPTION => {
                let key = RsaPublicKey::from_public_key_der(&der)
                    .map_err(|e| format!("invalid RSA public key: {e}"))?;
                let bits = key.size() * 8;
                if bits < MIN_RSA_BITS {
                    return Err(format!(
                        "RSA key of {bits} bits; at least {MIN_RSA_BITS} are required"
                    ));
                }
                Ok(PublicKey::Rsa(key))
            }
            rfc5912::ID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
                match curve {
                    Some(rfc5912::SECP_256_R_1) => {
                        p256::ecdsa::VerifyingKey::from_public_key_der(&der)
                            .map(PublicKey::P256)
                            .map_err(|e| format!("invalid P-256 public key: {e}"))
                    }
                    Some(rfc5912::SECP_384_R_1) => {
                        p384::ecdsa::VerifyingKey::from_public_key_der(&der)
                            .map(PublicKey::P384)
                            .map_err(|e| format!("invalid P-384 public key: {e}"))
                    }
                    Some(other) => Err(format!("EC curve {other} is not P-256 or P-384")),
                    None => Err("EC key without a named curve".to_owned()),
                }
            }
            other => Err(format!("key algorithm {other} is not RSA or EC")),
        }
    }

    /// `RSA`, `EC P-256` or `EC P-384`.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            PublicKey::Rsa(_) => "RSA",
            PublicKey::P256(_) => "EC P-256",
            PublicKey::P384(_) => "EC P-384",
        }
    }

    /// Checks that a token algorithm fits this key: RSxxx for RSA, ES256 for P-256, ES384 for
    /// P-384 (as in JOSE, the curve fixes the ECDSA algorithm).
    pub(super) fn check_algorithm(&self, algorithm: AuthAlgorithm) -> Result<(), VerifyError> {
        let fits = match self {
            PublicKey::Rsa(_) => algorithm.is_rsa(),
            PublicKey::P256(_) => algorithm == AuthAlgorithm::Es256,
            PublicKey::P384(_) => algorithm == AuthAlgorithm::Es384,
        };
        if fits {
            Ok(())
        } else {
            Err(VerifyError::AlgorithmKeyMismatch {
                algorithm: algorithm.as_str(),
                key: self.kind(),
            })
        }
    }

    /// Verifies a token signature over `message` (hashed with the algorithm's hash).
    pub(super) fn verify_message(
        &self,
        algorithm: AuthAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), ()> {
        let hash = algorithm.hash();
        let digest = digest(hash, message).ok_or(())?;
        self.verify_digest(hash, &digest, signature)
    }

    /// Verifies a signature over a digest already computed with `hash`: PKCS#1 v1.5 for RSA,
    /// a DER ECDSA-Sig-Value for EC.
    pub(super) fn verify_digest(
        &self,
        hash: HashAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), ()> {
        match self {
            PublicKey::Rsa(key) => {
                let scheme = match hash {
                    HashAlgorithm::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                    HashAlgorithm::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                    HashAlgorithm::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
                    HashAlgorithm::Sha1 => return Err(()),
                };
                key.verify(scheme, digest, signature).map_err(|_| ())
            }
            PublicKey::P256(key) => {
                let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| ())?;
                key.verify_prehash(digest, &sig).map_err(|_| ())
            }
            PublicKey::P384(key) => {
                let sig = p384::ecdsa::Signature::from_der(signature).map_err(|_| ())?;
                key.verify_prehash(digest, &sig).map_err(|_| ())
            }
        }
    }
}

/// The digest of `data`; `None` for SHA-1, which the verifier never accepts.
pub(super) fn digest(hash: HashAlgorithm, data: &[u8]) -> Option<Vec<u8>> {
    match hash {
        HashAlgorithm::Sha256 => Some(Sha256::digest(data).to_vec()),
        HashAlgorithm::Sha384 => Some(Sha384::digest(data).to_vec()),
        HashAlgorithm::Sha512 => Some(Sha512::digest(data).to_vec()),
        HashAlgorithm::Sha1 => None,
    }
}

/// ecdsa-with-SHA1 (RFC 3279), absent from const-oid's RFC 5912 table.
const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");

/// The hash of a certificate signature algorithm, or why it is refused.
pub(super) fn certificate_signature_hash(oid: ObjectIdentifier) -> Result<HashAlgorithm, String> {
    match oid {
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION | rfc5912::ECDSA_WITH_SHA_256 => {
            Ok(HashAlgorithm::Sha256)
        }
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION | rfc5912::ECDSA_WITH_SHA_384 => {
            Ok(HashAlgorithm::Sha384)
        }
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION | rfc5912::ECDSA_WITH_SHA_512 => {
            Ok(HashAlgorithm::Sha512)
        }
        rfc5912::SHA_1_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_1 => {
            Err("SHA-1 certificate signatures are not accepted".to_owned())
        }
        other => Err(format!(
            "certificate signature algorithm {other} is not supported"
        )),
    }
}

/// Whether the signature algorithm's key type matches the issuer key (an RSA OID under an EC
/// key or the reverse is refused rather than tried).
pub(super) fn signature_fits_key(oid: ObjectIdentifier, key: &PublicKey) -> bool {
    let rsa = matches!(
        oid,
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION
            | rfc5912::SHA_384_WITH_RSA_ENCRYPTION
            | rfc5912::SHA_512_WITH_RSA_ENCRYPTION
    );
    rsa == matches!(key, PublicKey::Rsa(_))
}
