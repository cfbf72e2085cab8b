//! Certificate checks: validity, usage, extensions, and the path to a trusted root.

use der::asn1::ObjectIdentifier;
use der::oid::AssociatedOid;
use der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::time::Time;
use x509_cert::Certificate;

use super::keys::{certificate_signature_hash, digest, signature_fits_key, PublicKey};
use super::name::display;
use super::trust::TrustStore;
use super::VerifyError;

/// Most issuer links followed from the certificate to a root. Taiwan's government chains
/// are leaf → CA → GRCA (two links); five leaves room for cross-certificates while bounding
/// the search.
pub const MAX_CHAIN_DEPTH: usize = 5;

/// Extensions that may be critical. Key usage and basic constraints are enforced; the others
/// do not restrict what this verifier accepts (certificate policies and extended key usage
/// are left to the relying party, which can read them from the certificate it gets back).
/// Anything else critical, such as name or policy constraints, is refused rather than
/// silently ignored, as RFC 5280 requires.
const UNDERSTOOD_CRITICAL: &[ObjectIdentifier] = &[
    ObjectIdentifier::new_unwrap("2.5.29.15"), // keyUsage
    ObjectIdentifier::new_unwrap("2.5.29.19"), // basicConstraints
    ObjectIdentifier::new_unwrap("2.5.29.37"), // extKeyUsage
    ObjectIdentifier::new_unwrap("2.5.29.32"), // certificatePolicies
    ObjectIdentifier::new_unwrap("2.5.29.17"), // subjectAltName
    ObjectIdentifier::new_unwrap("2.5.29.9"),  // subjectDirectoryAttributes
    ObjectIdentifier::new_unwrap("2.5.29.14"), // subjectKeyIdentifier
    ObjectIdentifier::new_unwrap("2.5.29.35"), // authorityKeyIdentifier
];

/// Unix seconds of a certificate time (always after 1950, so never negative before 1970
/// matters: x509 times before the epoch cannot be represented and do not occur in live
/// certificates).
pub(super) fn unix_seconds(t: &Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// The end-entity certificate's validity at `now`.
pub(super) fn check_validity(cert: &Certificate, now: i64) -> Result<(), VerifyError> {
    let validity = &cert.tbs_certificate.validity;
    let not_before = unix_seconds(&validity.not_before);
    let not_after = unix_seconds(&validity.not_after);
    if now < not_before {
        Err(VerifyError::NotYetValid { not_before, now })
    } else if now > not_after {
        Err(VerifyError::Expired { not_after, now })
    } else {
        Ok(())
    }
}

/// The end-entity certificate's extensions: nothing critical we do not understand, and a key
/// usage that includes digitalSignature (required, not assumed when absent).
pub(super) fn check_end_entity(cert: &Certificate) -> Result<(), VerifyError> {
    if let Some(oid) = unknown_critical(cert) {
        return Err(VerifyError::UnsupportedCriticalExtension {
            oid: oid.to_string(),
        });
    }
    match extension::<KeyUsage>(cert) {
        Ok(Some(usage)) if usage.digital_signature() => Ok(()),
        Ok(_) => Err(VerifyError::MissingDigitalSignature),
        Err(reason) => Err(VerifyError::BadFormat {
            field: "unverifiedCertificate",
            reason,
        }),
    }
}

/// Finds a path from `leaf` to a root of `trust`.
pub(super) fn verify_chain(
    leaf: &Certificate,
    trust: &TrustStore,
    now: i64,
) -> Result<(), VerifyError> {
    find_path(leaf, trust, now)
        .map(|_| ())
        .map_err(|failure| VerifyError::UntrustedChain {
            reason: failure.to_string(),
        })
}

/// Why no path to a root was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PathFailure {
    /// The trust store has no certificate named as this issuer (the path is incomplete).
    Missing {
        /// The issuer's name, for display.
        issuer: String,
    },
    /// A candidate issuer was found but a check failed: a signature, an intermediate's
    /// validity or constraints, or the depth limit.
    Invalid {
        /// Why the deepest candidate failed.
        reason: String,
    },
}

impl std::fmt::Display for PathFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathFailure::Missing { issuer } => {
                write!(f, "no configured root or intermediate is named `{issuer}`")
            }
            PathFailure::Invalid { reason } => f.write_str(reason),
        }
    }
}

/// Finds a path from `leaf` to a root of `trust` and returns its issuers: the leaf's issuer
/// first, the root reached last.
pub(super) fn find_path<'t>(
    leaf: &Certificate,
    trust: &'t TrustStore,
    now: i64,
) -> Result<Vec<&'t Certificate>, PathFailure> {
    let mut failure = None;
    search(leaf, trust, now, 0, 0, &mut failure).ok_or_else(|| {
        failure.unwrap_or(PathFailure::Invalid {
            reason: "no trusted root is configured".to_owned(),
        })
    })
}

