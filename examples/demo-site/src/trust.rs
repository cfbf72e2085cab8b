//! The CA certificates the site trusts: a [`TrustStore`] for login tokens, and the same
//! certificates as one PEM file for `openssl cms -verify -CAfile`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use card_agent_card::certificate::CertificateInfo;
use card_agent_protocol::verifier::TrustStore;

/// The trusted certificates.
pub struct Trust {
    store: TrustStore,
    /// Holds the PEM bundle and scratch files; removed when the site stops.
    dir: tempfile::TempDir,
    bundle: PathBuf,
}

impl Trust {
    /// Reads every certificate in `files` (PEM, one or more per file, or DER). Self-signed
    /// certificates become roots; the others are intermediates, used only to build a path to a
    /// root.
    pub fn load(files: &[PathBuf]) -> Result<Trust, String> {
        let mut store = TrustStore::new();
        let mut pem = String::new();
        for file in files {
            let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let ders = certificates_in(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
            for der in ders {
                let info =
                    CertificateInfo::parse(&der).map_err(|e| format!("{}: {e}", file.display()))?;
                let added = if info.subject == info.issuer {
                    store.add_roots(&der)
                } else {
                    store.add_intermediates(&der)
                };
                added.map_err(|e| format!("{}: {e}", file.display()))?;
                pem.push_str(&to_pem(&der));
            }
        }
        if store.root_count() == 0 {
            return Err("no root certificate (self-signed CA) among the --trust files".to_owned());
        }
        let dir = tempfile::Builder::new()
            .prefix("demo-site-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let bundle = dir.path().join("trusted-cas.pem");
        std::fs::write(&bundle, pem).map_err(|e| format!("{}: {e}", bundle.display()))?;
        Ok(Trust { store, dir, bundle })
    }

    /// For the token verifier.
    pub fn store(&self) -> &TrustStore {
        &self.store
    }

    /// Every trusted certificate in one PEM file, for openssl.
    pub fn bundle(&self) -> &Path {
        &self.bundle
    }

    /// A directory for scratch files that lives as long as the site.
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The DER certificates in a PEM text (every CERTIFICATE block) or a DER file.
fn certificates_in(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(vec![bytes.to_vec()]);
    };
    if !text.contains("-----BEGIN") {
        return Ok(vec![bytes.to_vec()]);
    }
    let mut ders = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end = body
            .find("-----END CERTIFICATE-----")
            .ok_or("a PEM block has no END line")?;
        let b64: String = body[..end].split_whitespace().collect();
        ders.push(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("bad base64 in a PEM block: {e}"))?,
        );
        rest = &body[end..];
    }
    Ok(ders)
}

/// PEM of one DER certificate.
pub fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The DER of the first certificate in a PEM text.
pub fn first_certificate(pem: &[u8]) -> Option<Vec<u8>> {
    certificates_in(pem).ok()?.into_iter().next()
}
