//! Where the open GPKI module (open-gpki-pkcs11) is found.
//!
//! Its releases are named by platform, not by Rust's architecture string:
//! `open-gpki-pkcs11-linux-x86_64.so`, `-linux-arm64.so`, `-macos-arm64.dylib`,
//! `-macos-universal.dylib` (both Mac architectures) and `-windows-x86_64.dll`.
//!
//! Two kinds of places: install folders, which card-agent loads from by itself, and the
//! downloads folder, which it never loads from: any web page can put a file with that name there
//! (browsers save downloads without asking), and a module runs inside card-agent. A release
//! found there is only reported (doctor says how to install it).

use std::path::{Path, PathBuf};

/// The file name prefix of every release.
pub const PREFIX: &str = "open-gpki-pkcs11";

/// The release file names that run on `os` / `arch` (Rust's `std::env::consts` values), best
/// first: the Mac build for the machine's own architecture before the universal one.
pub fn release_names(os: &str, arch: &str) -> Vec<&'static str> {
    match (os, arch) {
        ("linux", "x86_64") => vec!["open-gpki-pkcs11-linux-x86_64.so"],
        ("linux", "aarch64") => vec!["open-gpki-pkcs11-linux-arm64.so"],
        ("macos", "aarch64") => vec![
            "open-gpki-pkcs11-macos-arm64.dylib",
            "open-gpki-pkcs11-macos-universal.dylib",
        ],
        ("macos", "x86_64") => vec!["open-gpki-pkcs11-macos-universal.dylib"],
        ("windows", "x86_64") => vec!["open-gpki-pkcs11-windows-x86_64.dll"],
        _ => Vec::new(),
    }
}

/// The release names for this machine.
pub fn this_machine() -> Vec<&'static str> {
    release_names(std::env::consts::OS, std::env::consts::ARCH)
}

/// The folders a release is installed in, for `os`, with the user's `home`. A per-user folder
/// is one the user chose to install into; no browser saves there.
pub fn install_dirs(os: &str, home: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = match os {
        "linux" => [
            "/usr/lib",
            "/usr/local/lib",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/opt/open-gpki-pkcs11",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
        "macos" => [
            "/usr/local/lib",
            "/opt/homebrew/lib",
            "/Library/open-gpki-pkcs11",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
        "windows" => [r"C:\Program Files\open-gpki-pkcs11", r"C:\Windows\System32"]
            .iter()
            .map(PathBuf::from)
            .collect(),
        _ => Vec::new(),
    };
    if let Some(home) = home {
        match os {
            "linux" => dirs.push(home.join(".local/lib")),
            "macos" => dirs.push(home.join("Library/open-gpki-pkcs11")),
            "windows" => dirs.push(home.join(r"AppData\Local\open-gpki-pkcs11")),
            _ => {}
        }
    }
    dirs
}

/// Every install path to try on this machine, folder by folder.
pub fn install_paths() -> Vec<PathBuf> {
    let home =
        std::env::var_os(if cfg!(windows) { "USERPROFILE" } else { "HOME" }).map(PathBuf::from);
    let names = this_machine();
    install_dirs(std::env::consts::OS, home.as_deref())
        .into_iter()
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .collect()
}

/// Most folder entries looked at in the downloads folder: it can hold thousands of files.
const MAX_ENTRIES: usize = 2000;

/// Releases for this machine in `downloads` or in a folder directly inside it whose name starts
/// with `open-gpki-pkcs11` (where an unpacked archive lands). Never loaded; for reports.
pub fn in_downloads(downloads: &Path) -> Vec<PathBuf> {
    let names = this_machine();
    let mut found = Vec::new();
    let mut look = |dir: &Path| {
        for name in &names {
            let p = dir.join(name);
            if p.is_file() && !found.contains(&p) {
                found.push(p);
            }
        }
    };
    look(downloads);
    if let Ok(entries) = std::fs::read_dir(downloads) {
        for entry in entries.flatten().take(MAX_ENTRIES) {
            let path = entry.path();
            let unpacked = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(PREFIX));
            if unpacked && path.is_dir() {
                look(&path);
            }
        }
    }
    found
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_release_is_found_on_the_platform_it_runs_on() {
        assert_eq!(
            release_names("linux", "x86_64"),
            ["open-gpki-pkcs11-linux-x86_64.so"]
        );
        assert_eq!(
            release_names("linux", "aarch64"),
            ["open-gpki-pkcs11-linux-arm64.so"]
        );
        assert_eq!(
            release_names("macos", "aarch64"),
            [
                "open-gpki-pkcs11-macos-arm64.dylib",
                "open-gpki-pkcs11-macos-universal.dylib"
            ]
        );
        assert_eq!(
            release_names("macos", "x86_64"),
            ["open-gpki-pkcs11-macos-universal.dylib"]
        );
        assert_eq!(
            release_names("windows", "x86_64"),
            ["open-gpki-pkcs11-windows-x86_64.dll"]
        );
        // No release runs there (an x86_64 DLL cannot load into an arm64 process).
        assert!(release_names("windows", "aarch64").is_empty());
    }

    #[test]
    fn install_folders_include_the_users_own_and_never_downloads() {
        let home = Path::new("/home/u");
        let dirs = install_dirs("linux", Some(home));
        assert!(dirs.contains(&PathBuf::from("/usr/local/lib")));
        assert!(dirs.contains(&home.join(".local/lib")));
        assert!(dirs
            .iter()
            .all(|d| !d.to_string_lossy().contains("Downloads")));
        assert!(install_dirs("macos", Some(home)).contains(&PathBuf::from("/opt/homebrew/lib")));
    }

    #[test]
    fn a_download_is_found_directly_or_unpacked_one_folder_down() {
        let Some(name) = this_machine().first().copied() else {
            return;
        };
        let downloads = tempfile::tempdir().unwrap();
        assert!(in_downloads(downloads.path()).is_empty());
        let unpacked = downloads.path().join("open-gpki-pkcs11-v1.4.0");
        std::fs::create_dir(&unpacked).unwrap();
        std::fs::write(unpacked.join(name), b"").unwrap();
        std::fs::create_dir(downloads.path().join("other")).unwrap();
        std::fs::write(downloads.path().join("other").join(name), b"").unwrap();
        assert_eq!(in_downloads(downloads.path()), [unpacked.join(name)]);
        std::fs::write(downloads.path().join(name), b"").unwrap();
        assert_eq!(in_downloads(downloads.path()).len(), 2);
    }
}