/// Depth-first search over issuers, returning the issuers from `cert`'s up to the root.
/// `links` counts issuer links followed so far;
/// `intermediates_below` counts intermediates between `cert` and the leaf, for path length
/// constraints. `failure` keeps the most recent failure, which is the deepest one tried; a
/// failed check outranks a missing issuer, since it is the more useful thing to report.
fn search<'t>(
    cert: &Certificate,
    trust: &'t TrustStore,
    now: i64,
    links: usize,
    intermediates_below: usize,
    failure: &mut Option<PathFailure>,
) -> Option<Vec<&'t Certificate>> {
    fn invalid(reason: String, failure: &mut Option<PathFailure>) {
        *failure = Some(PathFailure::Invalid { reason });
    }
    if links >= MAX_CHAIN_DEPTH {
        invalid(
            format!("no trusted root within {MAX_CHAIN_DEPTH} issuer links"),
            failure,
        );
        return None;
    }
    let issuer = &cert.tbs_certificate.issuer;
    let mut issuer_known = false;
    for root in trust
        .roots
        .iter()
        .filter(|r| &r.tbs_certificate.subject == issuer)
    {
        issuer_known = true;
        match signed_by(cert, root) {
            Ok(()) => return Some(vec![root]),
            Err(e) => invalid(format!("root `{}`: {e}", display(issuer)), failure),
        }
    }
    for candidate in trust
        .intermediates
        .iter()
        .filter(|c| &c.tbs_certificate.subject == issuer && *c != cert)
    {
        issuer_known = true;
        let checked = check_intermediate(candidate, now, intermediates_below)
            .and_then(|()| signed_by(cert, candidate));
        if let Err(e) = checked {
            invalid(format!("intermediate `{}`: {e}", display(issuer)), failure);
            continue;
        }
        if let Some(mut path) = search(
            candidate,
            trust,
            now,
            links + 1,
            intermediates_below + 1,
            failure,
        ) {
            path.insert(0, candidate);
            return Some(path);
        }
    }
    if !issuer_known && !matches!(failure, Some(PathFailure::Invalid { .. })) {
        *failure = Some(PathFailure::Missing {
            issuer: display(issuer),
        });
    }
    None
}

/// An intermediate may issue: within validity, a CA, allowed to sign certificates, within its
/// path length constraint, nothing critical we do not understand.
fn check_intermediate(
    cert: &Certificate,
    now: i64,
    intermediates_below: usize,
) -> Result<(), String> {
    match check_validity(cert, now) {
        Err(VerifyError::Expired { .. }) => return Err("expired".to_owned()),
        Err(_) => return Err("not yet valid".to_owned()),
        Ok(()) => {}
    }
    if let Some(oid) = unknown_critical(cert) {
        return Err(format!("unsupported critical extension {oid}"));
    }
    let constraints = extension::<BasicConstraints>(cert)?;
    let Some(BasicConstraints {
        ca: true,
        path_len_constraint,
    }) = constraints
    else {
        return Err("not a CA certificate (basicConstraints cA is not set)".to_owned());
    };
    if let Some(max) = path_len_constraint {
        if intermediates_below > usize::from(max) {
            return Err(format!(
                "its path length constraint ({max}) does not allow {intermediates_below} \
                 intermediates below it"
            ));
        }
    }
    if let Some(usage) = extension::<KeyUsage>(cert)? {
        if !usage.key_cert_sign() {
            return Err("its key usage does not allow keyCertSign".to_owned());
        }
    }
    Ok(())
}

/// Whether `issuer`'s key made `cert`'s signature.
fn signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let algorithm = &cert.signature_algorithm;
    if algorithm != &cert.tbs_certificate.signature {
        return Err("the certificate's two signature algorithm fields differ".to_owned());
    }
    let hash = certificate_signature_hash(algorithm.oid)?;
    let key = PublicKey::from_spki(&issuer.tbs_certificate.subject_public_key_info)?;
    if !signature_fits_key(algorithm.oid, &key) {
        return Err(format!(
            "signature algorithm {} does not fit the issuer's {} key",
            algorithm.oid,
            key.kind()
        ));
    }
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|e| format!("cannot re-encode the certificate: {e}"))?;
    let digest = digest(hash, &tbs).ok_or("unsupported hash")?;
    let signature = cert
        .signature
        .as_bytes()
        .ok_or("the signature is not a whole number of bytes")?;
    key.verify_digest(hash, &digest, signature)
        .map_err(|()| "the signature does not verify under the issuer's key".to_owned())
}

/// The first critical extension not in [`UNDERSTOOD_CRITICAL`].
fn unknown_critical(cert: &Certificate) -> Option<ObjectIdentifier> {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.critical && !UNDERSTOOD_CRITICAL.contains(&e.extn_id))
        .map(|e| e.extn_id)
}

/// The extension of type `T`, decoded; an error if it is malformed or repeated (RFC 5280
/// allows each extension once).
fn extension<T: AssociatedOid + for<'a> Decode<'a>>(
    cert: &Certificate,
) -> Result<Option<T>, String> {
    let mut found = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == T::OID);
    let Some(first) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(format!("extension {} appears more than once", T::OID));
    }
    T::from_der(first.extn_value.as_bytes())
        .map(Some)
        .map_err(|e| format!("extension {} is malformed: {e}", T::OID))
}
