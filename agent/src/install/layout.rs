//! Where each browser looks for the native host's manifest, on every OS, as plain data.
//!
//! Nothing here depends on the OS it is compiled for: [`Os::current`] picks the row at run
//! time, and the tests check every row on any machine, so the platforms cannot drift apart.
//!
//! Sources (checked when this table was written):
//! - Chrome and Chromium, every OS and the Windows registry keys:
//!   <https://developer.chrome.com/docs/extensions/develop/concepts/native-messaging#native-messaging-host-location>
//! - Firefox (`~/.mozilla/native-messaging-hosts`, `/usr/lib/mozilla/native-messaging-hosts`,
//!   macOS `Library/Application Support/Mozilla/NativeMessagingHosts`, the registry key
//!   `Software\Mozilla\NativeMessagingHosts\<name>`):
//!   <https://developer.mozilla.org/docs/Mozilla/Add-ons/WebExtensions/Native_manifests#manifest_location>
//! - Edge (the Chromium rules with Edge's directories, `/etc/opt/edge/native-messaging-hosts`,
//!   `/Library/Microsoft/Edge/NativeMessagingHosts`, `Software\Microsoft\Edge\...`):
//!   <https://learn.microsoft.com/microsoft-edge/extensions/developer-guide/native-messaging>
//! - Brave has no page of its own: its per-user directories are its profile directory plus
//!   `NativeMessagingHosts` (the Chromium rule; confirmed by users in
//!   <https://github.com/asamuzaK/withExEditorHost/issues/61>); the system-wide Linux directory
//!   `/etc/opt/brave.com/brave/native-messaging-hosts` follows Brave's install prefix
//!   `/opt/brave.com/brave` and is the least certain row of this table.
//! - Flatpak: an app's `$XDG_CONFIG_HOME` is `~/.var/app/<app-id>/config` (Firefox keeps
//!   `~/.var/app/org.mozilla.firefox/.mozilla`): <https://docs.flatpak.org/en/latest/conventions.html#xdg-base-directories>
//!   and <https://github.com/flathub/flathub/issues/2102>.
//! - Snap: the Chromium snap's profile is `~/snap/chromium/common/chromium`; the Firefox snap's
//!   is `~/snap/firefox/common/.mozilla`, and since 2022 it also asks the WebExtensions portal,
//!   which reads the native `~/.mozilla/native-messaging-hosts`:
//!   <https://github.com/keepassxreboot/keepassxc/pull/8756>.

use std::path::{Path, PathBuf};

use crate::native_host::HOST_NAME;

/// An operating system card-agent installs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    /// Linux (and other XDG desktops).
    Linux,
    /// macOS.
    MacOs,
    /// Windows.
    Windows,
}

impl Os {
    /// All of them.
    pub const ALL: [Os; 3] = [Os::Linux, Os::MacOs, Os::Windows];

    /// The OS this program runs on. The only place the build target matters.
    pub fn current() -> Os {
        if cfg!(target_os = "macos") {
            Os::MacOs
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::MacOs => "macos",
            Os::Windows => "windows",
        }
    }
}

/// The browsers card-agent registers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    /// Whether the browser is Firefox (manifest key `allowed_extensions`) rather than one of the
    /// Chromium family (`allowed_origins`).
    pub fn is_firefox(self) -> bool {
        self == Browser::Firefox
    }
}

/// Whose the registration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One user, without administrator rights.
    User,
    /// Every user of the computer (installed by a package).
    System,
}

/// How the browser itself is installed (Linux only; elsewhere always [`Sandbox::Native`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sandbox {
    /// A browser from the distribution or the vendor's package.
    Native,
    /// A Flatpak (Flathub) browser: its configuration lives under `~/.var/app/<app-id>`.
    Flatpak,
    /// A Snap browser: its configuration lives under `~/snap/<name>/common`.
    Snap,
}

impl Sandbox {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Sandbox::Native => "native",
            Sandbox::Flatpak => "flatpak",
            Sandbox::Snap => "snap",
        }
    }
}

