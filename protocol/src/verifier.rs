//! Verifying authentication tokens on a relying party's server (cargo feature `verifier`).
//!
//! This module is for servers: it needs no agent, no card and no I/O. Give it the token the
//! page posted, the origin your site is served from, the nonce you issued, the CA certificates
//! you trust and the current time; it tells you who signed, or why not.
//!
//! ```no_run
//! use card_agent_protocol::auth::AuthToken;
//! use card_agent_protocol::verifier::{verify, TrustStore, VerifyOptions};
//!
//! # fn demo(token_json: &[u8], nonce_for_this_session: &str, now_unix: i64)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! // Once, at start-up: the government CA certificates this crate carries (GRCA G1-G3 as
//! // roots; MOICA G2-G3 and MOEACA G2 under them), plus any others you accept, from files.
//! let mut trust = TrustStore::government()?;
//! trust.add_intermediates(&std::fs::read("GCA.pem")?)?;
//!
//! // Per login: the nonce comes from *your* session store (see below), not from the request.
//! let token: AuthToken = serde_json::from_slice(token_json)?;
//! let identity = verify(
//!     &token,
//!     &VerifyOptions {
//!         expected_origin: "https://example.gov.tw",
//!         nonce: nonce_for_this_session,
//!         trust: &trust,
//!         now_unix,
//!     },
//! )?;
//! println!("{} ({:?})", identity.subject, identity.card_family);
//! # Ok(()) }
//! ```
//!
//! ## Roots
//! [`TrustStore::government`] is the Taiwan government PKI as far as card-agent carries it
//! ([`GOVERNMENT_CAS`], the files in the repository's `roots/` with their provenance). GCA,
//! XCA and HCA issuing-CA certificates are not among them yet: a site accepting those cards
//! adds their CA certificates with [`TrustStore::add_intermediates`].
//!
//! ## What is checked
//! 1. `format` is `card-agent-auth:1` and `algorithm` one of `RS256`, `RS384`, `RS512`,
//!    `ES256`, `ES384`; the nonce passes [`check_nonce`]; the expected origin is a bare
//!    origin (`scheme://host[:port]`, no path or trailing slash).
//! 2. The certificate is DER X.509, valid at `now_unix`, with a key usage that includes
//!    `digitalSignature`, no critical extension this module does not understand, and an RSA
//!    key of at least 2048 bits or a P-256/P-384 key matching the algorithm.
//! 3. It chains to a configured root through configured intermediates: issuer and subject
//!    names must match exactly (DER), every certificate's signature must verify under its
//!    issuer's key (SHA-256/384/512 with RSA or ECDSA; SHA-1 is refused), and intermediates
//!    must be CAs, within validity, allowed to sign certificates and within their path length
//!    constraint. At most [`MAX_CHAIN_DEPTH`] issuer links are followed. Roots are trust
//!    anchors: only their names and keys are used. Revocation (CRL/OCSP) is *not* checked:
//!    that needs the network, which this module does not touch.
//! 4. The token's signature verifies over [`auth_signed_message`]`(expected_origin, nonce)`.
//!    A token made for another origin, for another nonce, or altered in any way fails here
//!    with [`VerifyError::SignatureInvalid`]: cryptographically these cases look the same.
//!
//! ## Keeping nonces single-use and short-lived
//! The origin binding stops a token from being used on another site; only the nonce stops it
//! from being used twice on yours. The server must:
//! - draw each nonce from a CSPRNG, at least 32 bytes (256 bits), base64-encoded;
//! - store it server-side, keyed by the session that requested it (never trust a nonce that
//!   comes back in the login request: look up the one you issued for this session);
//! - give it a short lifetime (5 minutes) and refuse it once expired;
//! - delete it on first use, whether verification succeeds or fails, *before* verifying, so
//!   two concurrent logins cannot both use it;
//! - compare nonces (if it compares them at all) in constant time.
//!
//! A sketch, with any key-value store:
//!
//! ```text
//! GET  /login/challenge  -> nonce = base64(csprng(32)); store[session] = (nonce, now + 300s)
//!                           return {"challengeNonce": nonce}
//! POST /login            -> (nonce, expires) = store.remove(session) or reject
//!                           if now > expires: reject
//!                           identity = verify(token, {expected_origin: OUR_ORIGIN, nonce, ...})
//!                           start the authenticated session for identity.subject
//! ```

