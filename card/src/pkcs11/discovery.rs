//! Where PKCS#11 modules come from.
//!
//! The first source that names any module wins, in this order: `--pkcs11-module` (repeatable),
//! the environment variable `CARD_AGENT_PKCS11_MODULE` (paths separated like `PATH`), the config
//! file's `pkcs11_modules`, and finally the table of well-known install locations below. An
//! explicit choice is exclusive so that a user (or a test) who names a module gets exactly that
//! module, not that module plus whatever else happens to be installed.

use std::ffi::OsStr;
#[cfg(any(target_os = "linux", target_os = "macos"))]
use std::path::Path;
use std::path::PathBuf;

/// Environment variable naming modules to load.
pub const MODULE_ENV: &str = "CARD_AGENT_PKCS11_MODULE";

/// Where a module path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleSource {
    /// `--pkcs11-module`.
    CommandLine,
    /// `CARD_AGENT_PKCS11_MODULE`.
    Environment,
    /// The config file.
    Config,
    /// The built-in table of install locations.
    WellKnown,
}

impl ModuleSource {
    /// Name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleSource::CommandLine => "command-line",
            ModuleSource::Environment => "environment",
            ModuleSource::Config => "config",
            ModuleSource::WellKnown => "well-known",
        }
    }
}

/// A module path to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleCandidate {
    /// Path of the shared library.
    pub path: PathBuf,
    /// Where it came from.
    pub source: ModuleSource,
}

/// Decides which module paths to try, from the sources in precedence order. Well-known paths
/// are only offered when the file exists, since most of them are absent on any one machine.
pub fn candidates(
    command_line: &[PathBuf],
    environment: Option<&OsStr>,
    config: &[PathBuf],
) -> Vec<ModuleCandidate> {
    let tag = |paths: Vec<PathBuf>, source| -> Vec<ModuleCandidate> {
        paths
            .into_iter()
            .map(|path| ModuleCandidate { path, source })
            .collect()
    };
    if !command_line.is_empty() {
        return tag(command_line.to_vec(), ModuleSource::CommandLine);
    }
    let from_env: Vec<PathBuf> = environment
        .map(|v| {
            std::env::split_paths(v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !from_env.is_empty() {
        return tag(from_env, ModuleSource::Environment);
    }
    if !config.is_empty() {
        return tag(config.to_vec(), ModuleSource::Config);
    }
    let existing = well_known().into_iter().filter(|p| p.is_file()).collect();
    tag(existing, ModuleSource::WellKnown)
}

/// Install locations of the modules users may already have: HiCOS (Chunghwa Telecom's own
/// middleware, which drives every generation of government card), open-gpki-pkcs11 (an
/// independent module for MOICA and MOEACA cards, see [`super::open_gpki`]) and OpenSC (other
/// cards). The order is the rule for a card two modules both read (the same token serial): the
/// module listed first reads it. HiCOS first: when it is present it is the module that knows
/// the card best. Naming modules (`--pkcs11-module`, `CARD_AGENT_PKCS11_MODULE`,
/// `pkcs11_modules`) replaces this list, in the order given.
pub fn well_known() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    #[cfg(target_os = "linux")]
    {
        for dir in [
            "/usr/lib",
            "/usr/local/lib",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/opt/HiCOS/lib",
        ] {
            paths.push(Path::new(dir).join("libHicos_p11.so"));
        }
        paths.extend(super::open_gpki::install_paths());
        for dir in [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib",
            "/usr/local/lib",
        ] {
            paths.push(Path::new(dir).join("opensc-pkcs11.so"));
        }
    }
    #[cfg(target_os = "macos")]
    {
        if let Some(home) = std::env::var_os("HOME") {
            paths.push(Path::new(&home).join("Library/HiPKILocalSignServer/libHicos_p11v1.dylib"));
        }
        paths.push(PathBuf::from("/Library/FBTokenLib/libHicos_p11v1.dylib"));
        paths.extend(super::open_gpki::install_paths());
        paths.push(PathBuf::from("/Library/OpenSC/lib/opensc-pkcs11.so"));
    }
    #[cfg(target_os = "windows")]
    {
        paths.push(PathBuf::from(r"C:\Windows\System32\HiCOSPKCS11.dll"));
        paths.push(PathBuf::from(r"C:\Windows\System32\HiCOS_PKCS11.dll"));
        paths.extend(super::open_gpki::install_paths());
        paths.push(PathBuf::from(
            r"C:\Program Files\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll",
        ));
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_nonempty_source_wins() {
        let cli = vec![PathBuf::from("/a.so")];
        let cfg = vec![PathBuf::from("/c.so")];
        let env = OsStr::new("/e1.so:/e2.so");
        let got = candidates(&cli, Some(env), &cfg);
        assert_eq!(
            got,
            vec![ModuleCandidate {
                path: "/a.so".into(),
                source: ModuleSource::CommandLine
            }]
        );
        let got = candidates(&[], Some(env), &cfg);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|c| c.source == ModuleSource::Environment));
        let got = candidates(&[], Some(OsStr::new("")), &cfg);
        assert_eq!(
            got,
            vec![ModuleCandidate {
                path: "/c.so".into(),
                source: ModuleSource::Config
            }]
        );
    }

    #[test]
    fn well_known_only_offers_existing_files() {
        for c in candidates(&[], None, &[]) {
            assert_eq!(c.source, ModuleSource::WellKnown);
            assert!(c.path.is_file());
        }
    }
}
