//! What a caller wants to sign or decrypt with: the input of the one certificate choice,
//! [`CardCore::choose_certificate`](super::CardCore::choose_certificate).

use crate::error::{Choice, Error, Result};
use crate::token::TokenCertificate;

/// What a certificate is chosen for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Purpose {
    /// Signing (and authentication): a key with `digitalSignature` or `nonRepudiation`.
    #[default]
    Signing,
    /// Decryption: a key with `keyEncipherment`.
    Encryption,
}

impl Purpose {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Purpose::Signing => "a signing certificate",
            Purpose::Encryption => "an encryption certificate",
        }
    }

    pub(super) fn several(self) -> &'static str {
        match self {
            Purpose::Signing => "several signing certificates are present",
            Purpose::Encryption => "several encryption certificates are present",
        }
    }
}

/// Which certificate a caller wants (see [`CardCore::choose_certificate`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct CertificateWanted<'a> {
    /// Its SHA-256 thumbprint (hex, any case); `None`: the only one fit for `purpose`.
    pub sha256: Option<&'a str>,
    /// Only tokens whose slot description contains this (the legacy `slotDescription`).
    pub slot_description: Option<&'a str>,
    /// What the key is for.
    pub purpose: Purpose,
}

impl CertificateWanted<'_> {
    /// The rule itself, over certificates already read, each with the token it is on (the
    /// slot filter applied): the one wanted. None is `CertNotFound`; several are `Ambiguous`,
    /// never one picked at random. A client holding the daemon's certificate list (the
    /// command line) applies the same rule through this.
    pub fn pick<T>(
        &self,
        candidates: impl IntoIterator<Item = (T, TokenCertificate)>,
    ) -> Result<(T, TokenCertificate)> {
        let matches: Vec<(T, TokenCertificate)> = candidates
            .into_iter()
            .filter(|(_, cert)| self.accepts(cert))
            .collect();
        if matches.is_empty() {
            return Err(Error::CertNotFound {
                wanted: match self.sha256 {
                    Some(h) => h.to_owned(),
                    None => self.purpose.describe().to_owned(),
                },
            });
        }
        super::exactly_one(matches, self.purpose.several(), Choice::Certificate)
    }

    pub(super) fn accepts(&self, cert: &TokenCertificate) -> bool {
        match self.sha256 {
            Some(h) => cert.info.sha256.eq_ignore_ascii_case(h),
            None => {
                cert.has_private_key
                    && !cert.info.is_ca
                    && match self.purpose {
                        Purpose::Signing => cert.info.is_for_signing(),
                        Purpose::Encryption => cert.info.key_usage.contains(&"keyEncipherment"),
                    }
            }
        }
    }
}
