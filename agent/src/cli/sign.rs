//! `card-agent sign`: sign a file in PKCS#1, detached CMS or attached CMS.

use std::path::PathBuf;

use card_agent_protocol::i18n;

use super::door::Door;
use super::{read_pin, Cli};
use crate::error::{Error, Result};
use crate::service::SignRequest;
use crate::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};

/// Largest input file; pages sign forms and documents, not disk images.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Arguments of `sign`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// File to sign.
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// Where to write the signature (DER for CMS, raw bytes for pkcs1).
    #[arg(long = "out", value_name = "FILE")]
    output: PathBuf,
    /// pkcs1, cms (detached) or cms-attached.
    #[arg(long, value_parser = ["pkcs1", "cms", "cms-attached"])]
    format: String,
    /// sha1, sha256, sha384 or sha512.
    #[arg(long, default_value = "sha256", value_parser = ["sha1", "sha256", "sha384", "sha512"])]
    hash: String,
    /// The input is already a hash of the data (pkcs1 and cms only).
    #[arg(long)]
    prehashed: bool,
    /// SHA-256 thumbprint (hex) of the certificate to sign with; required when several are present.
    #[arg(long, value_name = "SHA256_HEX")]
    cert: Option<String>,
    /// A nonce (hex) to add as a signed attribute in CMS.
    #[arg(long, value_name = "HEX")]
    nonce: Option<String>,
    /// Use the built-in demo token (PIN 123456).
    #[arg(long)]
    demo: bool,
    /// Read the PIN from the first line of standard input.
    #[arg(long)]
    pin_stdin: bool,
}

/// Runs `sign`.
pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    let format = SignFormat::parse(&args.format)
        .ok_or_else(|| Error::BadInput(format!("unknown format {}", args.format)))?;
    let hash = HashAlgorithm::parse(&args.hash)
        .ok_or_else(|| Error::BadInput(format!("unknown hash {}", args.hash)))?;
    let nonce = args
        .nonce
        .as_deref()
        .map(|n| hex::decode(n).map_err(|_| Error::BadInput("--nonce must be hex".to_owned())))
        .transpose()?;
    let data = read_input(&args.input)?;
    let input = if args.prehashed {
        SignInput::Hash(data)
    } else {
        SignInput::Data(data)
    };
    let pin = read_pin(args.pin_stdin)?;
    let out = Door::open(cli, args.demo)?.sign(
        cli,
        SignRequest {
            certificate: args.cert.clone(),
            input,
            hash,
            format,
            cms: CmsOptions {
                nonce,
                ..CmsOptions::default()
            },
            pin,
            slot_description: None,
            with_card_serial: false,
            check_validity: false,
        },
    )?;
    let signature = out.signature;
    std::fs::write(&args.output, &signature).map_err(|e| Error::io(args.output.display(), e))?;
    eprintln!(
        "{}",
        i18n::format(
            super::language(cli.lang.as_deref()),
            "cli.sign.done",
            &[
                ("holder", &out.holder),
                ("serial", &out.serial),
                ("bytes", &signature.len()),
                ("file", &args.output.display()),
            ],
        )
    );
    Ok(())
}

fn read_input(path: &PathBuf) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display(), e))?;
    if meta.len() > MAX_INPUT_BYTES {
        return Err(Error::BadInput(format!(
            "{}: larger than {MAX_INPUT_BYTES} bytes",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| Error::io(path.display(), e))
}
