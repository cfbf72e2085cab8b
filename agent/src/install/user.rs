//! `card-agent install --user` and `card-agent uninstall --user`: everything card-agent needs
//! for one user, without administrator rights, and a receipt of it so uninstall removes
//! exactly what install wrote (and the directories it created), nothing else.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use card_agent_protocol::{i18n, Language};
use serde::{Deserialize, Serialize};

use super::layout::{self, Browser, Location, Os, Roots, Sandbox, Scope};
use super::template;
use crate::error::{Error, Result};

/// What an installed file is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum What {
    /// A browser's native host manifest.
    Manifest {
        /// The browser (`chrome`, ...).
        browser: &'static str,
        /// `native`, `flatpak` or `snap`.
        sandbox: &'static str,
    },
    /// The systemd user unit of the daemon.
    Unit,
    /// The tray's autostart entry.
    Autostart,
    /// The list of installed files.
    Receipt,
    /// The system-wide default configuration.
    Config,
    /// A directory an install created.
    Directory,
}

impl What {
    /// What the file is for, for a person.
    pub fn describe(&self, lang: Language) -> String {
        match self {
            What::Manifest { browser, sandbox } => {
                let name = if *sandbox == "native" {
                    (*browser).to_owned()
                } else {
                    format!("{browser} ({sandbox})")
                };
                i18n::format(lang, "cli.install.what.manifest", &[("browser", &name)])
            }
            What::Unit => i18n::text(lang, "cli.install.what.unit").to_owned(),
            What::Autostart => i18n::text(lang, "cli.install.what.autostart").to_owned(),
            What::Receipt => i18n::text(lang, "cli.install.what.receipt").to_owned(),
            What::Config => i18n::text(lang, "cli.install.what.config").to_owned(),
            What::Directory => i18n::text(lang, "cli.install.what.directory").to_owned(),
        }
    }
}

/// One file an install writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Where.
    pub path: PathBuf,
    /// What for.
    pub what: What,
    /// Its text.
    pub text: String,
}

/// The directories of one user an install uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDirs {
    /// Home and `XDG_CONFIG_HOME`, where browsers keep their profiles.
    pub roots: Roots,
    /// `XDG_DATA_HOME` (default `~/.local/share`): the receipt goes in `card-agent/` there.
    pub data_home: PathBuf,
    /// `XDG_STATE_HOME` (default `~/.local/state`): the trusted sites live in `card-agent/`.
    pub state_home: PathBuf,
}

impl UserDirs {
    /// The directories of the user `home`, with the XDG variables read through `env` (absolute
    /// values only, as the XDG spec says).
    pub fn for_home(home: &Path, env: impl Fn(&str) -> Option<std::ffi::OsString>) -> UserDirs {
        let xdg = |name: &str, default: &str| {
            env(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| home.join(default))
        };
        UserDirs {
            roots: Roots::for_home(home, env("XDG_CONFIG_HOME").as_deref()),
            data_home: xdg("XDG_DATA_HOME", ".local/share"),
            state_home: xdg("XDG_STATE_HOME", ".local/state"),
        }
    }

    /// The current user's directories.
    pub fn current() -> Result<UserDirs> {
        let home = super::home().ok_or_else(|| Error::Internal("no home directory".to_owned()))?;
        Ok(UserDirs::for_home(&home, |name| std::env::var_os(name)))
    }

    /// The receipt: every file and directory the install wrote.
    pub fn receipt(&self) -> PathBuf {
        self.data_home.join("card-agent").join("installed.json")
    }

    /// The daemon's systemd user unit.
    pub fn unit(&self) -> PathBuf {
        self.roots
            .config_home
            .join("systemd/user/card-agent.service")
    }

    /// The tray's autostart entry.
    pub fn autostart(&self) -> PathBuf {
        self.roots
            .config_home
            .join("autostart/card-agent-tray.desktop")
    }

    /// The user's data that uninstall keeps unless purging: the config and the state (trusted
    /// sites, the extension's last visit).
    pub fn user_data(&self) -> [PathBuf; 2] {
        [
            self.roots.config_home.join("card-agent"),
            self.state_home.join("card-agent"),
        ]
    }
}