mod chain;
mod government;
mod keys;
mod name;
mod trust;

use der::Decode;
use thiserror::Error;
use x509_cert::Certificate;

use crate::auth::{
    auth_signed_message, check_nonce, AuthAlgorithm, AuthToken, NonceError, AUTH_TOKEN_FORMAT,
};
use crate::encoding::decode_base64;
use crate::types::CardFamily;

pub use chain::MAX_CHAIN_DEPTH;
pub use government::{government_ca, government_ca_names, GovernmentCa, GOVERNMENT_CAS};
pub use trust::{TrustStore, TrustStoreError};

/// Largest certificate accepted in a token, in DER bytes. Government certificates are about
/// 1.5 KB; the bound keeps a hostile token from making the server parse megabytes.
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

/// Largest signature accepted, in bytes (an RSA-8192 signature is 1024).
pub const MAX_SIGNATURE_BYTES: usize = 1024;

/// What [`verify`] needs besides the token.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// Your site's origin exactly as browsers serialise it: `https://example.gov.tw`, with a
    /// port only when not the default, no path and no trailing slash.
    pub expected_origin: &'a str,
    /// The nonce you issued to this session (from your store, not from the request).
    pub nonce: &'a str,
    /// The certificates you trust.
    pub trust: &'a TrustStore,
    /// The current time, Unix seconds. Passed in so that verification is reproducible.
    pub now_unix: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A field is malformed: unknown `format`, bad base64, a certificate that is not DER
    /// X.509, or a value over its size bound.
    #[error("malformed token: `{field}` {reason}")]
    BadFormat {
        /// The token field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The `algorithm` is not one this verifier supports.
    #[error("unsupported algorithm `{algorithm}` (supported: RS256, RS384, RS512, ES256, ES384)")]
    UnsupportedAlgorithm {
        /// The algorithm as sent (shortened).
        algorithm: String,
    },
    /// The `algorithm` does not fit the certificate's key (e.g. `ES256` with an RSA key).
    #[error("algorithm {algorithm} does not match the certificate's {key} key")]
    AlgorithmKeyMismatch {
        /// The token's algorithm.
        algorithm: &'static str,
        /// The key type, e.g. `RSA` or `EC P-384`.
        key: &'static str,
    },
    /// The certificate's key is not usable: an unknown type or curve, or RSA under 2048 bits.
    #[error("unsupported certificate key: {reason}")]
    UnsupportedKey {
        /// What is wrong with it.
        reason: String,
    },
    /// The nonce decodes to fewer than 256 bits.
    #[error("the nonce carries {bits} bits; at least 256 are required")]
    NonceTooShort {
        /// Bits it carries.
        bits: usize,
    },
    /// The nonce is not base64 or is too long.
    #[error("invalid nonce: {0}")]
    InvalidNonce(NonceError),
    /// The expected origin is not a bare origin (a configuration error on the server).
    #[error("expected_origin must be a bare origin like https://example.gov.tw: {reason}")]
    BadOrigin {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The certificate's validity ended before `now`.
    #[error("the certificate expired at {not_after} (now {now})")]
    Expired {
        /// End of validity, Unix seconds.
        not_after: i64,
        /// The time checked.
        now: i64,
    },
    /// The certificate's validity starts after `now`.
    #[error("the certificate is not valid before {not_before} (now {now})")]
    NotYetValid {
        /// Start of validity, Unix seconds.
        not_before: i64,
        /// The time checked.
        now: i64,
    },
    /// The certificate has no key usage extension, or it lacks `digitalSignature`.
    #[error("the certificate's key usage does not allow digitalSignature")]
    MissingDigitalSignature,
    /// The certificate has a critical extension this verifier does not process.
    #[error("the certificate has an unsupported critical extension {oid}")]
    UnsupportedCriticalExtension {
        /// The extension's OID, dotted.
        oid: String,
    },
    /// No path to a configured root was found.
    #[error("the certificate does not chain to a trusted root: {reason}")]
    UntrustedChain {
        /// Why the last candidate path failed.
        reason: String,
    },
    /// The signature does not verify over the message for the expected origin and nonce. A
    /// token for another origin, another nonce, a tampered signature and a key that is not
    /// the certificate's all land here: they cannot be told apart.
    #[error("the signature does not verify for this origin and nonce")]
    SignatureInvalid,
}

/// Who authenticated. Every field comes from a certificate that passed all checks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedIdentity {
    /// Subject DN in certificate order, e.g. `C=TW, CN=王小明, serialNumber=0000000112831644`.
    pub subject: String,
    /// Subject common name (the holder's name on personal cards).
    pub common_name: Option<String>,
    /// Subject serialNumber attribute (MOICA: the card holder's 16-character identifier).
    pub serial_number: Option<String>,
    /// Issuer DN in certificate order.
    pub issuer: String,
    /// The family recognised from the issuer's OU (informational).
    pub card_family: CardFamily,
    /// The certificate's serial number, upper-case hex.
    pub certificate_serial: String,
    /// End of the certificate's validity, Unix seconds.
    pub not_after: i64,
    /// The algorithm the token was signed with.
    pub algorithm: AuthAlgorithm,
    /// The certificate, DER.
    pub certificate_der: Vec<u8>,
}

