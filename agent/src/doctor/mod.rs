//! The environment check (`card-agent doctor`): one set of checks, each saying what it found,
//! why it matters and how to fix it, for people (the CLI prints it) and for programs (the
//! self-test page and the daemon show the same [`Report`] as JSON).
//!
//! Every check is a pure function over facts gathered once from the system, so each one is
//! tested with made-up facts and no hardware:
//! - [`gather`]: the facts: PC/SC, the card core's modules and tokens, configured CA files,
//!   the daemon's socket, the legacy port, browser registrations, the extension's last visit.
//! - [`card`]: `pcscd`, `readers`, `card`, `module`.
//! - [`token`]: `token`, `certificates`, `pin`.
//! - [`certs`]: `certificate-validity`, `clock`.
//! - [`chain`]: `certificate-chain`, against the government CA certificates card-agent
//!   carries, the card's and the configured ones.
//! - [`local`]: `daemon`, `legacy-port`, `native-host`.
//! - [`fix`]: the fixes the agent can apply itself ([`apply_fix`]).
//! - [`render`]: the text the CLI prints.

mod card;
mod certs;
mod chain;
mod fix;
mod gather;
mod local;
mod probe;
pub mod render;
#[cfg(test)]
mod testing;
mod token;

use std::path::PathBuf;

use card_agent_protocol::{i18n, Language};
use serde::Serialize;

use crate::card_core::{CardCore, CoreOptions};
use crate::config::Config;
use crate::ipc::Endpoint;

pub use fix::{apply_fix, FixOutcome, ACTIONS};

/// The ids of every check, in the order they run and are shown. Stable: pages and scripts
/// match on them.
pub const CHECK_IDS: [&str; 13] = [
    "pcscd",
    "readers",
    "card",
    "module",
    "token",
    "certificates",
    "certificate-validity",
    "certificate-chain",
    "pin",
    "daemon",
    "legacy-port",
    "native-host",
    "clock",
];

/// How a check (or one item of it) came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Not checked, because a check it needs did not pass (no card, so no certificates to
    /// check). The check that did not pass says what to do.
    Skipped,
    /// Works, but something needs attention (a certificate expiring soon, the PIN's final try).
    Warning,
    /// Does not work until fixed.
    Failed,
}

/// One finding within a check: a reader, a module, a certificate, a browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// How this one came out.
    pub status: Status,
    /// What it is and what was found, for a person.
    pub text: String,
}

/// How to fix a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Fix {
    /// A command for the person to run (in a terminal, or an administrator prompt on Windows).
    Command {
        /// What the command does, for a person.
        label: String,
        /// The command line.
        command: String,
    },
    /// A setting in card-agent's configuration file.
    Setting {
        /// What the setting does, for a person.
        label: String,
        /// The configuration key.
        key: String,
        /// An example value, as TOML.
        value: String,
        /// The configuration file.
        file: String,
    },
    /// Something card-agent can do itself: `card-agent doctor --fix <id>` or [`apply_fix`].
    Action {
        /// The action's id (one of [`ACTIONS`]).
        id: &'static str,
        /// What the action does, for a person (a button's text).
        label: String,
    },
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// Stable id, one of [`CHECK_IDS`].
    pub id: &'static str,
    /// The worst of what was found.
    pub status: Status,
    /// What is checked, for a person.
    pub title: String,
    /// What was found and why it matters.
    pub explanation: String,
    /// The findings one by one, when there are several things to report (omitted when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
    /// How to fix it (omitted when nothing needs fixing or nothing concrete can be offered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

impl Check {
    /// A check with its catalogue title (`doctor.<id>.title`).
    fn new(id: &'static str, lang: Language, status: Status, explanation: String) -> Check {
        Check {
            id,
            status,
            title: i18n::text(lang, &format!("doctor.{id}.title")).to_owned(),
            explanation,
            items: Vec::new(),
            fix: None,
        }
    }

    /// Adds the items; the check's status becomes the worst of its own and theirs.
    fn with_items(mut self, items: Vec<Item>) -> Check {
        self.status = items.iter().map(|i| i.status).fold(self.status, worst);
        self.items = items;
        self
    }