/// Which browsers to register with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Every browser this user has run, at each place it runs from (native, Flatpak, Snap);
    /// when none has been run yet, every browser's native location, so a browser installed
    /// later finds the host.
    Used,
    /// Every location of every browser.
    All,
    /// One browser, wherever this user runs it (its native location when nowhere yet).
    One(Browser),
}

impl Choice {
    /// `installed` (or nothing), `all`, or a browser's name.
    pub fn parse(text: &str) -> Result<Choice> {
        match text {
            "installed" | "used" => Ok(Choice::Used),
            "all" => Ok(Choice::All),
            name => Browser::parse(name)
                .map(Choice::One)
                .ok_or_else(|| Error::BadInput(format!("unknown browser {name}"))),
        }
    }
}

/// The manifest locations `choice` selects for this user on `os`.
pub fn manifest_locations(roots: &Roots, os: Os, choice: Choice) -> Vec<Location> {
    let all = layout::for_os(os, Scope::User);
    let pick = |candidates: Vec<Location>| {
        let used: Vec<Location> = candidates
            .iter()
            .filter(|l| l.applies(roots))
            .cloned()
            .collect();
        if used.is_empty() {
            candidates
                .into_iter()
                .filter(|l| l.sandbox == Sandbox::Native)
                .collect()
        } else {
            used
        }
    };
    match choice {
        Choice::All => all,
        Choice::Used => pick(all),
        Choice::One(browser) => pick(all.into_iter().filter(|l| l.browser == browser).collect()),
    }
}

/// Every file `install --user` writes on `os` (the receipt aside), pointing at `exe`.
pub fn plan(
    dirs: &UserDirs,
    os: Os,
    choice: Choice,
    exe: &Path,
    extra: &[String],
) -> Result<Vec<PlannedFile>> {
    if os == Os::Windows {
        // Registering means writing HKCU keys, which the MSI does; a per-user command would
        // need a registry crate for the one OS that has an installer doing it already.
        return Err(Error::Unsupported(
            "per-user registration on Windows: use the card-agent MSI".to_owned(),
        ));
    }
    let mut files = Vec::new();
    for location in manifest_locations(&dirs.roots, os, choice) {
        files.push(PlannedFile {
            path: location.manifest_path(&dirs.roots),
            what: What::Manifest {
                browser: location.browser.name(),
                sandbox: location.sandbox.name(),
            },
            text: template::manifest_text(location.browser, exe, extra)?,
        });
    }
    if os == Os::Linux {
        // launchd and the Windows Run key are the macOS and Windows installers' part.
        files.push(PlannedFile {
            path: dirs.unit(),
            what: What::Unit,
            text: template::systemd_unit(exe)?,
        });
        files.push(PlannedFile {
            path: dirs.autostart(),
            what: What::Autostart,
            text: template::autostart_entry(exe)?,
        });
    }
    Ok(files)
}

/// The receipt's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The card-agent version that wrote it.
    pub version: String,
    /// Every file written, the receipt included.
    pub files: BTreeSet<PathBuf>,
    /// Every directory an install created (removed again when empty).
    pub dirs: BTreeSet<PathBuf>,
}

impl Receipt {
    /// Reads the receipt at `path`; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<Receipt>> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::BadInput(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display(), e)),
        }
    }
}

/// A sandboxed browser the host was registered with, which needs more than a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxNote {
    /// The browser.
    pub browser: &'static str,
    /// `flatpak` or `snap`.
    pub sandbox: &'static str,
    /// The Flatpak application ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<&'static str>,
    /// What to do, for a person.
    pub hint: String,
}

/// One file of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The path.
    pub path: PathBuf,
    /// What it is.
    #[serde(flatten)]
    pub what: What,
}

/// What an install or uninstall did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Files written.
    pub written: Vec<Entry>,
    /// Files and directories removed.
    pub removed: Vec<PathBuf>,
    /// The user's data, kept (uninstall without `--purge`).
    pub kept: Vec<PathBuf>,
    /// Sandboxed browsers registered, and what they still need.
    pub sandboxed: Vec<SandboxNote>,
    /// Uninstall found no receipt and nothing of card-agent's: the receipt's path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_installed: Option<PathBuf>,
}

/// Records in `created` every missing directory from `dir` upwards.
fn missing_dirs(dir: &Path, created: &mut BTreeSet<PathBuf>) {
    for ancestor in dir.ancestors() {
        if ancestor.as_os_str().is_empty() || ancestor.exists() {
            break;
        }
        created.insert(ancestor.to_path_buf());
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io(path.display(), e))
}

