//! The Taiwan government CA certificates card-agent carries: the roots GRCA G1, G2 and G3, and
//! the issuing CAs MOICA G2, MOICA G3 and MOEACA G2.
//!
//! The files are `roots/*.pem` at the top of the repository, embedded here byte for byte; its
//! README says where each came from and how it was checked, and `tests/government.rs` pins
//! each file's SHA-256 and checks each issuing CA's chain to its root. GCA, XCA and HCA
//! issuing-CA certificates are not here yet (no copy could be confirmed); their cards' chains
//! need the CA certificate on the card or in the server's own configuration.
//!
//! A certificate that chains to these shows that the *certificate* is the government's. It
//! does not show that a token holds its key: certificates are public, and any token can carry
//! a copy. Only a signature that verifies under the certificate's key shows that.

use der::{DecodePem, Encode};
use x509_cert::Certificate;

use super::trust::{TrustStore, TrustStoreError};

/// One CA certificate card-agent carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GovernmentCa {
    /// The name people know it by: `GRCA G3`, `MOICA G3`.
    pub name: &'static str,
    /// Its file in `roots/`.
    pub file: &'static str,
    /// The file's content: one PEM `CERTIFICATE` block.
    pub pem: &'static [u8],
    /// The [`name`](Self::name) of the root that issued it; `None` for a root.
    pub issued_by: Option<&'static str>,
}

/// Every CA certificate card-agent carries, roots first.
pub const GOVERNMENT_CAS: &[GovernmentCa] = &[
    GovernmentCa {
        name: "GRCA G1",
        file: "grca-g1.pem",
        pem: include_bytes!("../../../roots/grca-g1.pem"),
        issued_by: None,
    },
    GovernmentCa {
        name: "GRCA G2",
        file: "grca-g2.pem",
        pem: include_bytes!("../../../roots/grca-g2.pem"),
        issued_by: None,
    },
    GovernmentCa {
        name: "GRCA G3",
        file: "grca-g3.pem",
        pem: include_bytes!("../../../roots/grca-g3.pem"),
        issued_by: None,
    },
    GovernmentCa {
        name: "MOICA G2",
        file: "moica-g2.pem",
        pem: include_bytes!("../../../roots/moica-g2.pem"),
        issued_by: Some("GRCA G2"),
    },
    GovernmentCa {
        name: "MOICA G3",
        file: "moica-g3.pem",
        pem: include_bytes!("../../../roots/moica-g3.pem"),
        issued_by: Some("GRCA G3"),
    },
    GovernmentCa {
        name: "MOEACA G2",
        file: "moeaca-g2.pem",
        pem: include_bytes!("../../../roots/moeaca-g2.pem"),
        issued_by: Some("GRCA G2"),
    },
];

impl GovernmentCa {
    /// Whether this is a root (a trust anchor) rather than an issuing CA.
    pub fn is_root(&self) -> bool {
        self.issued_by.is_none()
    }

    /// The certificate, parsed.
    pub fn certificate(&self) -> Result<Certificate, TrustStoreError> {
        Certificate::from_pem(self.pem).map_err(|e| TrustStoreError::Invalid {
            index: 0,
            reason: format!("{}: {e}", self.file),
        })
    }

    /// The certificate, DER.
    pub fn der(&self) -> Result<Vec<u8>, TrustStoreError> {
        self.certificate()?
            .to_der()
            .map_err(|e| TrustStoreError::Invalid {
                index: 0,
                reason: format!("{}: {e}", self.file),
            })
    }
}

/// The carried CA certificate that is exactly `der` (byte for byte), if any. A certificate
/// with a government CA's name but other bytes is not one of them.
pub fn government_ca(der: &[u8]) -> Option<&'static GovernmentCa> {
    GOVERNMENT_CAS
        .iter()
        .find(|ca| ca.der().is_ok_and(|d| d == der))
}

/// The names of the carried CA certificates, `GRCA G1, GRCA G2, …`, for messages that list
/// them.
pub fn government_ca_names() -> String {
    GOVERNMENT_CAS
        .iter()
        .map(|ca| ca.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl TrustStore {
    /// The government roots (GRCA G1, G2, G3) as roots and the issuing CAs (MOICA G2, G3,
    /// MOEACA G2) as intermediates: a server accepting citizen (MOICA) and business (MOEACA)
    /// cards needs nothing else.
    ///
    /// ```
    /// let trust = card_agent_protocol::verifier::TrustStore::government()?;
    /// assert_eq!((trust.root_count(), trust.intermediate_count()), (3, 3));
    /// # Ok::<(), card_agent_protocol::verifier::TrustStoreError>(())
    /// ```
    pub fn government() -> Result<Self, TrustStoreError> {
        let mut store = TrustStore::new();
        for ca in GOVERNMENT_CAS {
            if ca.is_root() {
                store.add_roots(ca.pem)?;
            } else {
                store.add_intermediates(ca.pem)?;
            }
        }
        Ok(store)
    }
}
