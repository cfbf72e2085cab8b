//! `card-agent verify-pin`: one login with the PIN from standard input.

use card_agent_protocol::i18n;

use super::door::Door;
use super::{read_pin, Cli};
use crate::error::Result;

/// Arguments of `verify-pin`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serial of the token to check, when several are present.
    #[arg(long, value_name = "SERIAL")]
    token: Option<String>,
    /// Use the built-in demo token (PIN 123456).
    #[arg(long)]
    demo: bool,
    /// Read the PIN from the first line of standard input.
    #[arg(long)]
    pin_stdin: bool,
}

/// Runs `verify-pin`.
pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    let pin = read_pin(args.pin_stdin)?;
    let (label, serial) =
        Door::open(cli, args.demo)?.verify_pin(cli, args.token.as_deref(), pin)?;
    println!(
        "{}",
        i18n::format(
            super::language(cli.lang.as_deref()),
            "cli.verify_pin.ok",
            &[("label", &label), ("serial", &serial)],
        )
    );
    Ok(())
}