/// Writes `files` and the receipt (merged with an earlier one, so running twice gives the
/// same files and the same report). With `dry_run`, only reports.
pub fn install(
    dirs: &UserDirs,
    files: &[PlannedFile],
    exe: &Path,
    lang: Language,
    dry_run: bool,
) -> Result<Report> {
    let receipt_path = dirs.receipt();
    let mut receipt = Receipt::read(&receipt_path)?.unwrap_or_default();
    receipt.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    for file in files {
        if let Some(parent) = file.path.parent() {
            missing_dirs(parent, &mut receipt.dirs);
        }
        if !dry_run {
            write(&file.path, &file.text)?;
        }
        receipt.files.insert(file.path.clone());
        report.written.push(Entry {
            path: file.path.clone(),
            what: file.what.clone(),
        });
    }
    if let Some(parent) = receipt_path.parent() {
        missing_dirs(parent, &mut receipt.dirs);
    }
    receipt.files.insert(receipt_path.clone());
    if !dry_run {
        let text =
            serde_json::to_string_pretty(&receipt).map_err(|e| Error::Internal(e.to_string()))?;
        write(&receipt_path, &(text + "\n"))?;
    }
    report.written.push(Entry {
        path: receipt_path,
        what: What::Receipt,
    });
    report.sandboxed = sandbox_notes(files, exe, lang);
    Ok(report)
}

/// What the sandboxed browsers among `files` still need.
fn sandbox_notes(files: &[PlannedFile], exe: &Path, lang: Language) -> Vec<SandboxNote> {
    let sandboxed = layout::for_os(Os::Linux, Scope::User)
        .into_iter()
        .filter(|l| l.sandbox != Sandbox::Native);
    let mut notes = Vec::new();
    for location in sandboxed {
        let ours = files.iter().any(|f| {
            f.what
                == What::Manifest {
                    browser: location.browser.name(),
                    sandbox: location.sandbox.name(),
                }
        });
        if ours {
            notes.push(SandboxNote {
                browser: location.browser.name(),
                sandbox: location.sandbox.name(),
                app: location.flatpak_app(),
                hint: sandbox_hint(&location, exe, lang),
            });
        }
    }
    notes
}

/// What a sandboxed browser needs to start card-agent, for a person (also the doctor's).
pub fn sandbox_hint(location: &Location, exe: &Path, lang: Language) -> String {
    match (location.sandbox, location.flatpak_app()) {
        (Sandbox::Flatpak, Some(app)) => {
            let dir = exe.parent().unwrap_or(exe);
            i18n::format(
                lang,
                "cli.install.flatpak_hint",
                &[("dir", &dir.display()), ("app", &app)],
            )
        }
        _ if location.browser.is_firefox() => {
            i18n::text(lang, "cli.install.snap_firefox_hint").to_owned()
        }
        _ => i18n::text(lang, "cli.install.snap_hint").to_owned(),
    }
}

/// Whether `path` is a manifest of ours (an install without a receipt, e.g. by an older
/// card-agent, left it).
fn our_manifest(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["name"] == crate::native_host::HOST_NAME)
}