/// What a location's relative directory starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Base {
    /// The user's home directory.
    Home,
    /// `$XDG_CONFIG_HOME` (default `~/.config`): Chromium-family browsers on Linux keep their
    /// profiles there and honour the variable.
    ConfigHome,
    /// The file system root (or a staging directory standing for it).
    Root,
    /// The directory card-agent is installed in (Windows: the manifest sits beside the
    /// executable and the registry points at it).
    InstallDir,
}

/// A Windows registry hive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hive {
    /// `HKEY_CURRENT_USER`: this user.
    CurrentUser,
    /// `HKEY_LOCAL_MACHINE`: every user.
    LocalMachine,
}

impl Hive {
    /// The short name (`HKCU`, `HKLM`).
    pub fn name(self) -> &'static str {
        match self {
            Hive::CurrentUser => "HKCU",
            Hive::LocalMachine => "HKLM",
        }
    }
}

/// A Windows registry key whose default value is the manifest's full path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryKey {
    /// The hive.
    pub hive: Hive,
    /// The key below the hive, e.g. `Software\Google\Chrome\NativeMessagingHosts\tw.card_agent`.
    pub key: String,
}

impl std::fmt::Display for RegistryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\\{}", self.hive.name(), self.key)
    }
}

/// One place one browser looks for the host's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The OS.
    pub os: Os,
    /// The browser.
    pub browser: Browser,
    /// User or system.
    pub scope: Scope,
    /// Native, Flatpak or Snap browser.
    pub sandbox: Sandbox,
    /// What [`dir`](Self::dir) starts from.
    pub base: Base,
    /// The manifest's directory, relative to [`base`](Self::base), `/`-separated.
    pub dir: &'static str,
    /// The directory whose presence shows the browser has been used (relative to `base`), for
    /// user locations; `None` for system ones.
    pub profile: Option<&'static str>,
    /// Windows: the registry key naming the manifest.
    pub registry: Option<RegistryKey>,
}

