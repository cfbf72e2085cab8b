//! `card-agent install` and `card-agent uninstall`: per user (`--user`), or the system-wide
//! files of a package staged into a directory (`--system --destdir DIR`).

use std::path::PathBuf;

use card_agent_protocol::i18n;
use serde_json::json;

use super::{language, Cli};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::install::user::{self, Choice, UserDirs};
use crate::install::{system, Os};

/// `card-agent install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Install for this user, without administrator rights: host manifests for the browsers
    /// this user runs (native, Flatpak, Snap), the service's systemd user unit, the tray's
    /// autostart entry, and a receipt for `uninstall --user`.
    #[arg(long, conflicts_with = "system")]
    user: bool,
    /// Write every system-wide file (host manifests under /etc and /usr/lib, the systemd user
    /// unit, the tray's autostart entry, /etc/card-agent/config.toml) below --destdir, for a
    /// package build.
    #[arg(long, requires = "destdir")]
    system: bool,
    /// The staging directory standing for `/` (with --system).
    #[arg(long, value_name = "DIR", requires = "system")]
    destdir: Option<PathBuf>,
    /// The executable the files start (default: this program with --user, /usr/bin/card-agent
    /// with --system).
    #[arg(long, value_name = "PATH")]
    exe: Option<PathBuf>,
    /// With --user: chrome, chromium, edge, brave, firefox, all, or installed (every browser
    /// this user has run; every browser's usual place when none has been run yet).
    #[arg(long, default_value = "installed")]
    browser: String,
    /// Print what would be written, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `card-agent uninstall`.
#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Remove what `install --user` wrote for this user (and the folders it created).
    #[arg(long, required = true)]
    user: bool,
    /// Also remove your settings and trusted sites.
    #[arg(long)]
    purge: bool,
    /// Print what would be removed, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `card-agent install`.
pub fn install(cli: &Cli, args: &InstallArgs) -> Result<()> {
    let lang = language(cli.lang.as_deref());
    if args.system {
        return install_system(cli, args);
    }
    if !args.user {
        return Err(Error::BadInput(
            i18n::text(lang, "cli.install.need_scope").to_owned(),
        ));
    }
    let exe = match &args.exe {
        Some(exe) => exe.clone(),
        None => std::env::current_exe().map_err(|e| Error::io("card-agent executable", e))?,
    };
    let extra = Config::load(cli.config.as_deref())?.allowed_extensions;
    let dirs = UserDirs::current()?;
    let choice = Choice::parse(&args.browser)?;
    let files = user::plan(&dirs, Os::current(), choice, &exe, &extra)?;
    let report = user::install(&dirs, &files, &exe, lang, args.dry_run)?;
    print_report(&report, lang, args.json)
}

fn install_system(_cli: &Cli, args: &InstallArgs) -> Result<()> {
    let lang = language(_cli.lang.as_deref());
    let destdir = args
        .destdir
        .as_deref()
        .ok_or_else(|| Error::BadInput(i18n::text(lang, "cli.install.need_scope").to_owned()))?;
    let exe = args
        .exe
        .clone()
        .unwrap_or_else(|| PathBuf::from("/usr/bin/card-agent"));
    // A package's manifests allow card-agent's own extensions only: the builder's personal
    // `allowed_extensions` must not end up in everyone's package.
    let files = system::plan(&exe, &[])?;
    let staged = system::stage(destdir, &files, args.dry_run)?;
    if args.json {
        let written: Vec<_> = files
            .iter()
            .zip(&staged)
            .map(|(f, s)| json!({ "path": f.path, "staged": s, "what": f.what }))
            .collect();
        let body = json!({ "dryRun": args.dry_run, "destdir": destdir, "written": written });
        println!("{body:#}");
        return Ok(());
    }
    let key = if args.dry_run {
        "cli.install.would_write"
    } else {
        "cli.install.wrote"
    };
    for (file, staged) in files.iter().zip(&staged) {
        println!(
            "{}",
            i18n::format(
                lang,
                key,
                &[
                    ("file", &staged.display()),
                    ("what", &file.what.describe(lang))
                ]
            )
        );
    }
    Ok(())
}

/// Runs `card-agent uninstall`.
pub fn uninstall(cli: &Cli, args: &UninstallArgs) -> Result<()> {
    let lang = language(cli.lang.as_deref());
    let dirs = UserDirs::current()?;
    let report = user::uninstall(&dirs, Os::current(), args.purge, args.dry_run)?;
    print_report(&report, lang, args.json)
}

fn print_report(
    report: &user::Report,
    lang: card_agent_protocol::Language,
    json: bool,
) -> Result<()> {
    if json {
        let text =
            serde_json::to_string_pretty(report).map_err(|e| Error::Internal(e.to_string()))?;
        println!("{text}");
    } else {
        for line in user::render(report, lang) {
            println!("{line}");
        }
    }
    Ok(())
}
