//! Helpers shared by the native-host test files: reading replies and checking signatures with
//! openssl.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use card_agent_testbed::agent::{openssl_verify_cms, openssl_verify_pkcs1, path, public_key_pem};
use card_agent_testbed::softhsm::der_to_pem;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The origin the tests' trusted_sites pattern covers.
pub const SITE: &str = "https://www.example.gov.tw";
/// The config most tests use: every https subdomain of example.gov.tw is trusted.
pub const TRUSTED_CONFIG: &str = "trusted_sites = [\"https://*.example.gov.tw\"]\n";

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(text: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(
            text.as_str()
                .unwrap_or_else(|| panic!("not a string: {text}")),
        )
        .expect("base64")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The demo token's signing certificate's thumbprint, as a page lists it.
pub fn demo_thumbprint(host: &mut card_agent_testbed::daemon::Host) -> String {
    let reply = host.call("get-certificates", serde_json::json!({}));
    result(&reply)["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .find(|c| c["pkcs11Id"] == hex::encode("SIGN"))
        .expect("demo signing certificate")["sha256"]
        .as_str()
        .expect("sha256")
        .to_owned()
}

/// The `result` of a reply, failing with the reply when it is an error.
pub fn result(reply: &Value) -> &Value {
    assert!(reply.get("error").is_none(), "unexpected error: {reply}");
    &reply["result"]
}

/// The error code of a reply, failing when it is a result.
pub fn error_code(reply: &Value) -> &str {
    reply["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {reply}"))
}

/// What the tests need to know about a token to check its signatures.
pub struct Card {
    pub serial: String,
    pub pin: String,
    pub sign_cert: Vec<u8>,
    pub root: Vec<u8>,
    pub issuer: Vec<u8>,
    pub holder: String,
}

impl Card {
    pub fn thumbprint(&self) -> String {
        sha256_hex(&self.sign_cert)
    }

    /// Root and issuer as one PEM file, for `openssl -CAfile`.
    pub fn chain_pem(&self, dir: &Path) -> PathBuf {
        let p = dir.join("chain.pem");
        std::fs::write(
            &p,
            format!("{}{}", der_to_pem(&self.root), der_to_pem(&self.issuer)),
        )
        .expect("write chain");
        p
    }
}

/// Checks a bare PKCS#1 v1.5 signature over `data` with `cert`'s key.
pub fn verify_pkcs1(dir: &Path, cert: &[u8], data: &[u8], signature: &[u8], hash: &str) {
    let key = public_key_pem(dir, cert, "signer");
    let data_path = dir.join("pkcs1.data");
    let sig_path = dir.join("pkcs1.sig");
    std::fs::write(&data_path, data).expect("write");
    std::fs::write(&sig_path, signature).expect("write");
    let (ok, text) = openssl_verify_pkcs1(
        &format!("-{hash}"),
        path(&key),
        path(&sig_path),
        path(&data_path),
    );
    assert!(ok, "pkcs1 {hash}: {text}");
}

/// Checks a detached CMS signature over `data`, chaining to `chain`.
pub fn verify_cms_detached(dir: &Path, chain: &Path, data: &[u8], cms: &[u8]) {
    let data_path = dir.join("cms.data");
    let cms_path = dir.join("cms.p7s");
    std::fs::write(&data_path, data).expect("write");
    std::fs::write(&cms_path, cms).expect("write");
    let (ok, text) = openssl_verify_cms(
        path(&cms_path),
        Some(path(&data_path)),
        path(chain),
        "/dev/null",
    );
    assert!(ok, "cms: {text}");
}

/// Checks an attached CMS signature, chaining to `chain`, and returns the content.
pub fn verify_cms_attached(dir: &Path, chain: &Path, cms: &[u8]) -> Vec<u8> {
    let cms_path = dir.join("attached.p7s");
    let out = dir.join("attached.out");
    std::fs::write(&cms_path, cms).expect("write");
    let (ok, text) = openssl_verify_cms(path(&cms_path), None, path(chain), path(&out));
    assert!(ok, "cms-attached: {text}");
    std::fs::read(out).expect("content")
}

/// One framed exchange with the daemon's socket, as a local client (CLI, tray) does it.
pub fn socket_call(
    stream: &mut std::os::unix::net::UnixStream,
    message: &[u8],
) -> Option<serde_json::Value> {
    use std::io::{Read, Write};
    let mut frame = (message.len() as u32).to_ne_bytes().to_vec();
    frame.extend_from_slice(message);
    stream.write_all(&frame).expect("write");
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).ok()?;
    let mut payload = vec![0u8; u32::from_ne_bytes(length) as usize];
    stream.read_exact(&mut payload).expect("payload");
    Some(serde_json::from_slice(&payload).expect("JSON"))
}
