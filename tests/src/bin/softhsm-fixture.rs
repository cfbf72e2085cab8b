//! Creates a SoftHSM2 test card for programs outside Rust (the browser tests) and describes it
//! as one line of JSON on standard output.
//!
//! ```text
//! softhsm-fixture --dir DIR [--label LABEL]
//! {"dir": ".../DIR/.tmpXXXX", "conf": ".../softhsm2.conf", "module": "/usr/lib/softhsm/libsofthsm2.so",
//!  "label": "MOICA TEST", "pin": "246810", "soPin": "13579135", "chainPem": ".../chain.pem",
//!  "signCertSha256": "...", "holder": "王小明 TEST", "cardFamily": "MOICA"}
//! ```
//!
//! The token, its configuration and the CA chain (root and issuer, PEM) live in a new
//! directory inside `DIR`, which is left in place: the caller removes it. Point a process at
//! the token with `SOFTHSM2_CONF=<conf>` and the module.

use std::path::PathBuf;
use std::process::ExitCode;

use card_agent::certificate::CertificateInfo;
use card_agent_testbed::softhsm::{Options, SoftHsm, SOFTHSM_MODULE, SO_PIN, USER_PIN};

const USAGE: &str = "usage: softhsm-fixture --dir DIR [--label LABEL]";

fn main() -> ExitCode {
    let mut dir: Option<PathBuf> = None;
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--dir", Some(value)) => dir = Some(value.into()),
            ("--label", Some(value)) => options.label = value,
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };

    let hsm = SoftHsm::new_in(&dir, options);
    let chain = hsm.write_chain_pem();
    let sign_cert = CertificateInfo::parse(&hsm.sign_cert).expect("the fixture's certificate");
    let description = serde_json::json!({
        "dir": hsm.dir(),
        "conf": hsm.conf(),
        "module": SOFTHSM_MODULE,
        "label": hsm.label,
        "pin": USER_PIN,
        "soPin": SO_PIN,
        "chainPem": chain,
        "signCertSha256": sign_cert.sha256,
        "holder": sign_cert.holder_name(),
        "cardFamily": sign_cert.family.as_str(),
    });
    hsm.keep();
    println!("{description}");
    ExitCode::SUCCESS
}
