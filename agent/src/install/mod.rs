//! Installing card-agent: registering the native messaging host `tw.card_agent` with
//! browsers, the service and tray files, and taking them away again.
//!
//! - [`layout`]: where every browser looks for the host's manifest, on every OS, per user and
//!   system-wide, native and sandboxed (Flatpak, Snap), as plain data.
//! - [`template`]: the one template of every installed text (manifest, unit, autostart entry,
//!   system config).
//! - [`user`]: `card-agent install --user` / `uninstall --user`, with a receipt so uninstall
//!   removes exactly what install wrote.
//! - [`system`]: `card-agent install --system --destdir DIR`, the system-wide files a package
//!   ships, staged into a directory.
//! - [`packaging`]: the generated inputs of the macOS and Windows installers, checked in.
//!
//! Browsers start the host as `<path> chrome-extension://<id>/` (Chromium family) or
//! `<path> <manifest> <add-on id>` (Firefox), with no subcommand, so `card-agent` recognises
//! those arguments and becomes the native host (see [`started_by_browser`]).

pub mod layout;
pub mod packaging;
pub mod system;
pub mod template;
pub mod user;

use std::path::{Path, PathBuf};

pub use layout::{Browser, Location, Os, Roots, Sandbox, Scope};
pub use template::manifest;

use crate::error::{Error, Result};
use crate::native_host::HOST_NAME;

/// Writes the manifest for `browser` into `dir` (created if needed) and returns its path.
pub fn install_into(dir: &Path, browser: Browser, exe: &Path, extra: &[String]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    let file = dir.join(format!("{HOST_NAME}.json"));
    let text = template::manifest_text(browser, exe, extra)?;
    std::fs::write(&file, text).map_err(|e| Error::io(file.display(), e))?;
    Ok(file)
}

/// This OS's per-user locations whose browser this user has run.
pub fn used_locations(roots: &Roots) -> Vec<Location> {
    layout::for_os(Os::current(), Scope::User)
        .into_iter()
        .filter(|l| l.applies(roots))
        .collect()
}

/// The browsers this user has run (natively or sandboxed), each once.
pub fn installed_browsers(roots: &Roots) -> Vec<Browser> {
    let mut browsers: Vec<Browser> = used_locations(roots).iter().map(|l| l.browser).collect();
    browsers.dedup();
    browsers
}

/// Registers the native host with each of `browsers`: writes its manifest, pointing at `exe`,
/// into `dir` when given, else at every per-user location of the browser this user has run
/// (native, Flatpak, Snap), or its native one when none has been run. The one implementation
/// behind `card-agent install-host` and the environment check's `register-host` fix. Returns
/// each browser with the file written.
pub fn register(
    roots: &Roots,
    browsers: &[Browser],
    dir: Option<&Path>,
    exe: &Path,
    extra: &[String],
) -> Result<Vec<(Browser, PathBuf)>> {
    if browsers.is_empty() {
        return Err(Error::BadInput(
            "no browser profile found for this user; name one with --browser".to_owned(),
        ));
    }
    let mut written = Vec::new();
    for &browser in browsers {
        if let Some(dir) = dir {
            written.push((browser, install_into(dir, browser, exe, extra)?));
            continue;
        }
        let mut locations: Vec<Location> = layout::for_os(Os::current(), Scope::User)
            .into_iter()
            .filter(|l| l.browser == browser && l.registry.is_none())
            .collect();
        if locations.iter().any(|l| l.applies(roots)) {
            locations.retain(|l| l.applies(roots));
        } else {
            locations.retain(|l| l.sandbox == Sandbox::Native);
        }
        for location in locations {
            let file = install_into(&location.dir_path(roots), browser, exe, extra)?;
            written.push((browser, file));
        }
    }
    Ok(written)
}

/// Registration state of one browser at one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The browser.
    pub browser: Browser,
    /// Native, Flatpak or Snap.
    pub sandbox: Sandbox,
    /// This user's registration or every user's.
    pub scope: Scope,
    /// Whether this user has run the browser (for system locations: the native browser).
    pub installed: bool,
    /// The manifest path.
    pub manifest: PathBuf,
    /// The executable the manifest names, when there is one of ours.
    pub exe: Option<PathBuf>,
    /// Whether the manifest exists and names an executable that exists.
    pub registered: bool,
}

