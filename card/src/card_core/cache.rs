//! Certificates remembered per token: reading them from a card takes many APDUs, and every
//! signature starts by finding its certificate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::token::{TokenCertificate, TokenInfo, TokenRef};

/// How long remembered certificates are trusted without a card event. The daemon forgets them on
/// every reader event; this bound covers tokens that send none (software tokens, or pcscd down).
const CERTIFICATE_CACHE_TTL: Duration = Duration::from_secs(60);

/// The certificates last read from each token, with the token's information as it was read
/// then (its serial, so that another card in the same slot is never answered from the first
/// one's entry; its state, which the token's turn reads fresh again before any PIN is sent).
#[derive(Default)]
pub(super) struct CertificateCache {
    entries: Mutex<HashMap<TokenRef, CachedCertificates>>,
}

struct CachedCertificates {
    token: TokenInfo,
    read_at: Instant,
    certificates: Vec<TokenCertificate>,
}

impl CertificateCache {
    pub(super) fn get(&self, token_ref: TokenRef, serial: &str) -> Option<Vec<TokenCertificate>> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(&token_ref)?;
        (entry.token.serial == serial && entry.read_at.elapsed() < CERTIFICATE_CACHE_TTL)
            .then(|| entry.certificates.clone())
    }

    pub(super) fn put(&self, token: &TokenInfo, certificates: &[TokenCertificate]) {
        // A poisoned table only means a panic elsewhere: skip remembering, never fail the read.
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(
                token.token_ref,
                CachedCertificates {
                    token: token.clone(),
                    read_at: Instant::now(),
                    certificates: certificates.to_vec(),
                },
            );
        }
    }

    /// The tokens, still trusted, whose remembered certificates include one that `holds`
    /// accepts: each as its information when it was read, and its certificates.
    pub(super) fn holding(
        &self,
        holds: impl Fn(&TokenCertificate) -> bool,
    ) -> Vec<(TokenInfo, Vec<TokenCertificate>)> {
        let Ok(entries) = self.entries.lock() else {
            return Vec::new();
        };
        entries
            .iter()
            .filter(|(_, e)| e.read_at.elapsed() < CERTIFICATE_CACHE_TTL)
            .filter(|(_, e)| e.certificates.iter().any(&holds))
            .map(|(_, e)| (e.token.clone(), e.certificates.clone()))
            .collect()
    }

    pub(super) fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}
