//! The fixes card-agent applies itself: a check's [`Fix::Action`](super::Fix::Action) names
//! one of these, and `card-agent doctor --fix <id>` (or a page, through the daemon) runs it.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::probe::{self, DaemonFacts};
use super::{f, t, Options};
use crate::error::{Error, Result};
use crate::install::{self, Browser};

/// Registers the native host with the user's browsers, as `card-agent install-host` does
/// (`card-agent install --user` does that and installs the service and tray files too).
pub const REGISTER_HOST: &str = "register-host";
/// Starts the daemon (`card-agent serve`) for this user.
pub const START_DAEMON: &str = "start-daemon";
/// Every action, for `--fix` and for pages.
pub const ACTIONS: [&str; 2] = [REGISTER_HOST, START_DAEMON];

/// How long a started daemon has to answer.
const START_WAIT: Duration = Duration::from_secs(10);

/// What a fix did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FixOutcome {
    /// The action's id.
    pub action: &'static str,
    /// What was done, for a person.
    pub message: String,
}

/// Applies the fix action `action_id` (one of [`ACTIONS`]). An unknown id is a bad request.
pub fn apply_fix(action_id: &str, options: &Options) -> Result<FixOutcome> {
    match action_id {
        REGISTER_HOST => register_host(options),
        START_DAEMON => start_daemon(options),
        other => Err(Error::BadInput(format!(
            "unknown fix {other:?}; the fixes are: {}",
            ACTIONS.join(", ")
        ))),
    }
}

/// The same registration as `card-agent install-host`: every browser this user has run,
/// wherever it runs from (native, Flatpak, Snap), or every browser when none has been run yet
/// (as the installer does, so a browser installed later finds the host).
fn register_host(options: &Options) -> Result<FixOutcome> {
    let roots = options
        .roots
        .as_ref()
        .ok_or_else(|| Error::Internal("no home directory".to_owned()))?;
    let exe = std::env::current_exe().map_err(|e| Error::io("card-agent executable", e))?;
    let mut browsers = install::installed_browsers(roots);
    if browsers.is_empty() {
        browsers = Browser::ALL.to_vec();
    }
    let registered = install::register(
        roots,
        &browsers,
        None,
        &exe,
        &options.config.allowed_extensions,
    )?;
    let mut names: Vec<&str> = registered.iter().map(|(b, _)| b.name()).collect();
    names.dedup();
    Ok(FixOutcome {
        action: REGISTER_HOST,
        message: f(
            options.lang,
            "doctor.fix.registered",
            &[("browsers", &names.join(", "))],
        ),
    })
}

/// Starts `card-agent serve` detached, with the same configuration file, and waits until it
/// answers on its socket.
fn start_daemon(options: &Options) -> Result<FixOutcome> {
    let lang = options.lang;
    if let DaemonFacts::Running { version, .. } = probe::daemon(&options.endpoint) {
        return Ok(FixOutcome {
            action: START_DAEMON,
            message: f(lang, "doctor.fix.already_running", &[("version", &version)]),
        });
    }
    crate::ipc::start_daemon(options.config_path.as_deref())?;
    let deadline = Instant::now() + START_WAIT;
    let mut pause = Duration::from_millis(50);
    loop {
        match probe::daemon(&options.endpoint) {
            DaemonFacts::Running { version, .. } => {
                return Ok(FixOutcome {
                    action: START_DAEMON,
                    message: f(lang, "doctor.fix.daemon_started", &[("version", &version)]),
                })
            }
            _ if Instant::now() >= deadline => {
                return Err(Error::AgentUnavailable(t(lang, "doctor.fix.daemon_silent")));
            }
            // Waiting for a process just started to create its socket; nothing to block on.
            _ => std::thread::sleep(pause),
        }
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use card_agent_protocol::Language;

    use super::*;

    #[test]
    fn an_unknown_action_is_a_bad_request_naming_the_real_ones() {
        let options = Options::for_current_user(
            Language::En,
            true,
            crate::card_core::CoreOptions::default(),
            crate::config::Config::default(),
            None,
        );
        let e = apply_fix("format-disk", &options).unwrap_err();
        assert_eq!(e.code(), card_agent_protocol::ErrorCode::BadRequest);
        assert!(e.to_string().contains("register-host, start-daemon"), "{e}");
    }

    #[test]
    fn register_host_writes_the_manifest_for_the_users_browsers() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".config/chromium/Default")).unwrap();
        let mut options = Options::for_current_user(
            Language::ZhTw,
            true,
            crate::card_core::CoreOptions::default(),
            crate::config::Config::default(),
            None,
        );
        let roots = install::Roots::for_home(home.path(), None);
        options.roots = Some(roots.clone());
        let outcome = apply_fix(REGISTER_HOST, &options).unwrap();
        assert!(outcome.message.contains("chromium"), "{outcome:?}");
        let regs = install::registrations(&roots);
        let chromium = regs
            .iter()
            .find(|r| r.browser == Browser::Chromium && r.scope == install::Scope::User)
            .unwrap();
        assert!(chromium.registered);
        assert!(!home.path().join(".mozilla").exists());
    }
}
