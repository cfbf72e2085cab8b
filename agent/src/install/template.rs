//! The texts card-agent installs, each from one template for every OS, browser and scope: the
//! native host manifest, the systemd user unit, the tray's autostart entry and the default
//! system configuration.

use std::path::Path;

use serde_json::json;

use super::layout::Browser;
use crate::error::{Error, Result};
use crate::native_host::{DEV_EXTENSION_ID, FIREFOX_ADDON_ID, HOST_NAME};

/// The manifest's `description`.
pub const DESCRIPTION: &str =
    "card-agent: Taiwan government PKI cards (自然人憑證, 工商憑證) for websites";

/// The manifest for `browser`, pointing at `exe`, allowing our extension and the configured
/// `extra` ones: `allowed_origins` for the Chromium family, `allowed_extensions` for Firefox.
/// The only manifest template; every file on every OS comes from here.
pub fn manifest(browser: Browser, exe: &Path, extra: &[String]) -> serde_json::Value {
    let chromium = |e: &&String| e.starts_with("chrome-extension://");
    if browser.is_firefox() {
        let mut ids = vec![FIREFOX_ADDON_ID.to_owned()];
        ids.extend(extra.iter().filter(|e| !chromium(e)).cloned());
        json!({ "name": HOST_NAME, "description": DESCRIPTION, "path": exe, "type": "stdio", "allowed_extensions": ids })
    } else {
        let mut origins = vec![format!("chrome-extension://{DEV_EXTENSION_ID}/")];
        origins.extend(extra.iter().filter(chromium).cloned());
        json!({ "name": HOST_NAME, "description": DESCRIPTION, "path": exe, "type": "stdio", "allowed_origins": origins })
    }
}

/// [`manifest`] as the file's text (pretty JSON, ending in a newline).
pub fn manifest_text(browser: Browser, exe: &Path, extra: &[String]) -> Result<String> {
    serde_json::to_string_pretty(&manifest(browser, exe, extra))
        .map(|mut text| {
            text.push('\n');
            text
        })
        .map_err(|e| Error::Internal(e.to_string()))
}

/// `exe` as it may appear, double-quoted, in a desktop entry's `Exec` or a unit's `ExecStart`:
/// absolute, UTF-8, and without the characters either format treats specially inside quotes
/// (`"`, `\`, `` ` ``, `$`, `%`) or control characters such as a newline. Escaping them is
/// possible in theory but every consumer unescapes differently, and a wrong guess runs a
/// different program; a path like that is refused instead.
pub fn exec_path(exe: &Path) -> Result<&str> {
    let refuse = |reason: &str| Error::UnsafeInstallPath {
        path: exe.display().to_string(),
        reason: reason.to_owned(),
    };
    let text = exe.to_str().ok_or_else(|| refuse("not UTF-8"))?;
    if !exe.is_absolute() {
        return Err(refuse("not an absolute path"));
    }
    if let Some(c) = text
        .chars()
        .find(|c| matches!(c, '"' | '\\' | '`' | '$' | '%') || c.is_control())
    {
        return Err(refuse(&format!("contains {c:?}")));
    }
    Ok(text)
}

/// The systemd user unit running the daemon (`<exe> serve`). Browsers and the tray start the
/// daemon on demand, so the unit is installed but not enabled; `systemctl --user enable
/// card-agent` starts it at login for pages that call the legacy port before anything else.
/// `on-abnormal`, not `on-failure`: a daemon a browser already started makes this one exit 1
/// (one daemon per user), and restarting on that exit would loop until systemd's start limit.
pub fn systemd_unit(exe: &Path) -> Result<String> {
    let exe = exec_path(exe)?;
    Ok(format!(
        "[Unit]\n\
         Description=card-agent: Taiwan government PKI cards for websites\n\
         Documentation=man:card-agent(1)\n\
         \n\
         [Service]\n\
         Type=simple\n\
         Environment=GLIBC_TUNABLES={tunables}\n\
         ExecStart=\"{exe}\" serve\n\
         Restart=on-abnormal\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        tunables = crate::allocator::GLIBC_TUNABLES
    ))
}

/// The tray's XDG autostart entry (`<exe> tray` at every desktop login).
pub fn autostart_entry(exe: &Path) -> Result<String> {
    let exe = exec_path(exe)?;
    Ok(format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=card-agent\n\
         Name[zh_TW]=card-agent 憑證卡\n\
         Comment=Shows whether your certificate card is ready to use\n\
         Comment[zh_TW]=顯示憑證卡是否可以使用\n\
         Exec=\"{exe}\" tray\n\
         Terminal=false\n\
         NoDisplay=true\n\
         X-GNOME-Autostart-enabled=true\n"
    ))
}

