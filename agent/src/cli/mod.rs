//! The `card-agent` command line: one module per command, one place where errors become an
//! exit status and one line on stderr.

mod list;
mod sign;
mod verify_pin;

use std::path::PathBuf;
use std::process::ExitCode;

use card_agent_protocol::{ErrorCode, Language};
use clap::{Parser, Subcommand};

use crate::card_core::{CardCore, CoreOptions};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::pin::Pin;

/// card-agent: use Taiwan government PKI cards (自然人憑證, 工商憑證, GCA, XCA, HCA) without
/// closed middleware.
#[derive(Debug, Parser)]
#[command(name = "card-agent", version, about, long_about = None)]
pub struct Cli {
    /// PKCS#11 module to load (repeatable). Overrides CARD_AGENT_PKCS11_MODULE, the config file
    /// and the well-known locations.
    #[arg(long = "pkcs11-module", value_name = "PATH", global = true)]
    pkcs11_module: Vec<PathBuf>,
    /// Config file (default: CARD_AGENT_CONFIG, else ~/.config/card-agent/config.toml).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Language of messages: zh-TW or en (default: from the locale).
    #[arg(long, value_name = "LANG", global = true)]
    lang: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List readers, tokens and certificates.
    List(list::Args),
    /// Sign a file with a card's key.
    Sign(sign::Args),
    /// Check a PIN against the card (costs a try if wrong, like any login).
    VerifyPin(verify_pin::Args),
    /// Run the per-user daemon that browsers and local tools talk to.
    Serve(ServeArgs),
    /// The browser's native messaging host (started by the browser, not by people).
    NativeHost(NativeHostArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Serve the built-in demo token instead of real cards.
    #[arg(long)]
    demo: bool,
}

#[derive(Debug, clap::Args)]
struct NativeHostArgs {
    /// What the browser passes: the caller's origin (Chrome) or the manifest path and add-on ID
    /// (Firefox); Windows adds --parent-window.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    browser_args: Vec<String>,
}

/// Runs the command line and returns the process exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let lang = language(cli.lang.as_deref());
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "card-agent: {}: {}{}",
                e.code(),
                e.user_message(lang),
                cli_hint(&e)
            );
            ExitCode::from(exit_status(e.code()))
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::List(args) => list::run(cli, args),
        Command::Sign(args) => sign::run(cli, args),
        Command::VerifyPin(args) => verify_pin::run(cli, args),
        Command::Serve(args) => {
            let config = Config::load(cli.config.as_deref())?;
            crate::daemon::run(crate::daemon::ServeOptions {
                core: core_options(cli, args.demo, &config),
                config,
                lang: language(cli.lang.as_deref()),
            })
        }
        Command::NativeHost(args) => {
            // A broken config must not stop the browser from reaching the daemon, which reports
            // config errors itself; the host only needs the extra allowed extensions.
            let allowed = Config::load(cli.config.as_deref())
                .map(|c| c.allowed_extensions)
                .unwrap_or_default();
            crate::native_host::run(&args.browser_args, &allowed)
        }
    }
}

/// How to act on an error with this command line's options, where one applies.
fn cli_hint(e: &Error) -> &'static str {
    match e {
        Error::Ambiguous {
            choose: crate::error::Choice::Token,
            ..
        } => " (--token SERIAL)",
        Error::Ambiguous {
            choose: crate::error::Choice::Certificate,
            ..
        } => " (--cert SHA256)",
        _ => "",
    }
}

/// Opens the card core with the global options; `demo` serves only the demo token.
fn open_core(cli: &Cli, demo: bool) -> Result<CardCore> {
    let config = if demo {
        Config::default()
    } else {
        Config::load(cli.config.as_deref())?
    };
    CardCore::open(&core_options(cli, demo, &config))
}

fn core_options(cli: &Cli, demo: bool, config: &Config) -> CoreOptions {
    CoreOptions {
        demo,
        command_line_modules: cli.pkcs11_module.clone(),
        environment_modules: std::env::var_os(crate::pkcs11::discovery::MODULE_ENV),
        config_modules: config.pkcs11_modules.clone(),
    }
}

/// Reads the PIN from standard input when `--pin-stdin` is given.
fn read_pin(pin_stdin: bool) -> Result<Pin> {
    if !pin_stdin {
        return Err(Error::PinRequired);
    }
    Pin::read_line(std::io::stdin().lock()).map_err(|e| Error::io("standard input", e))
}

/// The language of messages: `--lang`, else the locale variables.
fn language(flag: Option<&str>) -> Language {
    let from_env = || {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
    };
    flag.map(str::to_owned)
        .or_else(from_env)
        .map(|l| Language::from_locale(&l))
        .unwrap_or(Language::En)
}

/// Exit statuses, documented in the README; 2 is clap's usage error.
fn exit_status(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::PinIncorrect => 3,
        ErrorCode::PinLocked => 4,
        ErrorCode::PinFormat | ErrorCode::PinRequired => 5,
        ErrorCode::NoReader | ErrorCode::NoCard | ErrorCode::NoToken | ErrorCode::CardRemoved => 6,
        ErrorCode::NoModule | ErrorCode::UnknownCard => 7,
        ErrorCode::CertNotFound | ErrorCode::KeyNotFound => 8,
        ErrorCode::BadRequest | ErrorCode::UnsupportedAlgorithm | ErrorCode::IoError => 9,
        _ => 1,
    }
}

/// Logs go to stderr, warnings and up unless RUST_LOG says otherwise. Nothing logged anywhere
/// in the agent carries a PIN. Colours only on a terminal: the daemon's stderr is usually a
/// file or the journal, where escape codes are noise.
fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
