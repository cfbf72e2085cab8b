//! The configuration file (TOML, flat top-level keys).
//!
//! Found through `--config FILE`, else the environment variable `CARD_AGENT_CONFIG`, else
//! `config.toml` in the per-user configuration directory (on Linux
//! `~/.config/card-agent/config.toml`). A missing file at the default place is not an error; a
//! file named explicitly must exist. Unknown keys are refused so a typo never silently does
//! nothing.
//!
//! At the default place, the system-wide file a package installs ([`SYSTEM_PATH`]) is read
//! first and the user's file overrides it key by key. A file named explicitly is read alone, so
//! tests and `--config` runs see exactly that file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "CARD_AGENT_CONFIG";

/// The system-wide config file, under the user's (Unix; packages install it).
pub const SYSTEM_PATH: &str = "/etc/card-agent/config.toml";

/// Largest config file we read; a real one is a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// Settings from the config file. Every key is optional; the README documents each with its
/// default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// PKCS#11 modules to load, used when neither `--pkcs11-module` nor
    /// `CARD_AGENT_PKCS11_MODULE` names any. Default: none (the well-known locations are tried).
    pub pkcs11_modules: Vec<PathBuf>,
    /// How long, in seconds (1 to 120), a PKCS#11 module may take to answer C_Initialize or
    /// C_GetSlotList before it is given up on as hung. Default 10.
    pub pkcs11_timeout_seconds: Option<u64>,
    /// Sites that may use the card without asking: exact origins (`https://www.example.gov.tw`)
    /// or a wildcard on the leftmost label (`https://*.gov.tw`). Default: none; every site is
    /// asked about once, in a native dialog, and remembered.
    pub trusted_sites: Vec<String>,
    /// Where the legacy HiPKI-compatible HTTP API listens. Default `127.0.0.1:61161`; only
    /// loopback addresses are accepted.
    pub http_listen: String,
    /// Where PINs are typed, for the pages that may send one at all (HiPKI and SmartPKI pages;
    /// see `service::pin_source`): `auto` (the page's PIN if it sends one, else the dialog),
    /// `dialog` (only the agent's own dialog; a PIN from a page is refused) or `page` (only the
    /// page's PIN). Default `auto`.
    pub pin_entry: PinEntry,
    /// The pinentry program for the PIN and site dialogs. Default: the first of
    /// pinentry-gnome3, pinentry-qt, pinentry-gtk-2, pinentry-mac, pinentry found on PATH.
    pub pinentry: Option<PathBuf>,
    /// Browser extensions, besides card-agent's own, that may start the native host:
    /// `chrome-extension://<id>/` or a Firefox add-on ID. Default: none.
    pub allowed_extensions: Vec<String>,
    /// CA certificate files (PEM, possibly several per file, or DER) the environment check
    /// verifies certificate chains with, besides the government CA certificates card-agent
    /// carries (`roots/`) and those on the card: for a CA it does not carry (GCA, XCA, HCA),
    /// as downloaded from the CA's site. Self-signed ones are trusted roots; the others
    /// complete the path. Default: none.
    pub extra_roots: Vec<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pkcs11_modules: Vec::new(),
            pkcs11_timeout_seconds: None,
            trusted_sites: Vec::new(),
            http_listen: DEFAULT_HTTP_LISTEN.to_owned(),
            pin_entry: PinEntry::Auto,
            pinentry: None,
            allowed_extensions: Vec::new(),
            extra_roots: Vec::new(),
        }
    }
}

/// The legacy API's default address: where HiPKI Local Sign Server listens, so pages work
/// unchanged.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:61161";

/// Where PINs are typed (config key `pin_entry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinEntry {
    /// The page's PIN when it sends one, else the agent's dialog.
    #[default]
    Auto,
    /// Only the agent's dialog: the PIN never passes through a page.
    Dialog,
    /// Only the page's PIN (for kiosks and tests without a desktop).
    Page,
}