/// Removes what the receipt lists, then the directories the install created once empty; the
/// user's data only with `purge`. Without a receipt, removes card-agent's manifests, unit and
/// autostart entry where they are (an older install), and says so when there are none.
pub fn uninstall(dirs: &UserDirs, os: Os, purge: bool, dry_run: bool) -> Result<Report> {
    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    let receipt_path = dirs.receipt();
    let (files, created) =
        match Receipt::read(&receipt_path)? {
            Some(receipt) => (receipt.files, receipt.dirs),
            None => {
                let mut files: BTreeSet<PathBuf> = layout::for_os(os, Scope::User)
                    .iter()
                    .map(|l| l.manifest_path(&dirs.roots))
                    .filter(|p| our_manifest(p))
                    .collect();
                files.extend([dirs.unit(), dirs.autostart()].into_iter().filter(|p| {
                    std::fs::read_to_string(p).is_ok_and(|t| t.contains("card-agent"))
                }));
                (files, BTreeSet::new())
            }
        };
    let mut gone: BTreeSet<PathBuf> = BTreeSet::new();
    for file in files {
        if std::fs::symlink_metadata(&file).is_err() {
            continue;
        }
        if !dry_run {
            std::fs::remove_file(&file).map_err(|e| Error::io(file.display(), e))?;
        }
        report.removed.push(file.clone());
        gone.insert(file);
    }
    // Deepest first, so a parent is empty once its children are gone.
    let mut created: Vec<PathBuf> = created.into_iter().collect();
    created.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in created {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let empty = entries.flatten().all(|e| gone.contains(&e.path()));
        if !empty {
            continue;
        }
        if !dry_run {
            std::fs::remove_dir(&dir).map_err(|e| Error::io(dir.display(), e))?;
        }
        report.removed.push(dir.clone());
        gone.insert(dir);
    }
    for data in dirs.user_data() {
        if !data.exists() {
            continue;
        }
        if purge {
            if !dry_run {
                std::fs::remove_dir_all(&data).map_err(|e| Error::io(data.display(), e))?;
            }
            report.removed.push(data);
        } else {
            report.kept.push(data);
        }
    }
    if report.removed.is_empty() {
        report.not_installed = Some(receipt_path);
    }
    Ok(report)
}