/// The system-wide configuration a package installs (`/etc/card-agent/config.toml`): every
/// key commented out at its default, so it documents the keys without changing anything.
/// Each user's own file wins key by key.
pub const SYSTEM_CONFIG: &str = "\
# card-agent: settings for every user of this computer.
# Each user's ~/.config/card-agent/config.toml overrides these key by key.
# Every key is optional; the values shown are the defaults.

# PKCS#11 modules to load, in order of preference: a card two modules read is read
# through the first (default: the well-known locations are tried, HiCOS first).
#pkcs11_modules = [\"/usr/lib/x86_64-linux-gnu/libHiCOSPKCS11.so\"]

# Seconds a module may take to answer C_Initialize or C_GetSlotList before it is given up on.
#pkcs11_timeout_seconds = 10

# Sites that may use the card without asking (exact origins or https://*.example.gov.tw).
#trusted_sites = []

# Where the HiPKI-compatible HTTP API listens (loopback only).
#http_listen = \"127.0.0.1:61161\"

# Where PINs are typed: \"auto\", \"dialog\" or \"page\".
#pin_entry = \"auto\"

# Browser extensions besides card-agent's own that may start the native host.
#allowed_extensions = []

# CA certificate files the environment check verifies chains with.
#extra_roots = []
";

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn manifests_allow_only_our_extensions_and_configured_ones() {
        let extra = [
            "chrome-extension://abcdefghijklmnopabcdefghijklmnop/".to_owned(),
            "other@example.org".to_owned(),
        ];
        for browser in Browser::ALL {
            let m = manifest(browser, Path::new("/usr/bin/card-agent"), &extra);
            assert_eq!(m["name"], "tw.card_agent");
            assert_eq!(m["type"], "stdio");
            assert_eq!(m["path"], "/usr/bin/card-agent");
            assert_eq!(m["description"], DESCRIPTION);
            let object = m.as_object().unwrap();
            assert_eq!(object.len(), 5, "{m}");
            if browser.is_firefox() {
                assert_eq!(
                    m["allowed_extensions"],
                    json!([FIREFOX_ADDON_ID, "other@example.org"])
                );
                assert!(m.get("allowed_origins").is_none());
            } else {
                assert_eq!(
                    m["allowed_origins"],
                    json!([
                        format!("chrome-extension://{DEV_EXTENSION_ID}/"),
                        "chrome-extension://abcdefghijklmnopabcdefghijklmnop/"
                    ])
                );
                assert!(m.get("allowed_extensions").is_none());
            }
        }
        let text = manifest_text(Browser::Chrome, Path::new("/x"), &[]).unwrap();
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn unit_and_desktop_entry_quote_the_executable() {
        let exe = Path::new("/home/a user/.local/bin/card-agent");
        let unit = systemd_unit(exe).unwrap();
        assert!(
            unit.contains("\nExecStart=\"/home/a user/.local/bin/card-agent\" serve\n"),
            "{unit}"
        );
        let tunables = format!(
            "\nEnvironment=GLIBC_TUNABLES={}\n",
            crate::allocator::GLIBC_TUNABLES
        );
        assert!(unit.contains(&tunables), "{unit}");
        assert!(
            unit.starts_with("[Unit]\n") && unit.contains("\n[Install]\nWantedBy=default.target\n")
        );
        let entry = autostart_entry(exe).unwrap();
        assert!(entry.starts_with("[Desktop Entry]\n"), "{entry}");
        assert!(
            entry.contains("\nExec=\"/home/a user/.local/bin/card-agent\" tray\n"),
            "{entry}"
        );
        assert!(entry.contains("\nType=Application\n") && entry.contains("\nName[zh_TW]="));
    }

    #[test]
    fn paths_the_formats_cannot_hold_are_refused() {
        for bad in [
            "/home/u/bin\"x/card-agent",
            "/home/u/50%/card-agent",
            "/home/$USER/card-agent",
            "/home/u/`id`/card-agent",
            "/home/u\\x/card-agent",
            "/home/u/new\nline/card-agent",
            "relative/card-agent",
        ] {
            let e = systemd_unit(Path::new(bad)).unwrap_err();
            assert_eq!(
                e.code(),
                card_agent_protocol::ErrorCode::BadRequest,
                "{bad}"
            );
            assert!(autostart_entry(Path::new(bad)).is_err(), "{bad}");
            let shown = e.user_message(card_agent_protocol::Language::En);
            assert!(shown.contains("card-agent"), "{shown}");
        }
    }

    #[test]
    fn the_system_config_parses_and_changes_nothing() {
        let config: crate::config::Config = toml::from_str(SYSTEM_CONFIG).unwrap();
        assert_eq!(config, crate::config::Config::default());
    }
}