    fn with_fix(mut self, fix: Option<Fix>) -> Check {
        self.fix = fix;
        self
    }
}

/// The worse of two statuses; skipping is better than a warning but worse than ok, so a check
/// whose items were all skipped shows as skipped.
fn worst(a: Status, b: Status) -> Status {
    a.max(b)
}

/// An item.
fn item(status: Status, text: String) -> Item {
    Item { status, text }
}

/// A catalogue text.
fn t(lang: Language, key: &str) -> String {
    i18n::text(lang, key).to_owned()
}

/// A catalogue text with its placeholders filled.
fn f(lang: Language, key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    i18n::format(lang, key, args)
}

/// A date for people: `2029-01-01` (UTC).
fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// The whole environment check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// card-agent's version.
    pub version: &'static str,
    /// The language of the texts.
    pub lang: Language,
    /// Whether the card checks ran against the demo token.
    pub demo: bool,
    /// When the check ran, RFC 3339 (UTC).
    pub checked_at: String,
    /// `failed` if any check failed, else `warning` if any warned, else `ok`.
    pub status: Status,
    /// Every check, in [`CHECK_IDS`] order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether any check failed (the CLI then exits with status 1).
    pub fn has_failures(&self) -> bool {
        self.status == Status::Failed
    }
}

/// What [`run`] looks at.
#[derive(Debug, Clone)]
pub struct Options {
    /// The language of the report.
    pub lang: Language,
    /// Run the card checks against the demo token.
    pub demo: bool,
    /// Which PKCS#11 modules to load (ignored with `demo`, and when a core is passed in).
    pub core: CoreOptions,
    /// The configuration (`http_listen`, `extra_roots`, `allowed_extensions`).
    pub config: Config,
    /// The configuration file named on the command line, passed on to a daemon the
    /// `start-daemon` fix starts.
    pub config_path: Option<PathBuf>,
    /// The user's home and `XDG_CONFIG_HOME` (browser profiles live there), and the root the
    /// system-wide manifests are looked up under (`/`).
    pub roots: Option<crate::install::Roots>,
    /// The daemon's endpoint.
    pub endpoint: Endpoint,
    /// The per-user state directory (the extension's last visit is recorded there).
    pub state_dir: PathBuf,
    /// Now, Unix seconds.
    pub now_unix: i64,
}

impl Options {
    /// Options for the current user: their home, endpoint and state directory, the clock.
    pub fn for_current_user(
        lang: Language,
        demo: bool,
        core: CoreOptions,
        config: Config,
        config_path: Option<PathBuf>,
    ) -> Options {
        Options {
            lang,
            demo,
            core,
            config,
            config_path,
            roots: crate::install::current_roots(),
            endpoint: Endpoint::for_current_user(),
            state_dir: crate::config::state_dir(),
            now_unix: crate::inventory::now_unix(),
        }
    }
}

/// Runs every check, opening the card core the options name (or the demo token).
pub fn run(options: &Options) -> Report {
    let core = if options.demo {
        CardCore::open(&CoreOptions {
            demo: true,
            ..CoreOptions::default()
        })
    } else {
        CardCore::open(&options.core)
    };
    match core {
        Ok(core) => run_with_core(options, &core),
        // Only the demo token can fail to open (its keys are generated); report that as the
        // module check's failure rather than failing the whole check.
        Err(e) => report(options, gather::without_core(options, &e)),
    }
}

/// Runs every check with a card core that is already open: the daemon passes its own, since
/// loading a module a second time in one process would share (and on drop finalize) its
/// state.
pub fn run_with_core(options: &Options, core: &CardCore) -> Report {
    report(options, gather::facts(options, core))
}

