//! The facts the checks judge, gathered once. Nothing here decides ok or not; the check
//! functions do, from these facts alone.

use std::path::{Path, PathBuf};

use card_agent_protocol::types::Module as ModuleReport;

use super::probe::{self, DaemonFacts, PortFacts};
use super::Options;
use crate::card_core::CardCore;
use crate::error::Error;
use crate::install::{self, Registration};
use crate::native_host::{self, LastSeen};
use crate::reader::{self, ReaderState};
use crate::token::{TokenCertificate, TokenInfo};

/// Everything the checks look at.
pub(super) struct Facts {
    pub card: CardFacts,
    pub ca_files: Vec<CaFile>,
    pub daemon: DaemonFacts,
    pub port: PortFacts,
    pub hosts: HostFacts,
}

/// Readers, modules, tokens and certificates.
pub(super) struct CardFacts {
    /// The card checks ran against the demo token.
    pub demo: bool,
    /// The readers, or why the smart-card service could not be reached.
    pub pcsc: Result<Vec<ReaderState>, String>,
    /// Which commands fit this machine, for the fixes.
    pub platform: Platform,
    /// Every module tried.
    pub modules: Vec<ModuleReport>,
    /// The tokens with their certificates, or why they could not be listed.
    pub tokens: Result<Vec<TokenFacts>, String>,
    /// Cards a second module also reads, left out for the first (see `card_core::listing`).
    pub duplicates: Vec<crate::card_core::Duplicate>,
    /// The configuration file a setting would go into, for display.
    pub config_file: String,
    /// open-gpki-pkcs11 releases in the downloads folder, which card-agent never loads from.
    pub downloaded_modules: Vec<std::path::PathBuf>,
}

/// A token and its certificates (or why they could not be read).
pub(super) struct TokenFacts {
    pub info: TokenInfo,
    pub certificates: Result<Vec<TokenCertificate>, String>,
}

impl CardFacts {
    /// The readers, or none when the service is unreachable.
    pub fn readers(&self) -> &[ReaderState] {
        self.pcsc.as_deref().unwrap_or_default()
    }

    /// The tokens, or none when they could not be listed.
    pub fn tokens(&self) -> &[TokenFacts] {
        self.tokens.as_deref().unwrap_or_default()
    }

    /// Every certificate read from every token, with the token it is on.
    pub fn certificates(&self) -> impl Iterator<Item = (&TokenInfo, &TokenCertificate)> {
        self.tokens().iter().flat_map(|t| {
            t.certificates
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(move |c| (&t.info, c))
        })
    }

    /// The holder (non-CA) certificates, with the token each is on.
    pub fn holder_certificates(&self) -> impl Iterator<Item = (&TokenInfo, &TokenCertificate)> {
        self.certificates().filter(|(_, c)| !c.info.is_ca)
    }
}

/// The kind of machine, for commands in fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Platform {
    /// Debian, Ubuntu and relatives.
    Apt,
    /// Fedora, RHEL.
    Dnf,
    /// openSUSE.
    Zypper,
    /// Arch.
    Pacman,
    /// A Linux without a package manager we know.
    OtherLinux,
    /// macOS.
    MacOs,
    /// Windows.
    Windows,
    /// Anything else.
    Other,
}

/// A file named in `extra_roots`: its certificates (DER), or why it could not be read.
pub(super) struct CaFile {
    pub path: PathBuf,
    pub certificates: Result<Vec<Vec<u8>>, String>,
}

/// Browser registrations and the extension's last visit.
pub(super) struct HostFacts {
    /// `None` when the home directory is unknown.
    pub registrations: Option<Vec<Registration>>,
    /// When the native host last started, and for whom.
    pub last_seen: Option<LastSeen>,
}

/// open-gpki-pkcs11 releases in this user's downloads folder (or unpacked one folder down).
fn downloaded_modules() -> Vec<std::path::PathBuf> {
    // XDG's user-dirs.dirs names it when the desktop set it up; else the usual name.
    let dirs = directories::UserDirs::new();
    dirs.as_ref()
        .and_then(|d| d.download_dir().map(std::path::Path::to_path_buf))
        .or_else(|| dirs.as_ref().map(|d| d.home_dir().join("Downloads")))
        .map(|dir| crate::pkcs11::open_gpki::in_downloads(&dir))
        .unwrap_or_default()
}

