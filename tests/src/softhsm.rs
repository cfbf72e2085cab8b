//! SoftHSM2 tokens holding a MOICA-like test PKI, built in a temporary directory.
//!
//! Each [`SoftHsm`] has its own `SOFTHSM2_CONF` and token directory, so tests never touch
//! `/var/lib/softhsm` and never see each other's tokens. Keys are generated *on the token*
//! (pkcs11-tool), and certificates for them are issued by card-agent's test PKI from the
//! exported public keys, exactly as a card holds a key it generated and a certificate the CA
//! issued for it.
//!
//! SoftHSM never locks a PIN; it only sets CKF_USER_PIN_COUNT_LOW after a wrong one. Lock-out
//! paths are tested on the demo token, which models the card's counter.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use card_agent::certificate::CardFamily;
use card_agent::demo::pki::{CertUsage, Holder, TestPki};

/// SoftHSM's module on Debian.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of fixture tokens (six digits, as on a real card).
pub const USER_PIN: &str = "246810";
/// The SO PIN of fixture tokens.
pub const SO_PIN: &str = "13579135";
/// CKA_ID of the signing key pair ("SIGN").
pub const SIGN_ID: &str = "5349474e";
/// CKA_ID of the encryption key pair ("KEYX").
pub const KEYX_ID: &str = "4b455958";
/// CKA_ID of the optional EC signing key pair ("ECSG").
pub const EC_ID: &str = "45435347";

/// What to put on the token.
#[derive(Debug, Clone)]
pub struct Options {
    /// Token label.
    pub label: String,
    /// Which CA family issues the certificates.
    pub family: CardFamily,
    /// Also create an EC P-256 signing key and certificate.
    pub with_ec: bool,
    /// Give the RSA keys CKA_ALWAYS_AUTHENTICATE (`pkcs11-tool --always-auth`): the PIN again
    /// for every use, as the signing keys of many national cards require.
    pub always_auth: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            label: "MOICA TEST".to_owned(),
            family: CardFamily::Moica,
            with_ec: false,
            always_auth: false,
        }
    }
}

/// A SoftHSM2 token in a temporary directory.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    /// Token label.
    pub label: String,
    /// The test PKI that issued the certificates.
    pub pki: TestPki,
    /// DER of the signing certificate.
    pub sign_cert: Vec<u8>,
    /// DER of the encryption certificate.
    pub keyx_cert: Vec<u8>,
    /// DER of the EC signing certificate, when asked for.
    pub ec_cert: Option<Vec<u8>>,
}

impl SoftHsm {
    /// Builds a token as `options` say. Panics with a clear message when SoftHSM or
    /// pkcs11-tool is missing: the test bed cannot run without them.
    pub fn new(options: Options) -> SoftHsm {
        Self::build(tempfile::tempdir().expect("temporary directory"), options)
    }

    /// Builds a token as `options` say, in a new directory inside `parent`.
    pub fn new_in(parent: &Path, options: Options) -> SoftHsm {
        Self::build(
            tempfile::tempdir_in(parent).expect("directory for the token"),
            options,
        )
    }

    fn build(dir: tempfile::TempDir, options: Options) -> SoftHsm {
        assert!(
            Path::new(SOFTHSM_MODULE).exists(),
            "SoftHSM2 is not installed ({SOFTHSM_MODULE}); run the README's test command"
        );
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token directory");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("write softhsm2.conf");
        let pki = TestPki::generate(options.family).expect("test PKI");
        let mut hsm = SoftHsm {
            dir,
            conf,
            label: options.label,
            pki,
            sign_cert: Vec::new(),
            keyx_cert: Vec::new(),
            ec_cert: None,
        };
        hsm.run_ok(Command::new("softhsm2-util").args([
            "--init-token",
            "--free",
            "--label",
            &hsm.label,
            "--so-pin",
            SO_PIN,
            "--pin",
            USER_PIN,
        ]));
        let holder = holder_for(options.family);
        let rsa = if options.always_auth {
            "rsa:2048+always-auth"
        } else {
            "rsa:2048"
        };
        hsm.sign_cert =
            hsm.key_with_certificate(SIGN_ID, rsa, "signing", &holder, CertUsage::Signing);
        hsm.keyx_cert =
            hsm.key_with_certificate(KEYX_ID, rsa, "encryption", &holder, CertUsage::Encryption);
        if options.with_ec {
            hsm.ec_cert = Some(hsm.key_with_certificate(
                EC_ID,
                "EC:prime256v1",
                "EC signing",
                &holder,
                CertUsage::Signing,
            ));
        }
        hsm
    }

