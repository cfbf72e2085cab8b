//! `card-agent install --system --destdir DIR`: every system-wide Linux file a package ships
//! (host manifests for every browser, the systemd user unit, the tray's autostart entry, the
//! default configuration), written below a staging directory for the package build.

use std::path::{Path, PathBuf};

use super::layout::{self, Os, Roots, Scope};
use super::template;
use super::user::{PlannedFile, What};
use crate::error::{Error, Result};

/// The systemd user unit, installed for every user (`systemctl --user enable card-agent`).
pub const UNIT: &str = "/usr/lib/systemd/user/card-agent.service";
/// The tray's autostart entry for every desktop session.
pub const AUTOSTART: &str = "/etc/xdg/autostart/card-agent-tray.desktop";
/// The default configuration every user's own file overrides key by key.
pub const CONFIG: &str = "/etc/card-agent/config.toml";

/// Every system-wide file, with its absolute path on the target system, pointing at `exe`.
pub fn plan(exe: &Path, extra: &[String]) -> Result<Vec<PlannedFile>> {
    let roots = Roots {
        root: PathBuf::from("/"),
        ..Roots::for_home(Path::new("/"), None)
    };
    let mut files = Vec::new();
    for location in layout::for_os(Os::Linux, Scope::System) {
        files.push(PlannedFile {
            path: location.manifest_path(&roots),
            what: What::Manifest {
                browser: location.browser.name(),
                sandbox: location.sandbox.name(),
            },
            text: template::manifest_text(location.browser, exe, extra)?,
        });
    }
    files.push(PlannedFile {
        path: PathBuf::from(UNIT),
        what: What::Unit,
        text: template::systemd_unit(exe)?,
    });
    files.push(PlannedFile {
        path: PathBuf::from(AUTOSTART),
        what: What::Autostart,
        text: template::autostart_entry(exe)?,
    });
    files.push(PlannedFile {
        path: PathBuf::from(CONFIG),
        what: What::Config,
        text: template::SYSTEM_CONFIG.to_owned(),
    });
    Ok(files)
}

/// `path` (absolute on the target system) below the staging directory `destdir`.
pub fn staged(destdir: &Path, path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .fold(destdir.to_path_buf(), |p, c| p.join(c))
}

/// Writes `files` below `destdir` (unless `dry_run`) and returns the staged paths.
pub fn stage(destdir: &Path, files: &[PlannedFile], dry_run: bool) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for file in files {
        let target = staged(destdir, &file.path);
        if !dry_run {
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
            }
            std::fs::write(&target, &file.text).map_err(|e| Error::io(target.display(), e))?;
        }
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_package_gets_every_system_file() {
        let exe = Path::new("/usr/bin/card-agent");
        let files = plan(exe, &[]).unwrap();
        let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        assert_eq!(
            paths,
            vec![
                "/etc/opt/chrome/native-messaging-hosts/tw.card_agent.json",
                "/etc/chromium/native-messaging-hosts/tw.card_agent.json",
                "/etc/opt/edge/native-messaging-hosts/tw.card_agent.json",
                "/etc/opt/brave.com/brave/native-messaging-hosts/tw.card_agent.json",
                "/usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json",
                UNIT,
                AUTOSTART,
                CONFIG,
            ]
        );
        let dest = tempfile::tempdir().unwrap();
        let written = stage(dest.path(), &files, false).unwrap();
        assert_eq!(written.len(), files.len());
        let chrome: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                dest.path()
                    .join("etc/opt/chrome/native-messaging-hosts/tw.card_agent.json"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(chrome["path"], "/usr/bin/card-agent");
        assert!(chrome["allowed_origins"].is_array());
        let firefox: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                dest.path()
                    .join("usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json"),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(firefox["allowed_extensions"].is_array());
        let unit =
            std::fs::read_to_string(dest.path().join("usr/lib/systemd/user/card-agent.service"))
                .unwrap();
        assert!(
            unit.contains("\nExecStart=\"/usr/bin/card-agent\" serve\n"),
            "{unit}"
        );
        let entry = std::fs::read_to_string(
            dest.path()
                .join("etc/xdg/autostart/card-agent-tray.desktop"),
        )
        .unwrap();
        assert!(
            entry.contains("\nExec=\"/usr/bin/card-agent\" tray\n"),
            "{entry}"
        );
        assert!(dest.path().join("etc/card-agent/config.toml").is_file());
    }
}