/// What is registered where on this OS, per user and system-wide, for the environment check.
pub fn registrations(roots: &Roots) -> Vec<Registration> {
    let os = Os::current();
    let user = layout::for_os(os, Scope::User);
    let native_used = |browser: Browser| {
        user.iter()
            .any(|l| l.browser == browser && l.sandbox == Sandbox::Native && l.applies(roots))
    };
    user.iter()
        .chain(layout::for_os(os, Scope::System).iter())
        .map(|location| {
            let manifest = location.manifest_path(roots);
            let exe = named_executable(&manifest);
            Registration {
                browser: location.browser,
                sandbox: location.sandbox,
                scope: location.scope,
                installed: match location.scope {
                    Scope::User => location.applies(roots),
                    Scope::System => native_used(location.browser),
                },
                registered: exe.as_deref().is_some_and(Path::is_file),
                exe,
                manifest,
            }
        })
        .collect()
}

/// The `path` of `manifest`, when it is one of ours.
fn named_executable(manifest: &Path) -> Option<PathBuf> {
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(|v| v["name"] == HOST_NAME)
        .and_then(|v| v["path"].as_str().map(PathBuf::from))
}

/// Whether the process arguments (program name excluded) are a browser starting the native
/// host rather than a person running a command.
pub fn started_by_browser(args: &[String]) -> bool {
    match args.first() {
        Some(a) if a.starts_with("chrome-extension://") => true,
        // Firefox: the manifest's path, then the add-on ID.
        Some(a) if a.ends_with(".json") && args.len() >= 2 => true,
        _ => false,
    }
}

/// The user's home directory.
pub fn home() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf())
}

/// The current user's [`Roots`]: home and `XDG_CONFIG_HOME`.
pub fn current_roots() -> Option<Roots> {
    home().map(|h| Roots::for_home(&h, std::env::var_os("XDG_CONFIG_HOME").as_deref()))
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn install_and_detect() {
        let home = tempfile::tempdir().unwrap();
        let roots = Roots::for_home(home.path(), None);
        let exe = home.path().join("card-agent");
        std::fs::write(&exe, b"").unwrap();
        std::fs::create_dir_all(home.path().join(".config/chromium/Default")).unwrap();
        let before = registrations(&roots);
        assert!(before.iter().all(|r| !r.registered));
        let chromium = |regs: &[Registration]| {
            regs.iter()
                .find(|r| {
                    r.browser == Browser::Chromium
                        && r.sandbox == Sandbox::Native
                        && r.scope == Scope::User
                })
                .cloned()
                .unwrap()
        };
        assert!(chromium(&before).installed);
        assert_eq!(installed_browsers(&roots), vec![Browser::Chromium]);
        let written = register(&roots, &[Browser::Chromium], None, &exe, &[]).unwrap();
        assert_eq!(written.len(), 1, "{written:?}");
        assert!(chromium(&registrations(&roots)).registered);
    }

    #[test]
    fn registering_a_flatpak_browser_writes_into_its_sandbox() {
        let home = tempfile::tempdir().unwrap();
        let roots = Roots::for_home(home.path(), None);
        let exe = home.path().join("card-agent");
        std::fs::write(&exe, b"").unwrap();
        std::fs::create_dir_all(home.path().join(".var/app/org.mozilla.firefox/.mozilla/x"))
            .unwrap();
        let written = register(&roots, &[Browser::Firefox], None, &exe, &[]).unwrap();
        assert_eq!(
            written,
            vec![(
                Browser::Firefox,
                home.path().join(
                    ".var/app/org.mozilla.firefox/.mozilla/native-messaging-hosts/tw.card_agent.json"
                )
            )]
        );
    }

    #[test]
    fn browser_arguments_are_recognised() {
        let a = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(started_by_browser(&a(&[
            "chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig/"
        ])));
        assert!(started_by_browser(&a(&[
            "/home/u/.mozilla/native-messaging-hosts/tw.card_agent.json",
            "card-agent@card-agent.tw"
        ])));
        assert!(!started_by_browser(&a(&["list", "--json"])));
        assert!(!started_by_browser(&a(&[])));
    }
}
