//! Registering the native messaging host `tw.card_agent` with browsers: the manifest each
//! browser reads to find and trust the host, per browser and per OS.
//!
//! Browsers start the host as `<path> chrome-extension://<id>/` (Chromium family) or
//! `<path> <manifest> <add-on id>` (Firefox), with no subcommand, so `card-agent` recognises
//! those arguments and becomes the native host (see [`started_by_browser`]).

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, Result};
use crate::native_host::{DEV_EXTENSION_ID, FIREFOX_ADDON_ID, HOST_NAME};

/// The browsers card-agent registers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Google Chrome.
    Chrome,
    /// Chromium.
    Chromium,
    /// Microsoft Edge.
    Edge,
    /// Brave.
    Brave,
    /// Mozilla Firefox.
    Firefox,
}

impl Browser {
    /// All of them.
    pub const ALL: [Browser; 5] = [
        Browser::Chrome,
        Browser::Chromium,
        Browser::Edge,
        Browser::Brave,
        Browser::Firefox,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Browser::Chrome => "chrome",
            Browser::Chromium => "chromium",
            Browser::Edge => "edge",
            Browser::Brave => "brave",
            Browser::Firefox => "firefox",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<Self> {
        Browser::ALL
            .into_iter()
            .find(|b| b.name() == name.to_ascii_lowercase())
    }

    /// The browser's per-user profile directory: its presence means the browser is installed
    /// and has been run by this user.
    pub fn profile_dir(self, home: &Path) -> PathBuf {
        #[cfg(target_os = "macos")]
        let rel = match self {
            Browser::Chrome => "Library/Application Support/Google/Chrome",
            Browser::Chromium => "Library/Application Support/Chromium",
            Browser::Edge => "Library/Application Support/Microsoft Edge",
            Browser::Brave => "Library/Application Support/BraveSoftware/Brave-Browser",
            Browser::Firefox => "Library/Application Support/Mozilla",
        };
        #[cfg(not(target_os = "macos"))]
        let rel = match self {
            Browser::Chrome => ".config/google-chrome",
            Browser::Chromium => ".config/chromium",
            Browser::Edge => ".config/microsoft-edge",
            Browser::Brave => ".config/BraveSoftware/Brave-Browser",
            Browser::Firefox => ".mozilla",
        };
        home.join(rel)
    }

    /// Where this browser looks for the user's host manifests.
    pub fn manifest_dir(self, home: &Path) -> PathBuf {
        let profile = self.profile_dir(home);
        match self {
            #[cfg(target_os = "macos")]
            Browser::Firefox => profile.join("NativeMessagingHosts"),
            #[cfg(not(target_os = "macos"))]
            Browser::Firefox => profile.join("native-messaging-hosts"),
            _ => profile.join("NativeMessagingHosts"),
        }
    }
}

/// The manifest text for `browser`, pointing at `exe`, allowing our extension and the
/// configured `extra` ones.
pub fn manifest(browser: Browser, exe: &Path, extra: &[String]) -> serde_json::Value {
    let description = "card-agent: Taiwan government PKI cards (自然人憑證, 工商憑證) for websites";
    match browser {
        Browser::Firefox => {
            let mut ids = vec![FIREFOX_ADDON_ID.to_owned()];
            ids.extend(
                extra
                    .iter()
                    .filter(|e| !e.starts_with("chrome-extension://"))
                    .cloned(),
            );
            json!({ "name": HOST_NAME, "description": description, "path": exe, "type": "stdio", "allowed_extensions": ids })
        }
        _ => {
            let mut origins = vec![format!("chrome-extension://{DEV_EXTENSION_ID}/")];
            origins.extend(
                extra
                    .iter()
                    .filter(|e| e.starts_with("chrome-extension://"))
                    .cloned(),
            );
            json!({ "name": HOST_NAME, "description": description, "path": exe, "type": "stdio", "allowed_origins": origins })
        }
    }
}

/// Writes the manifest for `browser` into `dir` (created if needed) and returns its path.
pub fn install_into(dir: &Path, browser: Browser, exe: &Path, extra: &[String]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    let file = dir.join(format!("{HOST_NAME}.json"));
    let text = serde_json::to_string_pretty(&manifest(browser, exe, extra))
        .map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&file, text).map_err(|e| Error::io(file.display(), e))?;
    Ok(file)
}

/// The browsers this user has run (their profile directory exists).
pub fn installed_browsers(home: &Path) -> Vec<Browser> {
    Browser::ALL
        .into_iter()
        .filter(|b| b.profile_dir(home).is_dir())
        .collect()
}

/// Registers the native host with each of `browsers`: writes its manifest, pointing at `exe`,
/// into `dir` when given, else into the browser's own manifest directory under `home`. The
/// one implementation behind `card-agent install-host` and the environment check's
/// `register-host` fix. Returns each browser with the file written.
pub fn register(
    home: &Path,
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
    browsers
        .iter()
        .map(|&browser| {
            let dir = dir.map_or_else(|| browser.manifest_dir(home), Path::to_path_buf);
            install_into(&dir, browser, exe, extra).map(|file| (browser, file))
        })
        .collect()
}

/// Registration state of one browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The browser.
    pub browser: Browser,
    /// Whether its profile directory exists.
    pub installed: bool,
    /// The manifest path.
    pub manifest: PathBuf,
    /// Whether the manifest exists and names an executable that exists.
    pub registered: bool,
}

/// What is registered where, for the environment check.
pub fn registrations(home: &Path) -> Vec<Registration> {
    Browser::ALL
        .into_iter()
        .map(|browser| {
            let manifest = browser.manifest_dir(home).join(format!("{HOST_NAME}.json"));
            let registered = std::fs::read_to_string(&manifest)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["path"].as_str().map(|p| Path::new(p).is_file()))
                .unwrap_or(false);
            Registration {
                browser,
                installed: browser.profile_dir(home).is_dir(),
                manifest,
                registered,
            }
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_allow_only_our_extensions_and_configured_ones() {
        let m = manifest(
            Browser::Chromium,
            Path::new("/usr/bin/card-agent"),
            &["chrome-extension://abcdefghijklmnopabcdefghijklmnop/".into()],
        );
        assert_eq!(m["name"], "tw.card_agent");
        assert_eq!(m["type"], "stdio");
        assert_eq!(
            m["allowed_origins"][0],
            format!("chrome-extension://{DEV_EXTENSION_ID}/")
        );
        assert_eq!(m["allowed_origins"].as_array().unwrap().len(), 2);
        let f = manifest(Browser::Firefox, Path::new("/usr/bin/card-agent"), &[]);
        assert_eq!(f["allowed_extensions"][0], FIREFOX_ADDON_ID);
        assert!(f.get("allowed_origins").is_none());
    }

    #[test]
    fn install_and_detect() {
        let home = tempfile::tempdir().unwrap();
        let exe = home.path().join("card-agent");
        std::fs::write(&exe, b"").unwrap();
        std::fs::create_dir_all(Browser::Chromium.profile_dir(home.path())).unwrap();
        let before = registrations(home.path());
        assert!(before.iter().all(|r| !r.registered));
        assert!(
            before
                .iter()
                .find(|r| r.browser == Browser::Chromium)
                .unwrap()
                .installed
        );
        install_into(
            &Browser::Chromium.manifest_dir(home.path()),
            Browser::Chromium,
            &exe,
            &[],
        )
        .unwrap();
        let after = registrations(home.path());
        assert!(
            after
                .iter()
                .find(|r| r.browser == Browser::Chromium)
                .unwrap()
                .registered
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
