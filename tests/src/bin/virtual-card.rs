//! `virtual-card [--port N] [--atr HEX] [--test-bed]`: puts a virtual card in a vpcd reader
//! until killed.
//!
//! Needs pcscd running with the vpcd driver. With `--test-bed` (for tests in other languages,
//! the browser suite's): it starts pcscd if none runs, waits for the vpcd readers, takes the
//! test bed's lock on them (as the Rust tests do), prints `ready` and waits for a line on
//! stdin before it inserts the card, then prints `inserted`. Port 35963 is "Virtual PCD 00 00" (the default),
//! 35964 "Virtual PCD 00 01". The default ATR is a first-generation MOICA card's.

use std::process::ExitCode;

use card_agent::reader::{atr_hex, MOICA_GEN1_ATR};
use card_agent_testbed::pcscd;
use card_agent_testbed::virtual_card::{VirtualCard, PORT_0};

const USAGE: &str = "usage: virtual-card [--port N] [--atr HEX]
  --port N    vpcd port: 35963 = \"Virtual PCD 00 00\" (default), 35964 = \"Virtual PCD 00 01\"
  --atr HEX   the card's ATR, spaces or colons allowed (default: first-generation MOICA)
  --test-bed  start pcscd if needed, hold the test bed's vpcd lock, print `ready`, insert the
              card on a line from stdin and print `inserted`";

struct Options {
    port: u16,
    atr: Vec<u8>,
    test_bed: bool,
}

/// The options, or `None` when help was asked for.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        port: PORT_0,
        atr: MOICA_GEN1_ATR.to_vec(),
        test_bed: false,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => {
                let text = value()?;
                options.port = text
                    .parse()
                    .map_err(|e| format!("bad port {text:?}: {e}"))?;
            }
            "--atr" => {
                let text = value()?.replace([' ', ':'], "");
                options.atr = hex::decode(&text).map_err(|e| format!("bad ATR {text:?}: {e}"))?;
                if options.atr.is_empty() {
                    return Err("the ATR cannot be empty".to_owned());
                }
            }
            "--test-bed" => options.test_bed = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("virtual-card: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Held until the process ends, which removes the card.
    let _readers = match options.test_bed.then(test_bed).transpose() {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("virtual-card: {e}");
            return ExitCode::FAILURE;
        }
    };
    let card = match VirtualCard::insert(options.port, &options.atr) {
        Ok(card) => card,
        Err(e) => {
            eprintln!("virtual-card: {e}");
            return ExitCode::FAILURE;
        }
    };
    if options.test_bed {
        println!("inserted");
    }
    eprintln!(
        "virtual-card: card with ATR {} in vpcd port {}; kill this process to remove it",
        atr_hex(&options.atr),
        options.port
    );
    match card.wait() {
        Ok(()) => eprintln!("virtual-card: vpcd closed the connection (pcscd stopped?)"),
        Err(e) => eprintln!("virtual-card: connection to vpcd lost: {e}"),
    }
    ExitCode::FAILURE
}

/// The test bed's part: pcscd with the vpcd readers, their lock, and the go-ahead on stdin.
fn test_bed() -> Result<pcscd::VirtualReadersLock, String> {
    pcscd::ensure_pcscd()?;
    let lock = pcscd::lock_virtual_readers()?;
    println!("ready");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    Ok(lock)
}
