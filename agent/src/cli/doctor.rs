//! `card-agent doctor`: the environment check, for people or (`--json`) for programs, and
//! `--fix ACTION` to apply one of the fixes card-agent can make itself.

use std::process::ExitCode;

use super::{core_options, language, Cli};
use crate::config::Config;
use crate::doctor::{self, render};
use crate::error::{Error, Result};

/// Arguments of `doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the report (or the fix's outcome) as JSON.
    #[arg(long)]
    json: bool,
    /// Run the card checks against the built-in demo token.
    #[arg(long)]
    demo: bool,
    /// Apply a fix instead of checking: register-host or start-daemon.
    #[arg(long, value_name = "ACTION_ID")]
    fix: Option<String>,
}

/// Runs `doctor`: exit status 0 when nothing failed (warnings allowed), 1 when a check failed.
pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    let options = doctor::Options::for_current_user(
        language(cli.lang.as_deref()),
        args.demo,
        core_options(cli, false, &config),
        config,
        cli.config.clone(),
    );
    if let Some(action) = &args.fix {
        let outcome = doctor::apply_fix(action, &options)?;
        if args.json {
            println!("{}", to_json(&outcome)?);
        } else {
            println!("{}", outcome.message);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = doctor::run(&options);
    if args.json {
        println!("{}", to_json(&report)?);
    } else {
        print!("{}", render::text(&report, render::use_colour()));
    }
    Ok(if report.has_failures() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::Internal(e.to_string()))
}
