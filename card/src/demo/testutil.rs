//! Test helpers shared by the signer, CMS and demo tests: one demo token per test binary
//! (RSA key generation is the slow part), and running `openssl` on files in a temp dir.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;
use tempfile::TempDir;

use super::{DemoToken, DEMO_PIN};
use crate::pin::Pin;

/// A demo token shared by the tests that only sign, already logged in. Tests that need the PIN
/// counter make their own token.
pub(crate) fn shared_demo() -> &'static DemoToken {
    static DEMO: OnceLock<DemoToken> = OnceLock::new();
    DEMO.get_or_init(|| {
        let demo = DemoToken::new().unwrap();
        demo.login(&Pin::new(DEMO_PIN.into())).unwrap();
        demo
    })
}

/// A temp dir to hand files to `openssl`.
pub(crate) struct Scratch(TempDir);

impl Scratch {
    pub(crate) fn new() -> Self {
        Scratch(tempfile::tempdir().unwrap())
    }

    /// Writes `bytes` to `name` and returns its path as a string for the command line.
    pub(crate) fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub(crate) fn path(&self, name: &str) -> String {
        let path: PathBuf = self.0.path().join(name);
        path.to_str().unwrap().to_owned()
    }

    /// Writes DER certificates as one PEM file (a CA bundle when several).
    pub(crate) fn pem(&self, name: &str, ders: &[&[u8]]) -> String {
        let text: String = ders.iter().map(|der| pem("CERTIFICATE", der)).collect();
        self.file(name, text.as_bytes())
    }

    /// The certificate's public key as a PEM file, extracted by openssl itself.
    pub(crate) fn public_key(&self, name: &str, cert_der: &[u8]) -> String {
        let cert = self.file(&format!("{name}.cert.der"), cert_der);
        let out = self.path(name);
        openssl(&[
            "x509", "-inform", "DER", "-in", &cert, "-pubkey", "-noout", "-out", &out,
        ]);
        out
    }
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Runs openssl and returns stdout; fails the test with openssl's stderr when it fails.
pub(crate) fn openssl(args: &[&str]) -> String {
    let out = openssl_status(args);
    assert!(out.0, "openssl {} failed:\n{}", args.join(" "), out.2);
    out.1
}

/// Runs openssl and returns (success, stdout, stderr), for tests that expect a failure.
pub(crate) fn openssl_status(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("openssl").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads a file written by openssl.
pub(crate) fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path).unwrap()
}
