//! The per-user Linux installer and uninstaller, run for real in a throwaway HOME.

use std::process::Command;

use card_agent_testbed::agent::agent_bin;

#[test]
fn install_registers_every_browser_and_the_tray_and_uninstall_removes_them() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".config/chromium")).unwrap();
    std::fs::create_dir_all(home.path().join(".mozilla")).unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let out = Command::new("bash")
        .arg(repo.join("installers/linux/install.sh"))
        .arg(agent_bin())
        .env("HOME", home.path())
        .env_remove("CARD_AGENT_BIN_DIR")
        .env_remove("XDG_CONFIG_HOME")
        // No desktop session: the installer must not start a tray here.
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = home.path().join(".local/bin/card-agent");
    assert!(installed.is_file());
    let chromium = home
        .path()
        .join(".config/chromium/NativeMessagingHosts/tw.card_agent.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&chromium).unwrap()).unwrap();
    assert_eq!(manifest["path"], installed.to_str().unwrap());
    assert_eq!(
        manifest["allowed_origins"][0],
        "chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig/"
    );
    let firefox = home
        .path()
        .join(".mozilla/native-messaging-hosts/tw.card_agent.json");
    assert!(firefox.is_file());
    assert!(
        !home.path().join(".config/google-chrome").exists(),
        "browsers the user lacks are left alone"
    );
    // The tray starts with the desktop session, from the installed binary.
    let autostart = home
        .path()
        .join(".config/autostart/card-agent-tray.desktop");
    let entry = std::fs::read_to_string(&autostart).unwrap();
    assert!(entry.starts_with("[Desktop Entry]\n"), "{entry}");
    assert!(
        entry.contains(&format!("\nExec=\"{}\" tray\n", installed.display())),
        "{entry}"
    );
    assert!(entry.contains("\nType=Application\n"), "{entry}");
    assert!(entry.contains("\nName[zh_TW]="), "{entry}");

    let out = Command::new("bash")
        .arg(repo.join("installers/linux/uninstall.sh"))
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!installed.exists() && !chromium.exists() && !firefox.exists());
    assert!(!autostart.exists(), "the tray no longer starts at login");
}

#[test]
fn a_browser_starting_the_binary_directly_gets_the_native_host() {
    // Chrome runs the manifest's `path` with only the caller origin; an unknown caller is
    // refused by the native host (not misread as a CLI command).
    let out = Command::new(agent_bin())
        .arg("chrome-extension://abcdefghijklmnopabcdefghijklmnop/")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not an allowed extension"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}
