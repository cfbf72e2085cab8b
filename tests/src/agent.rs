//! Running the real `card-agent` binary and checking its output with openssl.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `card-agent` binary: `CARD_AGENT_BIN` if set, else the one built beside this test in the
/// same target directory (the README's test command builds it first).
pub fn agent_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CARD_AGENT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current executable");
    let name = format!("card-agent{}", std::env::consts::EXE_SUFFIX);
    // A test runs from target/<profile>/deps/, a bench binary from target/<profile>/.
    let dir = exe.parent().expect("executable directory");
    let bin = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir).join(&name)
    } else {
        dir.join(&name)
    };
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --workspace` first (the README's test command does)",
        bin.display()
    );
    bin
}

/// Another binary built beside `card-agent` in the same target directory (e.g. `fake-pinentry`).
pub fn sibling_bin(name: &str) -> PathBuf {
    let bin = agent_bin().with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --workspace --all-targets` first",
        bin.display()
    );
    bin
}

/// The result of one run.
#[derive(Debug)]
pub struct Run {
    /// Exit status code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Parses stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `command` (already carrying its environment), feeding `stdin`.
pub fn run(mut command: Command, stdin: &[u8]) -> Run {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A language fixed for assertions on messages; tests that check zh-TW pass --lang.
    command
        .env("LANG", "en_US.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("CARD_AGENT_LANG");
    command
        .env_remove("CARD_AGENT_PKCS11_MODULE")
        .env_remove("CARD_AGENT_CONFIG");
    let mut child = command.spawn().expect("spawn card-agent");
    if let Some(mut input) = child.stdin.take() {
        // The child may exit before reading (e.g. a usage error); a broken pipe is fine then.
        let _ = input.write_all(stdin);
    }
    Run::from(child.wait_with_output().expect("wait for card-agent"))
}

/// Runs `openssl` with `args` and returns whether it succeeded, with its output for messages.
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Encrypts `plain` to the RSA key of `cert_der` (PKCS#1 v1.5) with `openssl pkeyutl`, in
/// `dir`: what a server does before a page asks the card to decrypt.
pub fn openssl_encrypt_pkcs1(dir: &Path, cert_der: &[u8], plain: &[u8]) -> Vec<u8> {
    let (cert, input, cipher) = (dir.join("keyx.der"), dir.join("plain"), dir.join("cipher"));
    std::fs::write(&cert, cert_der).expect("certificate file");
    std::fs::write(&input, plain).expect("plaintext file");
    let (ok, text) = openssl(&[
        "pkeyutl",
        "-encrypt",
        "-certin",
        "-inkey",
        path(&cert),
        "-keyform",
        "DER",
        "-in",
        path(&input),
        "-out",
        path(&cipher),
    ]);
    assert!(ok, "{text}");
    std::fs::read(&cipher).expect("ciphertext")
}

/// Verifies a PKCS#1 v1.5 or ECDSA signature with `openssl dgst`: `hash_flag` is openssl's digest
/// option (`-sha256`), then the public key (PEM), the signature and the signed data files.
pub fn openssl_verify_pkcs1(
    hash_flag: &str,
    public_key: &str,
    signature: &str,
    data: &str,
) -> (bool, String) {
    openssl(&[
        "dgst",
        hash_flag,
        "-verify",
        public_key,
        "-signature",
        signature,
        data,
    ])
}

/// Verifies a DER CMS signature with `openssl cms -verify`, chaining to `ca_file`: detached over
/// `content` when given, else attached; the signed content is written to `out`.
pub fn openssl_verify_cms(
    cms: &str,
    content: Option<&str>,
    ca_file: &str,
    out: &str,
) -> (bool, String) {
    let mut args = vec!["cms", "-verify", "-binary", "-inform", "DER", "-in", cms];
    if let Some(content) = content {
        args.extend(["-content", content]);
    }
    args.extend(["-CAfile", ca_file, "-purpose", "any", "-out", out]);
    openssl(&args)
}

/// Writes the public key of a DER certificate as PEM and returns its path.
pub fn public_key_pem(dir: &Path, cert_der: &[u8], name: &str) -> PathBuf {
    let cert = dir.join(format!("{name}.crt.der"));
    std::fs::write(&cert, cert_der).expect("write certificate");
    let key = dir.join(format!("{name}.pub.pem"));
    let (ok, text) = openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        path(&cert),
        "-pubkey",
        "-noout",
        "-out",
        path(&key),
    ]);
    assert!(ok, "openssl x509 -pubkey: {text}");
    key
}

/// A path as &str for command arguments (test paths are always UTF-8).
pub fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The workspace root (the repository's top folder).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the testbed crate sits in the workspace root")
        .to_path_buf()
}

/// Whether `name` is an executable file in a folder of `PATH`.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}