/// Gathers every fact, with `core` for the tokens.
pub(super) fn facts(options: &Options, core: &CardCore) -> Facts {
    let (tokens, duplicates) = match core.listing() {
        Ok(listing) => (
            Ok(listing
                .tokens
                .into_iter()
                .map(|info| TokenFacts {
                    certificates: core
                        .certificates(info.token_ref)
                        .map_err(|e| e.user_message(options.lang)),
                    info,
                })
                .collect()),
            listing.duplicates,
        ),
        Err(e) => (Err(e.user_message(options.lang)), Vec::new()),
    };
    let card = CardFacts {
        demo: core.is_demo(),
        pcsc: reader::list().map_err(|e| e.to_string()),
        platform: platform(),
        modules: core.modules().to_vec(),
        tokens,
        duplicates,
        config_file: config_file(options),
        downloaded_modules: downloaded_modules(),
    };
    rest(options, card)
}

/// The facts when the card core itself could not be opened (only the demo token's key
/// generation can fail that way).
pub(super) fn without_core(options: &Options, error: &Error) -> Facts {
    let reason = error.user_message(options.lang);
    let card = CardFacts {
        demo: options.demo,
        pcsc: reader::list().map_err(|e| e.to_string()),
        platform: platform(),
        modules: vec![ModuleReport {
            path: "demo".to_owned(),
            loaded: false,
            source: "demo".to_owned(),
            error: Some(reason.clone()),
            description: None,
            version: None,
        }],
        tokens: Err(reason),
        duplicates: Vec::new(),
        config_file: config_file(options),
        downloaded_modules: downloaded_modules(),
    };
    rest(options, card)
}

fn rest(options: &Options, card: CardFacts) -> Facts {
    Facts {
        card,
        ca_files: options
            .config
            .extra_roots
            .iter()
            .map(|path| CaFile {
                path: path.clone(),
                certificates: read_certificates(path),
            })
            .collect(),
        daemon: probe::daemon(&options.endpoint),
        port: probe::legacy_port(&options.config.http_listen),
        hosts: HostFacts {
            registrations: options.roots.as_ref().map(install::registrations),
            last_seen: native_host::last_seen(&options.state_dir),
        },
    }
}

/// The file a setting belongs in: the one named, else the environment's, else the default.
fn config_file(options: &Options) -> String {
    options
        .config_path
        .clone()
        .or_else(|| {
            std::env::var_os(crate::config::CONFIG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(crate::config::default_path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "config.toml".to_owned())
}

/// Largest CA file read; a bundle of a few certificates is a few kilobytes.
const MAX_CA_FILE: u64 = 1024 * 1024;

/// The certificates in a PEM file (any number of CERTIFICATE blocks) or a DER file (one).
fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_CA_FILE {
        return Err(format!("larger than {MAX_CA_FILE} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    parse_certificates(&bytes)
}

/// DER (one certificate) or PEM (every `CERTIFICATE` block), each checked to parse.
pub(super) fn parse_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine as _;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let ders = match std::str::from_utf8(bytes) {
        Ok(text) if text.contains(BEGIN) => {
            let mut ders = Vec::new();
            let mut rest = text;
            while let Some(start) = rest.find(BEGIN) {
                let body = &rest[start + BEGIN.len()..];
                let end = body.find(END).ok_or("a PEM block has no END line")?;
                let b64: String = body[..end].split_whitespace().collect();
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("a PEM block is not base64: {e}"))?;
                ders.push(der);
                rest = &body[end + END.len()..];
            }
            ders
        }
        _ => vec![bytes.to_vec()],
    };
    for der in &ders {
        crate::certificate::CertificateInfo::parse(der).map_err(|e| e.to_string())?;
    }
    Ok(ders)
}

/// The kind of machine this is.
fn platform() -> Platform {
    if cfg!(target_os = "macos") {
        return Platform::MacOs;
    }
    if cfg!(windows) {
        return Platform::Windows;
    }
    if !cfg!(target_os = "linux") {
        return Platform::Other;
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    };
    [
        ("apt-get", Platform::Apt),
        ("dnf", Platform::Dnf),
        ("zypper", Platform::Zypper),
        ("pacman", Platform::Pacman),
    ]
    .into_iter()
    .find(|(tool, _)| on_path(tool))
    .map_or(Platform::OtherLinux, |(_, platform)| platform)
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_may_be_pem_bundles_or_der() {
        let pki = crate::demo::TestPki::generate(crate::certificate::CardFamily::Moica).unwrap();
        let pem = |der: &[u8]| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n")
        };
        let bundle = format!(
            "root:\n{}issuer:\n{}",
            pem(pki.root_der()),
            pem(pki.issuer_der())
        );
        let got = parse_certificates(bundle.as_bytes()).unwrap();
        assert_eq!(
            got,
            vec![pki.root_der().to_vec(), pki.issuer_der().to_vec()]
        );
        assert_eq!(
            parse_certificates(pki.root_der()).unwrap(),
            vec![pki.root_der().to_vec()]
        );
        assert!(parse_certificates(b"not a certificate").is_err());
        assert!(parse_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n").is_err());
    }
}
