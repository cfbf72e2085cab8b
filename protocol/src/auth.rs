//! Origin-bound authentication: the token `authenticate` returns, and exactly what is signed.
//!
//! A relying party sends a fresh random challenge nonce to its page; the page asks the agent
//! to `authenticate`; the extension adds the page's origin as the browser reports it; the card
//! signs
//!
//! ```text
//! SHA-256(origin) || SHA-256(challengeNonce)          (64 bytes, see auth_signed_message)
//! ```
//!
//! with RSASSA-PKCS1-v1_5 or ECDSA under the token's algorithm, whose hash is applied to those
//! 64 bytes as for any message (so the card signs `hash(SHA-256(origin) || SHA-256(nonce))`).
//! The server recomputes the message from *its own* origin and the nonce it issued, so a token
//! captured by another site, or replayed with another nonce, does not verify. This is Web eID's
//! construction, under its own format name so neither side can mistake one token for the other.
//!
//! The server side of the check is the `verifier` module (cargo feature `verifier`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::encoding::{decode_base64, encode_base64};
use crate::message::HashAlgorithm;

/// The token's `format`. A new construction gets a new format string.
pub const AUTH_TOKEN_FORMAT: &str = "card-agent-auth:1";

/// Shortest challenge nonce, in decoded bytes: 32 (256 bits), as Web eID requires, so guessing
/// or colliding with a live nonce is out of reach.
pub const MIN_NONCE_BYTES: usize = 32;

/// Longest challenge nonce, in characters. Generous for any real nonce; keeps a page from
/// making the agent hash and log a megabyte.
pub const MAX_NONCE_CHARS: usize = 1024;

/// Signature algorithms of an authentication token, with JOSE names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthAlgorithm {
    /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256.
    #[serde(rename = "RS256")]
    Rs256,
    /// `RS384`: RSASSA-PKCS1-v1_5 with SHA-384.
    #[serde(rename = "RS384")]
    Rs384,
    /// `RS512`: RSASSA-PKCS1-v1_5 with SHA-512.
    #[serde(rename = "RS512")]
    Rs512,
    /// `ES256`: ECDSA on P-256 with SHA-256, DER ECDSA-Sig-Value.
    #[serde(rename = "ES256")]
    Es256,
    /// `ES384`: ECDSA on P-384 with SHA-384, DER ECDSA-Sig-Value.
    #[serde(rename = "ES384")]
    Es384,
}

impl AuthAlgorithm {
    /// Every algorithm.
    pub const ALL: &'static [AuthAlgorithm] = &[
        AuthAlgorithm::Rs256,
        AuthAlgorithm::Rs384,
        AuthAlgorithm::Rs512,
        AuthAlgorithm::Es256,
        AuthAlgorithm::Es384,
    ];

    /// The wire name, e.g. `RS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthAlgorithm::Rs256 => "RS256",
            AuthAlgorithm::Rs384 => "RS384",
            AuthAlgorithm::Rs512 => "RS512",
            AuthAlgorithm::Es256 => "ES256",
            AuthAlgorithm::Es384 => "ES384",
        }
    }

    /// Parses the exact wire name.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == s)
    }

    /// The hash applied to the signed message.
    pub fn hash(self) -> HashAlgorithm {
        match self {
            AuthAlgorithm::Rs256 | AuthAlgorithm::Es256 => HashAlgorithm::Sha256,
            AuthAlgorithm::Rs384 | AuthAlgorithm::Es384 => HashAlgorithm::Sha384,
            AuthAlgorithm::Rs512 => HashAlgorithm::Sha512,
        }
    }

    /// True for the RSA algorithms.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            AuthAlgorithm::Rs256 | AuthAlgorithm::Rs384 | AuthAlgorithm::Rs512
        )
    }
}

/// The `authenticate` result, sent by the page to its server and checked there.
///
/// Every field is unverified until `verifier::verify` (feature `verifier`) says otherwise; `format` and
/// `algorithm` are kept as strings so that an unknown value is reported as such rather than as
/// a parse failure. Unknown fields are ignored: the format string, not the field set, says
/// what a token means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthToken {
    /// [`AUTH_TOKEN_FORMAT`].
    pub format: String,
    /// The signer's certificate, base64 DER (standard, padded).
    pub unverified_certificate: String,
    /// An [`AuthAlgorithm`] wire name.
    pub algorithm: String,
    /// The signature over [`auth_signed_message`], base64: PKCS#1 v1.5 bytes for RSA, a DER
    /// ECDSA-Sig-Value for EC.
    pub signature: String,
    /// `card-agent/<version>`, for diagnostics only (never trust it).
    pub app_version: String,
}

impl AuthToken {
    /// Builds a token from the certificate DER, the algorithm, the signature bytes and the
    /// agent's version (e.g. `0.1.0`).
    pub fn new(
        certificate_der: &[u8],
        algorithm: AuthAlgorithm,
        signature: &[u8],
        agent_version: &str,
    ) -> Self {
        AuthToken {
            format: AUTH_TOKEN_FORMAT.to_owned(),
            unverified_certificate: encode_base64(certificate_der),
            algorithm: algorithm.as_str().to_owned(),
            signature: encode_base64(signature),
            app_version: format!("card-agent/{agent_version}"),
        }
    }
}