impl Config {
    /// Loads the config from the explicit path, the environment, or the default location.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let env = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty());
        match (explicit, env) {
            (Some(path), _) => Self::read(path),
            (None, Some(path)) => Self::read(Path::new(&path)),
            (None, None) => {
                let system = cfg!(unix).then(|| PathBuf::from(SYSTEM_PATH));
                Self::layered(system.as_deref(), default_path().as_deref())
            }
        }
    }

    /// The `system` file overridden key by key by the `user` file; either may be absent.
    pub fn layered(system: Option<&Path>, user: Option<&Path>) -> Result<Self> {
        let mut merged = toml::Table::new();
        for path in [system, user].into_iter().flatten() {
            if !path.exists() {
                continue;
            }
            // Each file on its own first, so an error names the file it is in.
            Self::read(path)?;
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
            let table: toml::Table = toml::from_str(&text)
                .map_err(|e| Error::BadInput(format!("{}: {}", path.display(), e.message())))?;
            merged.extend(table);
        }
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| Error::BadInput(e.message().to_owned()))
    }

    /// Reads and parses one file.
    pub fn read(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display(), e))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(Error::BadInput(format!(
                "{}: config file larger than {MAX_CONFIG_BYTES} bytes",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
        let config: Config = toml::from_str(&text)
            .map_err(|e| Error::BadInput(format!("{}: {}", path.display(), e.message())))?;
        match config.pkcs11_timeout_seconds {
            Some(s) if !(1..=MAX_MODULE_TIMEOUT_SECONDS).contains(&s) => {
                Err(Error::BadInput(format!(
                    "{}: pkcs11_timeout_seconds must be 1 to {MAX_MODULE_TIMEOUT_SECONDS}",
                    path.display()
                )))
            }
            _ => Ok(config),
        }
    }

    /// How long a PKCS#11 module may take to answer, when the file says.
    pub fn module_timeout(&self) -> Option<std::time::Duration> {
        self.pkcs11_timeout_seconds
            .map(|s| std::time::Duration::from_secs(s.clamp(1, MAX_MODULE_TIMEOUT_SECONDS)))
    }
}

/// Longest `pkcs11_timeout_seconds`: two minutes, the PIN dialog's own limit.
const MAX_MODULE_TIMEOUT_SECONDS: u64 = 120;

/// The language of messages: the `--lang` flag, else `CARD_AGENT_LANG`, else the locale
/// (`LC_ALL`, `LC_MESSAGES`, `LANG`), else zh-TW.
pub fn language(flag: Option<&str>) -> card_agent_protocol::Language {
    card_agent_protocol::i18n::choose_language(flag, |name| std::env::var(name).ok())
}

/// The per-user state directory (on Linux `$XDG_STATE_HOME/card-agent`, by default
/// `~/.local/state/card-agent`): the approved sites and the extension's last visit live here.
pub fn state_dir() -> PathBuf {
    directories::ProjectDirs::from("tw", "card-agent", "card-agent")
        .map(|d| {
            d.state_dir()
                .unwrap_or_else(|| d.data_local_dir())
                .to_path_buf()
        })
        .unwrap_or_else(|| std::env::temp_dir().join("card-agent-state"))
}

/// `config.toml` in the per-user configuration directory.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("tw", "card-agent", "card-agent")
        .map(|d| d.config_dir().join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_refuses_typos() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        let text = "pkcs11_modules = [\"/usr/lib/x.so\"]\ntrusted_sites = [\"https://*.gov.tw\"]\npin_entry = \"dialog\"\n";
        std::fs::write(&good, text).unwrap();
        let config = Config::read(&good).unwrap();
        assert_eq!(config.pkcs11_modules, vec![PathBuf::from("/usr/lib/x.so")]);
        assert_eq!(config.trusted_sites, vec!["https://*.gov.tw".to_owned()]);
        assert_eq!(config.pin_entry, PinEntry::Dialog);
        assert_eq!(config.http_listen, DEFAULT_HTTP_LISTEN);
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "pin_entry = \"sometimes\"\n").unwrap();
        assert!(Config::read(&bad).is_err());
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "pkcs11_module = [\"/usr/lib/x.so\"]\n").unwrap();
        let err = Config::read(&typo).unwrap_err().to_string();
        assert!(err.contains("pkcs11_module"), "{err}");
        assert!(matches!(
            Config::read(&dir.path().join("absent.toml")),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn the_users_keys_win_over_the_system_file() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("system.toml");
        std::fs::write(
            &system,
            "trusted_sites = [\"https://*.gov.tw\"]\npin_entry = \"dialog\"\n",
        )
        .unwrap();
        let user = dir.path().join("user.toml");
        std::fs::write(&user, "pin_entry = \"page\"\n").unwrap();
        let config = Config::layered(Some(&system), Some(&user)).unwrap();
        assert_eq!(config.trusted_sites, vec!["https://*.gov.tw".to_owned()]);
        assert_eq!(config.pin_entry, PinEntry::Page);
        // Either file may be missing.
        let absent = dir.path().join("absent.toml");
        assert_eq!(
            Config::layered(Some(&absent), Some(&user))
                .unwrap()
                .pin_entry,
            PinEntry::Page
        );
        assert_eq!(
            Config::layered(Some(&system), Some(&absent))
                .unwrap()
                .pin_entry,
            PinEntry::Dialog
        );
        assert_eq!(Config::layered(None, None).unwrap(), Config::default());
        // A typo in the system file is reported with its path.
        std::fs::write(&system, "pin_entri = \"page\"\n").unwrap();
        let err = Config::layered(Some(&system), Some(&user))
            .unwrap_err()
            .to_string();
        assert!(err.contains("system.toml"), "{err}");
    }
}