fn report(options: &Options, facts: gather::Facts) -> Report {
    let lang = options.lang;
    let now = options.now_unix;
    let checks = vec![
        card::pcscd(&facts.card, lang),
        card::readers(&facts.card, lang),
        card::card(&facts.card, lang),
        card::module(&facts.card, lang),
        token::token(&facts.card, lang),
        token::certificates(&facts.card, lang),
        certs::validity(&facts.card, now, lang),
        chain::chain(&facts.card, &facts.ca_files, now, lang),
        token::pin(&facts.card, lang),
        local::daemon(&facts.daemon, lang),
        local::legacy_port(
            &facts.port,
            matches!(facts.daemon, probe::DaemonFacts::Running { .. }),
            &facts.card.config_file,
            lang,
        ),
        local::native_host(&facts.hosts, now, lang),
        certs::clock(&facts.card, now, lang),
    ];
    let status = checks
        .iter()
        .map(|c| match c.status {
            Status::Skipped => Status::Ok,
            other => other,
        })
        .fold(Status::Ok, worst);
    Report {
        version: env!("CARGO_PKG_VERSION"),
        lang,
        demo: options.demo,
        checked_at: crate::inventory::rfc3339(now),
        status,
        checks,
    }
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::certificate::CardFamily;

    #[test]
    fn the_json_shape_is_camel_case_with_tagged_fixes() {
        let check = Check::new(
            "native-host",
            Language::En,
            Status::Ok,
            "explained".to_owned(),
        )
        .with_items(vec![item(Status::Failed, "chromium".to_owned())])
        .with_fix(Some(Fix::Action {
            id: "register-host",
            label: "Register".to_owned(),
        }));
        let json = serde_json::to_value(&check).unwrap();
        assert_eq!(json["id"], "native-host");
        assert_eq!(json["status"], "failed");
        assert_eq!(json["items"][0]["status"], "failed");
        assert_eq!(json["fix"]["kind"], "action");
        assert_eq!(json["fix"]["id"], "register-host");
        let plain = Check::new("clock", Language::En, Status::Skipped, String::new());
        let json = serde_json::to_value(&plain).unwrap();
        assert_eq!(json["status"], "skipped");
        assert!(json.get("items").is_none() && json.get("fix").is_none());
        let setting = Fix::Setting {
            label: "l".into(),
            key: "extra_roots".into(),
            value: "[]".into(),
            file: "f".into(),
        };
        assert_eq!(serde_json::to_value(&setting).unwrap()["kind"], "setting");
    }

    /// Every catalogue key written in the agent's sources exists in both languages, so a typo
    /// in a key is a test failure rather than a key shown to a person.
    #[test]
    fn every_catalogue_key_in_the_sources_exists() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("card.rs"),
            include_str!("token.rs"),
            include_str!("certs.rs"),
            include_str!("local.rs"),
            include_str!("fix.rs"),
            include_str!("render.rs"),
            include_str!("../cli/mod.rs"),
            include_str!("../cli/list.rs"),
            include_str!("../cli/sign.rs"),
            include_str!("../cli/verify_pin.rs"),
            include_str!("../pinentry/text.rs"),
            include_str!("../../../card/src/error.rs"),
            include_str!("../policy/origin.rs"),
            include_str!("../policy/pattern.rs"),
        ];
        let mut checked = 0;
        for source in sources {
            for (at, _) in source.match_indices('"') {
                let rest = &source[at + 1..];
                let Some(end) = rest.find('"') else { continue };
                let key = &rest[..end];
                let is_key = ["doctor.", "cli.", "pinentry.", "error.detail.", "policy."]
                    .iter()
                    .any(|p| key.starts_with(p))
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
                if is_key && !key.ends_with('.') {
                    checked += 1;
                    assert!(i18n::has(Language::En, key), "en lacks {key}");
                    assert!(i18n::has(Language::ZhTw, key), "zh-TW lacks {key}");
                }
            }
        }
        assert!(checked > 100, "only {checked} keys found");
        for family in [
            CardFamily::Moica,
            CardFamily::Moeaca,
            CardFamily::Gca,
            CardFamily::Xca,
            CardFamily::Hca,
            CardFamily::Unknown,
        ] {
            assert!(i18n::has(
                Language::ZhTw,
                &format!("doctor.family.{}", family.as_str())
            ));
        }
    }

    #[test]
    fn every_check_has_a_title_in_both_languages() {
        for id in CHECK_IDS {
            let key = format!("doctor.{id}.title");
            assert!(i18n::has(Language::En, &key), "{key}");
            assert!(i18n::has(Language::ZhTw, &key), "{key}");
        }
    }
}
