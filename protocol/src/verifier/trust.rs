//! The certificates a relying party trusts.

use der::{Decode, DecodePem};
use thiserror::Error;
use x509_cert::Certificate;

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// Roots (trust anchors) and intermediates (used to build paths, trusted only when they chain
/// to a root). Every certificate is parsed when added, so a bad file fails at start-up rather
/// than at the first login.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    pub(super) roots: Vec<Certificate>,
    pub(super) intermediates: Vec<Certificate>,
}

/// Why certificates could not be added to a [`TrustStore`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TrustStoreError {
    /// The input is neither a DER certificate nor PEM with at least one `CERTIFICATE` block.
    #[error("no certificate found in the input")]
    NoCertificate,
    /// A certificate (the `index`-th in the input, from 0) does not parse.
    #[error("certificate {index} in the input does not parse: {reason}")]
    Invalid {
        /// Its position in the input.
        index: usize,
        /// The parser's complaint.
        reason: String,
    },
}

impl TrustStore {
    /// An empty store (which trusts nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// A store from DER certificates.
    pub fn from_der<R, I>(roots: R, intermediates: I) -> Result<Self, TrustStoreError>
    where
        R: IntoIterator,
        R::Item: AsRef<[u8]>,
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut store = TrustStore::new();
        for der in roots {
            store.add_roots(der.as_ref())?;
        }
        for der in intermediates {
            store.add_intermediates(der.as_ref())?;
        }
        Ok(store)
    }

    /// Adds roots from one DER certificate or from PEM text with one or more `CERTIFICATE`
    /// blocks. Returns how many were added; nothing is added if any fails.
    pub fn add_roots(&mut self, der_or_pem: &[u8]) -> Result<usize, TrustStoreError> {
        let certs = parse_certificates(der_or_pem)?;
        let n = certs.len();
        self.roots.extend(certs);
        Ok(n)
    }

    /// Adds intermediates, like [`add_roots`](Self::add_roots).
    pub fn add_intermediates(&mut self, der_or_pem: &[u8]) -> Result<usize, TrustStoreError> {
        let certs = parse_certificates(der_or_pem)?;
        let n = certs.len();
        self.intermediates.extend(certs);
        Ok(n)
    }

    /// Number of roots.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }

    /// Number of intermediates.
    pub fn intermediate_count(&self) -> usize {
        self.intermediates.len()
    }
}

/// DER (one certificate) or PEM (any number of blocks, other text ignored).
fn parse_certificates(input: &[u8]) -> Result<Vec<Certificate>, TrustStoreError> {
    let invalid = |index, e: der::Error| TrustStoreError::Invalid {
        index,
        reason: e.to_string(),
    };
    let Ok(text) = std::str::from_utf8(input) else {
        // Not text, so not PEM: it must be DER.
        return Certificate::from_der(input)
            .map(|c| vec![c])
            .map_err(|e| invalid(0, e));
    };
    if !text.contains(PEM_BEGIN) {
        return if text.trim().is_empty() {
            Err(TrustStoreError::NoCertificate)
        } else {
            Certificate::from_der(input)
                .map(|c| vec![c])
                .map_err(|e| invalid(0, e))
        };
    }
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(PEM_BEGIN) {
        let block = &rest[start..];
        let end = block
            .find(PEM_END)
            .ok_or_else(|| TrustStoreError::Invalid {
                index: certs.len(),
                reason: "PEM block without its END line".to_owned(),
            })?
            + PEM_END.len();
        let cert = Certificate::from_pem(&block[..end]).map_err(|e| invalid(certs.len(), e))?;
        certs.push(cert);
        rest = &block[end..];
    }
    Ok(certs)
}