/// The concrete directories a [`Location`] resolves against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// The user's home.
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`, or `<home>/.config`.
    pub config_home: PathBuf,
    /// `/`, or the staging directory of a package build.
    pub root: PathBuf,
    /// Where card-agent's executable is.
    pub install_dir: PathBuf,
}

impl Roots {
    /// The roots of the user `home`, with `XDG_CONFIG_HOME` from `config_home_env` when it is
    /// an absolute path (the XDG rule: a relative value is ignored).
    pub fn for_home(home: &Path, config_home_env: Option<&std::ffi::OsStr>) -> Roots {
        let config_home = config_home_env
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home.join(".config"));
        Roots {
            home: home.to_path_buf(),
            config_home,
            root: PathBuf::from("/"),
            install_dir: PathBuf::new(),
        }
    }

    fn base(&self, base: Base) -> &Path {
        match base {
            Base::Home => &self.home,
            Base::ConfigHome => &self.config_home,
            Base::Root => &self.root,
            Base::InstallDir => &self.install_dir,
        }
    }
}

/// `rel` (`/`-separated, possibly starting with `/`) below `base`.
fn join(base: &Path, rel: &str) -> PathBuf {
    rel.split('/')
        .filter(|part| !part.is_empty())
        .fold(base.to_path_buf(), |path, part| path.join(part))
}

impl Location {
    /// The manifest's file name: `tw.card_agent.json` where the browser finds it by name
    /// (Linux, macOS); on Windows, where both families' manifests sit in one directory and the
    /// registry names the file, one per family.
    pub fn file_name(&self) -> String {
        match (self.os, self.browser.is_firefox()) {
            (Os::Windows, true) => format!("{HOST_NAME}.firefox.json"),
            (Os::Windows, false) => format!("{HOST_NAME}.chromium.json"),
            _ => format!("{HOST_NAME}.json"),
        }
    }

    /// The manifest's directory.
    pub fn dir_path(&self, roots: &Roots) -> PathBuf {
        join(roots.base(self.base), self.dir)
    }

    /// The manifest's full path.
    pub fn manifest_path(&self, roots: &Roots) -> PathBuf {
        self.dir_path(roots).join(self.file_name())
    }

    /// The browser's profile directory, for user locations.
    pub fn profile_path(&self, roots: &Roots) -> Option<PathBuf> {
        self.profile.map(|p| join(roots.base(self.base), p))
    }

    /// Whether the browser has been used here: its profile directory holds something besides
    /// the manifest directory (which an earlier install may have created for a browser that
    /// was never run). System locations apply whenever the browser is installed, which a
    /// package cannot know, so they always count.
    pub fn applies(&self, roots: &Roots) -> bool {
        let Some(profile) = self.profile_path(roots) else {
            return true;
        };
        let manifest_dir = self.dir_path(roots);
        std::fs::read_dir(profile)
            .map(|entries| entries.flatten().any(|e| e.path() != manifest_dir))
            .unwrap_or(false)
    }
}

impl Location {
    /// The Flatpak application ID (`com.google.Chrome`), for Flatpak locations.
    pub fn flatpak_app(&self) -> Option<&'static str> {
        if self.sandbox != Sandbox::Flatpak {
            return None;
        }
        self.dir.strip_prefix(".var/app/")?.split('/').next()
    }
}

/// The Windows registry key below the hive for `browser`.
fn windows_key(browser: Browser) -> String {
    let vendor = match browser {
        Browser::Chrome => r"Google\Chrome",
        Browser::Chromium => "Chromium",
        Browser::Edge => r"Microsoft\Edge",
        Browser::Brave => r"BraveSoftware\Brave-Browser",
        Browser::Firefox => "Mozilla",
    };
    format!(r"Software\{vendor}\NativeMessagingHosts\{HOST_NAME}")
}

/// Every location, for every OS, browser, scope and sandbox.
pub fn all() -> Vec<Location> {
    let mut out = Vec::new();
    for os in Os::ALL {
        for scope in [Scope::User, Scope::System] {
            out.extend(for_os(os, scope));
        }
    }
    out
}

/// The locations of `os` for `scope`, in a stable order (browser, then native, Flatpak, Snap).
pub fn for_os(os: Os, scope: Scope) -> Vec<Location> {
    let mut out = Vec::new();
    for browser in Browser::ALL {
        let loc = |sandbox, base, dir, profile| Location {
            os,
            browser,
            scope,
            sandbox,
            base,
            dir,
            profile,
            registry: None,
        };
        match (os, scope) {
            (Os::Linux, Scope::User) => {
                let (base, profile, dir) = match browser {
                    Browser::Chrome => (
                        Base::ConfigHome,
                        "google-chrome",
                        "google-chrome/NativeMessagingHosts",
                    ),
                    Browser::Chromium => (
                        Base::ConfigHome,
                        "chromium",
                        "chromium/NativeMessagingHosts",
                    ),
                    Browser::Edge => (
                        Base::ConfigHome,
                        "microsoft-edge",
                        "microsoft-edge/NativeMessagingHosts",
                    ),
                    Browser::Brave => (
                        Base::ConfigHome,
                        "BraveSoftware/Brave-Browser",
                        "BraveSoftware/Brave-Browser/NativeMessagingHosts",
                    ),
                    Browser::Firefox => (Base::Home, ".mozilla", ".mozilla/native-messaging-hosts"),
                };
                out.push(loc(Sandbox::Native, base, dir, Some(profile)));
                let (profile, dir) = match browser {
                    Browser::Chrome => (
                        ".var/app/com.google.Chrome/config/google-chrome",
                        ".var/app/com.google.Chrome/config/google-chrome/NativeMessagingHosts",
                    ),
                    Browser::Chromium => (
                        ".var/app/org.chromium.Chromium/config/chromium",
                        ".var/app/org.chromium.Chromium/config/chromium/NativeMessagingHosts",
                    ),
                    Browser::Edge => (
                        ".var/app/com.microsoft.Edge/config/microsoft-edge",
                        ".var/app/com.microsoft.Edge/config/microsoft-edge/NativeMessagingHosts",
                    ),
                    Browser::Brave => (
                        ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser",
                        ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
                    ),
                    Browser::Firefox => (
                        ".var/app/org.mozilla.firefox/.mozilla",
                        ".var/app/org.mozilla.firefox/.mozilla/native-messaging-hosts",
                    ),
                };
                out.push(loc(Sandbox::Flatpak, Base::Home, dir, Some(profile)));
                let snap = match browser {
                    Browser::Chromium => Some((
                        "snap/chromium/common/chromium",
                        "snap/chromium/common/chromium/NativeMessagingHosts",
                    )),
                    Browser::Firefox => Some((
                        "snap/firefox/common/.mozilla",
                        "snap/firefox/common/.mozilla/native-messaging-hosts",
                    )),
                    _ => None,
                };
                if let Some((profile, dir)) = snap {
                    out.push(loc(Sandbox::Snap, Base::Home, dir, Some(profile)));
                }
            }
            (Os::Linux, Scope::System) => {
                let dir = match browser {
                    Browser::Chrome => "/etc/opt/chrome/native-messaging-hosts",
                    Browser::Chromium => "/etc/chromium/native-messaging-hosts",
                    Browser::Edge => "/etc/opt/edge/native-messaging-hosts",
                    Browser::Brave => "/etc/opt/brave.com/brave/native-messaging-hosts",
                    // Debian's and Ubuntu's Firefox read /usr/lib/mozilla; /usr/lib64/mozilla
                    // is the 64-bit RPM distributions' and belongs in an RPM, not the .deb.
                    Browser::Firefox => "/usr/lib/mozilla/native-messaging-hosts",
                };
                out.push(loc(Sandbox::Native, Base::Root, dir, None));
            }
            (Os::MacOs, Scope::User) => {
                let (profile, dir) = match browser {
                    Browser::Chrome => (
                        "Library/Application Support/Google/Chrome",
                        "Library/Application Support/Google/Chrome/NativeMessagingHosts",
                    ),
                    Browser::Chromium => (
                        "Library/Application Support/Chromium",
                        "Library/Application Support/Chromium/NativeMessagingHosts",
                    ),
                    Browser::Edge => (
                        "Library/Application Support/Microsoft Edge",
                        "Library/Application Support/Microsoft Edge/NativeMessagingHosts",
                    ),
                    Browser::Brave => (
                        "Library/Application Support/BraveSoftware/Brave-Browser",
                        "Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
                    ),
                    Browser::Firefox => (
                        "Library/Application Support/Mozilla",
                        "Library/Application Support/Mozilla/NativeMessagingHosts",
                    ),
                };
                out.push(loc(Sandbox::Native, Base::Home, dir, Some(profile)));
            }
            (Os::MacOs, Scope::System) => {
                let dir = match browser {
                    Browser::Chrome => "/Library/Google/Chrome/NativeMessagingHosts",
                    Browser::Chromium => "/Library/Application Support/Chromium/NativeMessagingHosts",
                    Browser::Edge => "/Library/Microsoft/Edge/NativeMessagingHosts",
                    Browser::Brave => {
                        "/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts"
                    }
                    Browser::Firefox => "/Library/Application Support/Mozilla/NativeMessagingHosts",
                };
                out.push(loc(Sandbox::Native, Base::Root, dir, None));
            }
            (Os::Windows, scope) => {
                let hive = match scope {
                    Scope::User => Hive::CurrentUser,
                    Scope::System => Hive::LocalMachine,
                };
                out.push(Location {
                    registry: Some(RegistryKey {
                        hive,
                        key: windows_key(browser),
                    }),
                    ..loc(Sandbox::Native, Base::InstallDir, "", None)
                });
            }
        }
    }
    out
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn roots() -> Roots {
        Roots {
            home: PathBuf::from("/home/u"),
            config_home: PathBuf::from("/home/u/.config"),
            root: PathBuf::from("/stage"),
            install_dir: PathBuf::from("/opt/card-agent"),
        }
    }

    fn find(os: Os, scope: Scope, browser: Browser, sandbox: Sandbox) -> Location {
        for_os(os, scope)
            .into_iter()
            .find(|l| l.browser == browser && l.sandbox == sandbox)
            .unwrap()
    }

    #[test]
    fn every_browser_has_a_user_and_a_system_location_on_every_os() {
        for os in Os::ALL {
            for scope in [Scope::User, Scope::System] {
                let locs = for_os(os, scope);
                for browser in Browser::ALL {
                    assert!(
                        locs.iter()
                            .any(|l| l.browser == browser && l.sandbox == Sandbox::Native),
                        "{os:?} {scope:?} {browser:?}"
                    );
                }
                for l in &locs {
                    assert_eq!(l.scope, scope);
                    assert_eq!(
                        l.profile.is_some(),
                        scope == Scope::User && os != Os::Windows
                    );
                    assert_eq!(l.registry.is_some(), os == Os::Windows);
                    if l.sandbox != Sandbox::Native {
                        assert_eq!((os, scope), (Os::Linux, Scope::User));
                    }
                }
            }
        }
    }

    #[test]
    fn linux_paths_are_the_documented_ones() {
        let r = roots();
        let path = |scope, browser, sandbox| {
            find(Os::Linux, scope, browser, sandbox)
                .manifest_path(&r)
                .display()
                .to_string()
        };
        use Browser::*;
        use Sandbox::*;
        use Scope::*;
        assert_eq!(
            path(User, Chrome, Native),
            "/home/u/.config/google-chrome/NativeMessagingHosts/tw.card_agent.json"
        );
        assert_eq!(
            path(User, Chromium, Native),
            "/home/u/.config/chromium/NativeMessagingHosts/tw.card_agent.json"
        );
        assert_eq!(
            path(User, Edge, Native),
            "/home/u/.config/microsoft-edge/NativeMessagingHosts/tw.card_agent.json"
        );
        assert_eq!(
            path(User, Brave, Native),
            "/home/u/.config/BraveSoftware/Brave-Browser/NativeMessagingHosts/tw.card_agent.json"
        );
        assert_eq!(
            path(User, Firefox, Native),
            "/home/u/.mozilla/native-messaging-hosts/tw.card_agent.json"
        );
        assert_eq!(
            path(User, Chrome, Flatpak),
            "/home/u/.var/app/com.google.Chrome/config/google-chrome/NativeMessagingHosts/tw.card_agent.json"
        );
        assert_eq!(
            path(User, Firefox, Flatpak),
            "/home/u/.var/app/org.mozilla.firefox/.mozilla/native-messaging-hosts/tw.card_agent.json"
        );
        assert_eq!(
            path(User, Chromium, Snap),
            "/home/u/snap/chromium/common/chromium/NativeMessagingHosts/tw.card_agent.json"
        );
        assert_eq!(
            path(User, Firefox, Snap),
            "/home/u/snap/firefox/common/.mozilla/native-messaging-hosts/tw.card_agent.json"
        );
        assert_eq!(
            path(System, Chrome, Native),
            "/stage/etc/opt/chrome/native-messaging-hosts/tw.card_agent.json"
        );
        assert_eq!(
            path(System, Chromium, Native),
            "/stage/etc/chromium/native-messaging-hosts/tw.card_agent.json"
        );
        assert_eq!(
            path(System, Edge, Native),
            "/stage/etc/opt/edge/native-messaging-hosts/tw.card_agent.json"
        );
        assert_eq!(
            path(System, Firefox, Native),
            "/stage/usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json"
        );
        // Only Chromium and Firefox are published as snaps with a profile of their own.
        let snaps: Vec<Browser> = for_os(Os::Linux, User)
            .into_iter()
            .filter(|l| l.sandbox == Snap)
            .map(|l| l.browser)
            .collect();
        assert_eq!(snaps, vec![Chromium, Firefox]);
    }

    #[test]
    fn xdg_config_home_moves_the_chromium_family_but_not_firefox() {
        let r = Roots::for_home(Path::new("/home/u"), Some("/elsewhere".as_ref()));
        let chrome = find(Os::Linux, Scope::User, Browser::Chrome, Sandbox::Native);
        assert!(chrome
            .manifest_path(&r)
            .starts_with("/elsewhere/google-chrome"));
        let firefox = find(Os::Linux, Scope::User, Browser::Firefox, Sandbox::Native);
        assert!(firefox.manifest_path(&r).starts_with("/home/u/.mozilla"));
        // A relative XDG_CONFIG_HOME is invalid and ignored.
        let r = Roots::for_home(Path::new("/home/u"), Some("rel".as_ref()));
        assert_eq!(r.config_home, PathBuf::from("/home/u/.config"));
    }

    #[test]
    fn macos_paths_are_the_documented_ones() {
        let r = roots();
        let path = |scope, browser| {
            find(Os::MacOs, scope, browser, Sandbox::Native)
                .manifest_path(&r)
                .display()
                .to_string()
        };
        assert_eq!(
            path(Scope::User, Browser::Chrome),
            "/home/u/Library/Application Support/Google/Chrome/NativeMessagingHosts/tw.card_agent.json"
        );
        assert_eq!(
            path(Scope::User, Browser::Firefox),
            "/home/u/Library/Application Support/Mozilla/NativeMessagingHosts/tw.card_agent.json"
        );
        assert_eq!(
            path(Scope::System, Browser::Chrome),
            "/stage/Library/Google/Chrome/NativeMessagingHosts/tw.card_agent.json"
        );
        assert_eq!(
            path(Scope::System, Browser::Edge),
            "/stage/Library/Microsoft/Edge/NativeMessagingHosts/tw.card_agent.json"
        );
        assert_eq!(
            path(Scope::System, Browser::Brave),
            "/stage/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts/tw.card_agent.json"
        );
    }

    #[test]
    fn windows_uses_registry_keys_in_both_hives() {
        let key = |scope, browser| {
            find(Os::Windows, scope, browser, Sandbox::Native)
                .registry
                .unwrap()
                .to_string()
        };
        assert_eq!(
            key(Scope::User, Browser::Chrome),
            r"HKCU\Software\Google\Chrome\NativeMessagingHosts\tw.card_agent"
        );
        assert_eq!(
            key(Scope::System, Browser::Edge),
            r"HKLM\Software\Microsoft\Edge\NativeMessagingHosts\tw.card_agent"
        );
        assert_eq!(
            key(Scope::System, Browser::Firefox),
            r"HKLM\Software\Mozilla\NativeMessagingHosts\tw.card_agent"
        );
        let chrome = find(Os::Windows, Scope::User, Browser::Chrome, Sandbox::Native);
        assert_eq!(
            chrome.manifest_path(&roots()),
            PathBuf::from("/opt/card-agent/tw.card_agent.chromium.json")
        );
        let firefox = find(Os::Windows, Scope::User, Browser::Firefox, Sandbox::Native);
        assert_eq!(firefox.file_name(), "tw.card_agent.firefox.json");
    }

    #[test]
    fn a_user_location_applies_once_the_browser_has_a_profile() {
        let home = tempfile::tempdir().unwrap();
        let r = Roots::for_home(home.path(), None);
        let flatpak = find(Os::Linux, Scope::User, Browser::Chrome, Sandbox::Flatpak);
        assert!(!flatpak.applies(&r));
        let profile = home
            .path()
            .join(".var/app/com.google.Chrome/config/google-chrome");
        // The manifest directory alone (left by an install) is not a used browser.
        std::fs::create_dir_all(profile.join("NativeMessagingHosts")).unwrap();
        assert!(!flatpak.applies(&r));
        std::fs::create_dir_all(profile.join("Default")).unwrap();
        assert!(flatpak.applies(&r));
        assert!(find(Os::Linux, Scope::System, Browser::Chrome, Sandbox::Native).applies(&r));
    }
}