/// The 64 bytes the card signs: `SHA-256(origin) || SHA-256(nonce)`, with `origin` the exact
/// ASCII serialisation (`https://example.gov.tw`, no trailing slash) and `nonce` the UTF-8 of
/// the nonce string as sent (not its decoded bytes).
pub fn auth_signed_message(origin: &str, nonce: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(64);
    message.extend_from_slice(&Sha256::digest(origin.as_bytes()));
    message.extend_from_slice(&Sha256::digest(nonce.as_bytes()));
    message
}

/// Why a challenge nonce was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NonceError {
    /// Over [`MAX_NONCE_CHARS`].
    #[error("the challenge nonce is {len} characters long; at most {max_chars} are allowed")]
    TooLong {
        /// Its length in characters.
        len: usize,
        /// [`MAX_NONCE_CHARS`].
        max_chars: usize,
    },
    /// Not base64.
    #[error(
        "the challenge nonce must be base64 (standard or URL-safe alphabet, padding optional)"
    )]
    NotBase64,
    /// Decodes to fewer than [`MIN_NONCE_BYTES`].
    #[error(
        "the challenge nonce carries {bits} bits; at least {min_bits} random bits are required"
    )]
    TooShort {
        /// Bits it decodes to.
        bits: usize,
        /// `8 * MIN_NONCE_BYTES`.
        min_bits: usize,
    },
}

/// Checks a challenge nonce: base64 (standard or URL-safe, padded or not), decoding to at
/// least [`MIN_NONCE_BYTES`], at most [`MAX_NONCE_CHARS`] characters. Randomness cannot be
/// checked here; the server must draw it from a CSPRNG.
pub fn check_nonce(nonce: &str) -> Result<(), NonceError> {
    let len = nonce.chars().count();
    if len > MAX_NONCE_CHARS {
        return Err(NonceError::TooLong {
            len,
            max_chars: MAX_NONCE_CHARS,
        });
    }
    let bytes = decode_base64(nonce).map_err(|_| NonceError::NotBase64)?;
    if bytes.len() < MIN_NONCE_BYTES {
        return Err(NonceError::TooShort {
            bits: bytes.len() * 8,
            min_bits: MIN_NONCE_BYTES * 8,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_message_is_two_sha256_digests() {
        let m = auth_signed_message("https://example.gov.tw", "nonce");
        assert_eq!(m.len(), 64);
        assert_eq!(
            &m[..32],
            Sha256::digest(b"https://example.gov.tw").as_slice()
        );
        assert_eq!(&m[32..], Sha256::digest(b"nonce").as_slice());
        // Moving bytes between origin and nonce changes the message: no ambiguity.
        assert_ne!(m, auth_signed_message("https://example.gov.twn", "once"));
    }

    #[test]
    fn nonce_bounds() {
        let ok = encode_base64(&[7u8; 32]);
        assert_eq!(check_nonce(&ok), Ok(()));
        assert_eq!(check_nonce(ok.trim_end_matches('=')), Ok(()));
        assert_eq!(
            check_nonce(&encode_base64(&[7u8; 31])),
            Err(NonceError::TooShort {
                bits: 248,
                min_bits: 256
            })
        );
        assert_eq!(
            check_nonce(""),
            Err(NonceError::TooShort {
                bits: 0,
                min_bits: 256
            })
        );
        assert_eq!(check_nonce("not base64!"), Err(NonceError::NotBase64));
        let long = "A".repeat(MAX_NONCE_CHARS + 4);
        assert_eq!(
            check_nonce(&long),
            Err(NonceError::TooLong {
                len: MAX_NONCE_CHARS + 4,
                max_chars: MAX_NONCE_CHARS
            })
        );
        // The largest allowed nonce (1024 base64 chars = 768 bytes) passes.
        assert_eq!(check_nonce(&"A".repeat(MAX_NONCE_CHARS)), Ok(()));
    }

    #[test]
    fn algorithm_names_and_hashes() {
        for &a in AuthAlgorithm::ALL {
            assert_eq!(AuthAlgorithm::from_wire(a.as_str()), Some(a));
            assert_eq!(
                serde_json::to_string(&a).unwrap(),
                format!("\"{}\"", a.as_str())
            );
        }
        assert_eq!(AuthAlgorithm::from_wire("PS256"), None);
        assert_eq!(AuthAlgorithm::Es384.hash(), HashAlgorithm::Sha384);
        assert!(AuthAlgorithm::Rs512.is_rsa() && !AuthAlgorithm::Es256.is_rsa());
    }

    #[test]
    fn token_wire_shape() {
        let t = AuthToken::new(b"cert", AuthAlgorithm::Rs256, b"sig", "1.2.3");
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "format": "card-agent-auth:1",
                "unverifiedCertificate": "Y2VydA==",
                "algorithm": "RS256",
                "signature": "c2ln",
                "appVersion": "card-agent/1.2.3",
            })
        );
    }
}
