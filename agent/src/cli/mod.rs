//! The `card-agent` command line: one module per command, one place where errors become an
//! exit status and one line on stderr.

mod doctor;
mod door;
mod install;
mod list;
mod sign;
mod verify_pin;

use std::path::PathBuf;
use std::process::ExitCode;

use card_agent_protocol::{i18n, ErrorCode, Language};
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
    /// Install card-agent for this user (--user) or stage a package's system files (--system).
    Install(install::InstallArgs),
    /// Remove what `install --user` installed for this user.
    Uninstall(install::UninstallArgs),
    /// Register the native messaging host with browsers (per user; only the manifests, or
    /// into --dir). `install --user` does this and installs the service and tray files too.
    InstallHost(InstallHostArgs),
    /// Check this computer: card service, reader, card, driver, certificates, PIN, daemon,
    /// browsers; say how to fix what is wrong (exit status 1 when a check failed).
    Doctor(doctor::Args),
    /// Show the card's state in the system tray (started with the desktop session).
    Tray,
}

#[derive(Debug, clap::Args)]
struct InstallHostArgs {
    /// chrome, chromium, edge, brave, firefox or all (default: every browser this user has run).
    #[arg(long, default_value = "installed")]
    browser: String,
    /// Write the manifest into this directory instead (e.g. `<user-data-dir>/NativeMessagingHosts`
    /// for a browser started with a custom profile).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if crate::install::started_by_browser(&args) {
        return native_host_main(&args);
    }
    let cli = Cli::parse();
    // The daemon is usually started by a browser or the tray, with stderr going nowhere: it
    // also logs to a file the user can find ("Open log folder" in the tray).
    let log_dir = matches!(cli.command, Command::Serve(_)).then(crate::daemon::log_dir);
    init_logging(log_dir.as_deref());
    let lang = language(cli.lang.as_deref());
    match run(&cli) {
        Ok(status) => status,
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

/// The browser started us as its native host: no subcommand, and nothing on stdout but frames.
fn native_host_main(args: &[String]) -> ExitCode {
    init_logging(None);
    let allowed = Config::load(None)
        .map(|c| c.allowed_extensions)
        .unwrap_or_default();
    match crate::native_host::run(args, &allowed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("card-agent native host: {}: {e}", e.code());
            ExitCode::from(exit_status(e.code()))
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode> {
    let done = |result: Result<()>| result.map(|()| ExitCode::SUCCESS);
    match &cli.command {
        Command::List(args) => done(list::run(cli, args)),
        Command::Sign(args) => done(sign::run(cli, args)),
        Command::VerifyPin(args) => done(verify_pin::run(cli, args)),
        Command::Serve(args) => {
            let config = Config::load(cli.config.as_deref())?;
            done(crate::daemon::run(crate::daemon::ServeOptions {
                core: core_options(cli, args.demo, &config),
                config,
                lang: language(cli.lang.as_deref()),
                config_path: cli.config.clone(),
            }))
        }
        Command::Install(args) => done(install::install(cli, args)),
        Command::Uninstall(args) => done(install::uninstall(cli, args)),
        Command::InstallHost(args) => done(install_host(cli, args)),
        Command::Tray => done(crate::tray::run(language(cli.lang.as_deref()))),
        Command::NativeHost(args) => {
            // A broken config must not stop the browser from reaching the daemon, which reports
            // config errors itself; the host only needs the extra allowed extensions.
            let allowed = Config::load(cli.config.as_deref())
                .map(|c| c.allowed_extensions)
                .unwrap_or_default();
            done(crate::native_host::run(&args.browser_args, &allowed))
        }
        Command::Doctor(args) => doctor::run(cli, args),
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

/// The service the command line goes through, run in this process: the same door, the same
/// rules as the daemon's, over the card core the global options name (`demo`: only the demo
/// token). The caller is this process, a local program of the user; the PIN comes from
/// standard input, and the "dialogs" are the terminal's ([`Terminal`]).
fn open_service(cli: &Cli, demo: bool) -> Result<crate::service::Service> {
    let core = open_core(cli, demo)?;
    // No site ever calls through the command line: no patterns, no approvals.
    let policy = crate::policy::Policy::new(Vec::new(), crate::policy::Approvals::none());
    let terminal = Terminal {
        lang: language(cli.lang.as_deref()),
    };
    Ok(crate::service::Service::with_dialogs(
        std::sync::Arc::new(core),
        policy,
        Ok(Box::new(terminal)),
        crate::service::Settings::default(),
    ))
}

/// This process as the service's caller.
fn caller(cli: &Cli) -> crate::service::Caller {
    crate::service::Caller::local(language(cli.lang.as_deref()))
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
        module_timeout: config.module_timeout(),
    }
}

fn install_host(cli: &Cli, args: &InstallHostArgs) -> Result<()> {
    use crate::install::{self, Browser};
    let exe = std::env::current_exe().map_err(|e| Error::io("card-agent executable", e))?;
    let extra = Config::load(cli.config.as_deref())?.allowed_extensions;
    let roots =
        install::current_roots().ok_or_else(|| Error::Internal("no home directory".to_owned()))?;
    let browsers: Vec<Browser> = match args.browser.as_str() {
        "all" => Browser::ALL.to_vec(),
        "installed" => install::installed_browsers(&roots),
        name => vec![Browser::parse(name)
            .ok_or_else(|| Error::BadInput(format!("unknown browser {name}")))?],
    };
    let lang = language(cli.lang.as_deref());
    for (browser, file) in install::register(&roots, &browsers, args.dir.as_deref(), &exe, &extra)?
    {
        println!(
            "{}",
            i18n::format(
                lang,
                "cli.install_host.registered",
                &[("browser", &browser.name()), ("file", &file.display())],
            )
        );
    }
    Ok(())
}

/// The PIN from standard input with `--pin-stdin`; else none (a PIN-pad reader takes it, and
/// any other card refuses: PIN_REQUIRED).
fn read_pin(pin_stdin: bool) -> Result<Option<card_agent_protocol::SecretString>> {
    if !pin_stdin {
        return Ok(None);
    }
    let pin =
        Pin::read_line(std::io::stdin().lock()).map_err(|e| Error::io("standard input", e))?;
    Ok(Some(card_agent_protocol::SecretString::new(
        pin.expose().to_owned(),
    )))
}

/// The command line's own "dialogs", on its terminal: it never asks for a PIN (that is
/// `--pin-stdin`'s job) nor about a site (no site calls through it); on a PIN-pad reader it
/// says where to type the PIN.
struct Terminal {
    lang: Language,
}

impl crate::service::Dialogs for Terminal {
    fn ask_pin(
        &self,
        _client: &crate::pinentry::Client,
        _request: &crate::pinentry::PinRequest<'_>,
    ) -> Result<Pin> {
        Err(Error::PinRequired)
    }

    fn confirm_site(
        &self,
        _client: &crate::pinentry::Client,
        _origin: &str,
        _lang: Language,
    ) -> Result<bool> {
        Ok(false)
    }

    fn close_client(&self, client: &crate::pinentry::Client) {
        client.leave();
    }

    fn close_all(&self) {}

    fn show_reader_notice(
        &self,
        _client: &crate::pinentry::Client,
        _request: &crate::pinentry::PinRequest<'_>,
    ) -> Result<Box<dyn Send>> {
        eprintln!(
            "{}",
            i18n::text(self.lang, "pinentry.reader.type_on_reader")
        );
        Ok(Box::new(()))
    }
}

/// The language of messages: `--lang`, else `CARD_AGENT_LANG`, else the locale, else zh-TW.
pub(crate) fn language(flag: Option<&str>) -> Language {
    crate::config::language(flag)
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
        ErrorCode::CertExpired | ErrorCode::CertNotYetValid => 8,
        ErrorCode::BadRequest | ErrorCode::UnsupportedAlgorithm | ErrorCode::IoError => 9,
        _ => 1,
    }
}

/// Logs go to stderr, warnings and up unless RUST_LOG says otherwise; with `file_dir` (the
/// daemon) also to `agent.log` there, info and up unless RUST_LOG says otherwise, rotated by
/// size ([`crate::log_file`]). Nothing logged anywhere in the agent carries a PIN. Colours only
/// on a terminal: the daemon's stderr is usually a file or the journal, where escape codes are
/// noise.
fn init_logging(file_dir: Option<&std::path::Path>) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = |default: &str| {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_filter(filter("warn"));
    let file = file_dir.and_then(|dir| match crate::log_file::RotatingFile::open_in(dir) {
        Ok(log) => Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(log))
                .with_filter(filter("info")),
        ),
        Err(e) => {
            eprintln!("card-agent: cannot write the log in {}: {e}", dir.display());
            None
        }
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
}
