//! The configuration file (TOML, flat top-level keys).
//!
//! Found through `--config FILE`, else the environment variable `CARD_AGENT_CONFIG`, else
//! `config.toml` in the per-user configuration directory (on Linux
//! `~/.config/card-agent/config.toml`). A missing file at the default place is not an error; a
//! file named explicitly must exist. Unknown keys are refused so a typo never silently does
//! nothing.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "CARD_AGENT_CONFIG";

/// Largest config file we read; a real one is a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 256 * 1024;

/// Settings from the config file. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// PKCS#11 modules to load, used when neither `--pkcs11-module` nor
    /// `CARD_AGENT_PKCS11_MODULE` names any. Default: none (the well-known locations are tried).
    #[serde(default)]
    pub pkcs11_modules: Vec<PathBuf>,
}

impl Config {
    /// Loads the config from the explicit path, the environment, or the default location.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let env = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty());
        match (explicit, env) {
            (Some(path), _) => Self::read(path),
            (None, Some(path)) => Self::read(Path::new(&path)),
            (None, None) => match default_path() {
                Some(path) if path.exists() => Self::read(&path),
                _ => Ok(Config::default()),
            },
        }
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
        toml::from_str(&text)
            .map_err(|e| Error::BadInput(format!("{}: {}", path.display(), e.message())))
    }
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
        std::fs::write(&good, "pkcs11_modules = [\"/usr/lib/x.so\"]\n").unwrap();
        assert_eq!(
            Config::read(&good).unwrap().pkcs11_modules,
            vec![PathBuf::from("/usr/lib/x.so")]
        );
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "pkcs11_module = [\"/usr/lib/x.so\"]\n").unwrap();
        let err = Config::read(&typo).unwrap_err().to_string();
        assert!(err.contains("pkcs11_module"), "{err}");
        assert!(matches!(
            Config::read(&dir.path().join("absent.toml")),
            Err(Error::Io { .. })
        ));
    }
}