/// The report as lines for a person.
pub fn render(report: &Report, lang: Language) -> Vec<String> {
    let mut lines = Vec::new();
    let (wrote, removed) = if report.dry_run {
        ("cli.install.would_write", "cli.install.would_remove")
    } else {
        ("cli.install.wrote", "cli.install.removed")
    };
    for entry in &report.written {
        lines.push(i18n::format(
            lang,
            wrote,
            &[
                ("file", &entry.path.display()),
                ("what", &entry.what.describe(lang)),
            ],
        ));
    }
    for path in &report.removed {
        lines.push(i18n::format(lang, removed, &[("file", &path.display())]));
    }
    if let Some(receipt) = &report.not_installed {
        lines.push(i18n::format(
            lang,
            "cli.install.not_installed",
            &[("receipt", &receipt.display())],
        ));
    }
    if !report.kept.is_empty() {
        let dirs: Vec<String> = report
            .kept
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        lines.push(i18n::format(
            lang,
            "cli.install.kept",
            &[("dirs", &dirs.join(", "))],
        ));
    }
    for note in &report.sandboxed {
        lines.push(note.hint.clone());
    }
    lines
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn listing(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                out.push(path.strip_prefix(root).unwrap().display().to_string());
                if path.is_dir() {
                    stack.push(path);
                }
            }
        }
        out.sort();
        out
    }

    fn user(home: &Path) -> UserDirs {
        UserDirs::for_home(home, |_| None)
    }

    #[test]
    fn install_twice_then_uninstall_leaves_the_tree_as_it_was() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".config/chromium/Default")).unwrap();
        std::fs::create_dir_all(home.path().join(".var/app/org.mozilla.firefox/.mozilla/p"))
            .unwrap();
        std::fs::create_dir_all(home.path().join(".config/card-agent")).unwrap();
        std::fs::write(home.path().join(".config/card-agent/config.toml"), "").unwrap();
        let before = listing(home.path());
        let dirs = user(home.path());
        let exe = Path::new("/opt/card agent/card-agent");
        let files = plan(&dirs, Os::Linux, Choice::Used, exe, &[]).unwrap();
        let paths: Vec<String> = files
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(home.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            paths,
            vec![
                ".config/chromium/NativeMessagingHosts/tw.card_agent.json",
                ".var/app/org.mozilla.firefox/.mozilla/native-messaging-hosts/tw.card_agent.json",
                ".config/systemd/user/card-agent.service",
                ".config/autostart/card-agent-tray.desktop",
            ]
        );
        let first = install(&dirs, &files, exe, Language::En, false).unwrap();
        let after_first = listing(home.path());
        let files_again = plan(&dirs, Os::Linux, Choice::Used, exe, &[]).unwrap();
        assert_eq!(files, files_again);
        let second = install(&dirs, &files_again, exe, Language::En, false).unwrap();
        assert_eq!(first, second);
        assert_eq!(after_first, listing(home.path()));
        assert_eq!(first.sandboxed.len(), 1);
        assert_eq!(first.sandboxed[0].app, Some("org.mozilla.firefox"));
        let text = render(&first, Language::En).join("\n");
        assert!(
            text.contains("flatpak override --user --filesystem=/opt/card agent:ro"),
            "{text}"
        );

        let removed = uninstall(&dirs, Os::Linux, false, false).unwrap();
        assert_eq!(listing(home.path()), before, "{removed:?}");
        assert_eq!(removed.kept, vec![home.path().join(".config/card-agent")]);
        // Twice is fine, and says there is nothing to remove.
        let again = uninstall(&dirs, Os::Linux, false, false).unwrap();
        assert!(again.removed.is_empty());
        assert_eq!(again.not_installed, Some(dirs.receipt()));
        // Purging takes the user's data too.
        let purged = uninstall(&dirs, Os::Linux, true, false).unwrap();
        assert_eq!(purged.removed, vec![home.path().join(".config/card-agent")]);
    }

    #[test]
    fn dry_run_reports_without_touching_anything() {
        let home = tempfile::tempdir().unwrap();
        let dirs = user(home.path());
        let exe = Path::new("/usr/bin/card-agent");
        let files = plan(&dirs, Os::Linux, Choice::Used, exe, &[]).unwrap();
        // No browser used yet: every browser's native location.
        assert_eq!(files.len(), Browser::ALL.len() + 2);
        let report = install(&dirs, &files, exe, Language::En, true).unwrap();
        assert_eq!(report.written.len(), files.len() + 1);
        assert!(listing(home.path()).is_empty());
        let real = install(&dirs, &files, exe, Language::En, false).unwrap();
        assert_eq!(real.written, report.written);
        let would = uninstall(&dirs, Os::Linux, false, true).unwrap();
        let before = listing(home.path());
        assert!(!would.removed.is_empty());
        assert_eq!(listing(home.path()), before);
        let did = uninstall(&dirs, Os::Linux, false, false).unwrap();
        assert_eq!(did.removed, would.removed);
        assert!(listing(home.path()).is_empty());
    }

    #[test]
    fn all_writes_every_location_and_one_browser_only_its_own() {
        let home = tempfile::tempdir().unwrap();
        let dirs = user(home.path());
        let exe = Path::new("/usr/bin/card-agent");
        let all = plan(&dirs, Os::Linux, Choice::All, exe, &[]).unwrap();
        assert_eq!(all.len(), layout::for_os(Os::Linux, Scope::User).len() + 2);
        let one = plan(&dirs, Os::Linux, Choice::One(Browser::Edge), exe, &[]).unwrap();
        assert_eq!(one.len(), 3);
        assert!(one[0]
            .path
            .ends_with(".config/microsoft-edge/NativeMessagingHosts/tw.card_agent.json"));
        assert!(plan(&dirs, Os::Windows, Choice::All, exe, &[]).is_err());
        let mac = plan(&dirs, Os::MacOs, Choice::All, exe, &[]).unwrap();
        assert!(mac.iter().all(|f| matches!(f.what, What::Manifest { .. })));
    }

    #[test]
    fn uninstall_without_a_receipt_removes_only_card_agent_files() {
        let home = tempfile::tempdir().unwrap();
        let dirs = user(home.path());
        let hosts = home.path().join(".mozilla/native-messaging-hosts");
        std::fs::create_dir_all(&hosts).unwrap();
        std::fs::write(
            hosts.join("tw.card_agent.json"),
            r#"{"name":"tw.card_agent"}"#,
        )
        .unwrap();
        std::fs::write(hosts.join("other.json"), r#"{"name":"other"}"#).unwrap();
        let report = uninstall(&dirs, Os::Linux, false, false).unwrap();
        assert_eq!(report.removed, vec![hosts.join("tw.card_agent.json")]);
        assert!(hosts.join("other.json").exists());
    }

    #[test]
    fn an_unsafe_executable_path_is_refused_before_anything_is_written() {
        let home = tempfile::tempdir().unwrap();
        let dirs = user(home.path());
        let e = plan(
            &dirs,
            Os::Linux,
            Choice::Used,
            Path::new("/opt/50%/card-agent"),
            &[],
        )
        .unwrap_err();
        assert!(matches!(e, Error::UnsafeInstallPath { .. }), "{e}");
        assert!(listing(home.path()).is_empty());
    }
}