/// Verifies an authentication token. See the module documentation for what is checked, in
/// that order.
pub fn verify(
    token: &AuthToken,
    options: &VerifyOptions<'_>,
) -> Result<VerifiedIdentity, VerifyError> {
    if token.format != AUTH_TOKEN_FORMAT {
        return Err(VerifyError::BadFormat {
            field: "format",
            reason: format!("must be {AUTH_TOKEN_FORMAT}"),
        });
    }
    let algorithm = AuthAlgorithm::from_wire(&token.algorithm).ok_or_else(|| {
        VerifyError::UnsupportedAlgorithm {
            algorithm: token.algorithm.chars().take(32).collect(),
        }
    })?;
    check_origin(options.expected_origin)?;
    check_nonce(options.nonce).map_err(|e| match e {
        NonceError::TooShort { bits, .. } => VerifyError::NonceTooShort { bits },
        other => VerifyError::InvalidNonce(other),
    })?;

    let der = decode_field(
        "unverifiedCertificate",
        &token.unverified_certificate,
        MAX_CERTIFICATE_BYTES,
    )?;
    let signature = decode_field("signature", &token.signature, MAX_SIGNATURE_BYTES)?;
    let cert = Certificate::from_der(&der).map_err(|e| VerifyError::BadFormat {
        field: "unverifiedCertificate",
        reason: format!("is not a DER X.509 certificate: {e}"),
    })?;

    chain::check_validity(&cert, options.now_unix)?;
    chain::check_end_entity(&cert)?;
    let key = keys::PublicKey::from_spki(&cert.tbs_certificate.subject_public_key_info)
        .map_err(|reason| VerifyError::UnsupportedKey { reason })?;
    chain::verify_chain(&cert, options.trust, options.now_unix)?;
    key.check_algorithm(algorithm)?;

    let message = auth_signed_message(options.expected_origin, options.nonce);
    key.verify_message(algorithm, &message, &signature)
        .map_err(|()| VerifyError::SignatureInvalid)?;

    Ok(identity(&cert, der, algorithm))
}

/// The path [`verify_certificate_path`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificatePath {
    /// The root (trust anchor) the path ends at, DER.
    pub root_der: Vec<u8>,
    /// The root's subject DN in certificate order.
    pub root_subject: String,
    /// The certificates of the path above the checked one, DER: its issuer first, the root
    /// last (so one entry when the root issued it directly).
    pub issuers_der: Vec<Vec<u8>>,
}

/// Why [`verify_certificate_path`] found no path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PathError {
    /// The input is not a DER X.509 certificate.
    #[error("not a DER X.509 certificate: {reason}")]
    BadCertificate {
        /// The parser's complaint.
        reason: String,
    },
    /// The path is incomplete: no root or intermediate of the trust store is named as this
    /// issuer.
    #[error("no configured root or intermediate is named `{issuer}`")]
    IssuerMissing {
        /// The missing issuer's name.
        issuer: String,
    },
    /// An issuer was found but the path does not hold: a signature does not verify, an
    /// intermediate is expired, not a CA or beyond its path length, or the path is too long.
    #[error("{reason}")]
    Invalid {
        /// Why the deepest candidate failed.
        reason: String,
    },
}