    /// The `SOFTHSM2_CONF` path; set it on every process that should see this token.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The temporary directory, for test files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps the token's directory after this value is gone (for a fixture that another
    /// process uses) and returns its path. Whoever asked for it removes it.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }

    /// A command with this token's environment set.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", &self.conf);
        c
    }

    /// Writes the root and issuer certificates as one PEM bundle, for `openssl -CAfile`.
    pub fn write_chain_pem(&self) -> PathBuf {
        let path = self.dir.path().join("chain.pem");
        let pem = format!(
            "{}{}",
            der_to_pem(self.pki.root_der()),
            der_to_pem(self.pki.issuer_der())
        );
        std::fs::write(&path, pem).expect("write chain");
        path
    }

    /// The token's flags line as pkcs11-tool prints it (e.g. to see "user PIN count low").
    pub fn token_flags(&self) -> String {
        let out = self.run_ok(self.command("pkcs11-tool").args([
            "--module",
            SOFTHSM_MODULE,
            "--list-token-slots",
        ]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("token flags"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn key_with_certificate(
        &self,
        id: &str,
        key_type: &str,
        label: &str,
        holder: &Holder,
        usage: CertUsage,
    ) -> Vec<u8> {
        let p11 = |args: &[&str]| {
            let mut c = self.command("pkcs11-tool");
            c.args(["--module", SOFTHSM_MODULE, "--token-label", &self.label])
                .args(args);
            c
        };
        // `+always-auth` is this helper's own suffix, not pkcs11-tool's.
        let (key_type, always_auth) = match key_type.strip_suffix("+always-auth") {
            Some(t) => (t, true),
            None => (key_type, false),
        };
        let mut keygen = vec![
            "--login",
            "--pin",
            USER_PIN,
            "--keypairgen",
            "--key-type",
            key_type,
            "--id",
            id,
            "--label",
            label,
        ];
        if always_auth {
            keygen.push("--always-auth");
        }
        self.run_ok(&mut p11(&keygen));
        let spki_path = self.dir.path().join(format!("{id}.pub.der"));
        let spki_arg = spki_path.to_string_lossy().into_owned();
        self.run_ok(&mut p11(&[
            "--read-object",
            "--type",
            "pubkey",
            "--id",
            id,
            "-o",
            &spki_arg,
        ]));
        let spki = std::fs::read(&spki_path).expect("exported public key");
        let cert = self
            .pki
            .issue(holder, &spki, usage, 3650)
            .expect("issue certificate");
        let cert_path = self.dir.path().join(format!("{id}.crt.der"));
        std::fs::write(&cert_path, &cert).expect("write certificate");
        let cert_arg = cert_path.to_string_lossy().into_owned();
        self.run_ok(&mut p11(&[
            "--login",
            "--pin",
            USER_PIN,
            "--write-object",
            &cert_arg,
            "--type",
            "cert",
            "--id",
            id,
            "--label",
            label,
        ]));
        cert
    }

    fn run_ok(&self, command: &mut Command) -> Output {
        command.env("SOFTHSM2_CONF", &self.conf);
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        assert!(
            out.status.success(),
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// A realistic holder for each family.
fn holder_for(family: CardFamily) -> Holder {
    match family {
        CardFamily::Moeaca => Holder {
            business_number: Some("12345675".to_owned()),
            organisation: Some("測試科技股份有限公司 TEST".to_owned()),
            card_serial: Some("MT00000000000042".to_owned()),
            ..Holder::default()
        },
        _ => Holder {
            name: "王小明 TEST".to_owned(),
            serial_number: "0000000012345678".to_owned(),
            id_last4: Some("5678".to_owned()),
            card_serial: Some("TP00000000000042".to_owned()),
            ..Holder::default()
        },
    }
}

/// PEM-encodes a DER certificate.
pub fn der_to_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}