/// Checks the path from a certificate to a root of `trust` exactly as [`verify`] does (names,
/// every signature, intermediates' validity and constraints, at most [`MAX_CHAIN_DEPTH`]
/// links) and says which root it reached. Nothing about the certificate itself is checked
/// (its validity, key usage or key size), so a tool can use it on any certificate, such as an
/// encryption certificate or one that has expired.
pub fn verify_certificate_path(
    cert_der: &[u8],
    trust: &TrustStore,
    now_unix: i64,
) -> Result<CertificatePath, PathError> {
    let cert = Certificate::from_der(cert_der).map_err(|e| PathError::BadCertificate {
        reason: e.to_string(),
    })?;
    match chain::find_path(&cert, trust, now_unix) {
        Ok(path) => {
            let issuers_der = path
                .iter()
                .map(|c| der::Encode::to_der(*c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PathError::Invalid {
                    reason: format!("a certificate of the path cannot be re-encoded: {e}"),
                })?;
            let (Some(root), Some(root_der)) = (path.last(), issuers_der.last()) else {
                return Err(PathError::Invalid {
                    reason: "the path is empty".to_owned(),
                });
            };
            Ok(CertificatePath {
                root_der: root_der.clone(),
                root_subject: name::display(&root.tbs_certificate.subject),
                issuers_der,
            })
        }
        Err(chain::PathFailure::Missing { issuer }) => Err(PathError::IssuerMissing { issuer }),
        Err(chain::PathFailure::Invalid { reason }) => Err(PathError::Invalid { reason }),
    }
}

fn decode_field(
    field: &'static str,
    value: &str,
    max_bytes: usize,
) -> Result<Vec<u8>, VerifyError> {
    // Bound the text before decoding: base64 is 4 characters per 3 bytes.
    if value.len() > max_bytes / 3 * 4 + 4 {
        return Err(VerifyError::BadFormat {
            field,
            reason: format!("is longer than {max_bytes} bytes"),
        });
    }
    decode_base64(value).map_err(|_| VerifyError::BadFormat {
        field,
        reason: "is not base64".to_owned(),
    })
}

/// Refuses what browsers never send as an origin, so a server misconfiguration (a trailing
/// slash, a path) is reported as such instead of as a signature failure.
fn check_origin(origin: &str) -> Result<(), VerifyError> {
    let bad = |reason| Err(VerifyError::BadOrigin { reason });
    let Some((scheme, rest)) = origin.split_once("://") else {
        return bad("no scheme");
    };
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        return bad("the scheme must be lower-case letters");
    }
    if rest.is_empty() {
        return bad("no host");
    }
    if !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("origins are printable ASCII (hosts in punycode)");
    }
    if rest.contains(['/', '?', '#', '@']) {
        return bad("an origin has no path, query, fragment, user or trailing slash");
    }
    Ok(())
}

fn identity(cert: &Certificate, der: Vec<u8>, algorithm: AuthAlgorithm) -> VerifiedIdentity {
    let tbs = &cert.tbs_certificate;
    let card_family = name::attribute_values(&tbs.issuer, name::OU)
        .into_iter()
        .map(|ou| CardFamily::from_issuer(&ou))
        .find(|f| *f != CardFamily::Unknown)
        .unwrap_or(CardFamily::Unknown);
    let serial_hex: String = tbs
        .serial_number
        .as_bytes()
        .iter()
        .skip_while(|b| **b == 0)
        .map(|b| format!("{b:02X}"))
        .collect();
    VerifiedIdentity {
        subject: name::display(&tbs.subject),
        common_name: name::attribute_values(&tbs.subject, name::CN)
            .into_iter()
            .next(),
        serial_number: name::attribute_values(&tbs.subject, name::SERIAL_NUMBER)
            .into_iter()
            .next(),
        issuer: name::display(&tbs.issuer),
        card_family,
        certificate_serial: if serial_hex.is_empty() {
            "00".to_owned()
        } else {
            serial_hex
        },
        not_after: chain::unix_seconds(&tbs.validity.not_after),
        algorithm,
        certificate_der: der,
    }
}
