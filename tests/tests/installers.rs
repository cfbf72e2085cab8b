//! Installing for one user, run for real in a throwaway HOME: the Linux scripts (thin wrappers
//! around `card-agent install --user`), the command itself twice, the environment check
//! against what it wrote, and an uninstall that leaves the tree exactly as it was.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use card_agent_testbed::agent::{agent_bin, path, run, Run};
use card_agent_testbed::pcscd;
use serde_json::Value;

/// A throwaway user: every XDG directory inside `home`, the runtime directory beside it.
struct User {
    dir: tempfile::TempDir,
}

impl User {
    fn new() -> User {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        std::fs::create_dir_all(dir.path().join("run")).expect("runtime directory");
        User { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Makes `rel` (below home) a used browser profile.
    fn profile(&self, rel: &str) {
        std::fs::create_dir_all(self.home().join(rel).join("Default")).expect("profile");
    }

    fn env(&self, command: &mut Command) {
        let home = self.home();
        command
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"))
            .env_remove("CARD_AGENT_CONFIG")
            .env_remove("CARD_AGENT_BIN_DIR")
            // No desktop session: nothing may start a tray here.
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
    }

    fn agent(&self, args: &[&str]) -> Run {
        let mut c = Command::new(agent_bin());
        self.env(&mut c);
        c.args(args);
        run(c, b"")
    }

    fn script(&self, name: &str, args: &[&str]) -> Run {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("repository");
        let mut c = Command::new("bash");
        self.env(&mut c);
        c.arg(repo.join("installers/linux").join(name)).args(args);
        run(c, b"")
    }

    /// Every file and directory below home, with each file's contents, sorted.
    fn tree(&self) -> Vec<(String, Option<Vec<u8>>)> {
        let home = self.home();
        let mut out = Vec::new();
        let mut stack = vec![home.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
                let p = entry.path();
                let rel = p
                    .strip_prefix(&home)
                    .expect("below home")
                    .display()
                    .to_string();
                if p.is_dir() {
                    stack.push(p);
                    out.push((rel, None));
                } else {
                    out.push((rel, Some(std::fs::read(&p).expect("read"))));
                }
            }
        }
        out.sort();
        out
    }
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn install_user_twice_is_seen_by_the_doctor_and_uninstall_restores_the_tree() {
    let user = User::new();
    user.profile(".config/chromium");
    user.profile(".var/app/org.mozilla.firefox/.mozilla");
    // The user's own data, which uninstall keeps; its own legacy port keeps the doctor off
    // whatever listens on 61161 on this machine.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = user.home().join(".config/card-agent/config.toml");
    std::fs::create_dir_all(config.parent().expect("config dir")).expect("config dir");
    std::fs::write(&config, format!("http_listen = \"127.0.0.1:{port}\"\n")).expect("config");
    let before = user.tree();

    // The plan first: nothing changes.
    let dry = user.agent(&["install", "--user", "--dry-run"]);
    ok(&dry);
    assert!(dry.stdout.contains("would write"), "{dry:?}");
    assert_eq!(user.tree(), before);

    let first = user.agent(&["install", "--user", "--json"]);
    ok(&first);
    let after_first = user.tree();
    let second = user.agent(&["install", "--user", "--json"]);
    ok(&second);
    assert_eq!(first.stdout, second.stdout, "the same report twice");
    assert_eq!(user.tree(), after_first, "the same files twice");

    let report = first.json();
    let written: Vec<String> = report["written"]
        .as_array()
        .expect("written")
        .iter()
        .map(|w| {
            Path::new(w["path"].as_str().expect("path"))
                .strip_prefix(user.home())
                .expect("below home")
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        written,
        [
            ".config/chromium/NativeMessagingHosts/tw.card_agent.json",
            ".var/app/org.mozilla.firefox/.mozilla/native-messaging-hosts/tw.card_agent.json",
            ".config/systemd/user/card-agent.service",
            ".config/autostart/card-agent-tray.desktop",
            ".local/share/card-agent/installed.json",
        ]
    );
    assert_eq!(report["sandboxed"][0]["app"], "org.mozilla.firefox");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            user.home()
                .join(".config/chromium/NativeMessagingHosts/tw.card_agent.json"),
        )
        .expect("manifest"),
    )
    .expect("JSON manifest");
    assert_eq!(manifest["path"], path(&agent_bin()));
    let unit = std::fs::read_to_string(user.home().join(".config/systemd/user/card-agent.service"))
        .expect("unit");
    assert!(
        unit.contains(&format!("\nExecStart=\"{}\" serve\n", path(&agent_bin()))),
        "{unit}"
    );

    // The environment check sees the registrations: Chromium registered, the Flatpak Firefox
    // registered with what its sandbox still needs.
    let doctor = {
        pcscd::ensure_pcscd().expect("pcscd with the vpcd readers");
        let _readers = pcscd::lock_virtual_readers().expect("exclusive use of the vpcd readers");
        user.agent(&["doctor", "--json", "--demo"])
    };
    let report = doctor.json();
    let host = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "native-host")
        .expect("native-host check")
        .clone();
    let items: Vec<(String, String)> = host["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["status"].as_str().unwrap_or_default().to_owned(),
                i["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        items
            .iter()
            .any(|(s, t)| s == "ok" && t.starts_with("Chromium: registered")),
        "{host:#}"
    );
    assert!(
        items.iter().any(|(s, t)| s == "warning"
            && t.starts_with("Firefox (flatpak): manifest written")
            && t.contains("flatpak override --user")),
        "{host:#}"
    );
    assert_ne!(host["status"], "failed", "{host:#}");

    let removed = user.agent(&["uninstall", "--user", "--json"]);
    ok(&removed);
    assert_eq!(user.tree(), before, "{}", removed.stdout);
    assert_eq!(
        removed.json()["kept"][0],
        path(&user.home().join(".config/card-agent"))
    );
    let again = user.agent(&["uninstall", "--user"]);
    ok(&again);
    assert!(again.stdout.contains("not installed"), "{again:?}");
    assert_eq!(user.tree(), before);
}

#[test]
fn the_scripts_install_the_binary_and_everything_else_and_remove_it_all() {
    let user = User::new();
    user.profile(".config/chromium");
    user.profile(".mozilla");
    let out = user.script("install.sh", &[path(&agent_bin())]);
    ok(&out);
    let installed = user.home().join(".local/bin/card-agent");
    assert!(installed.is_file());
    let chromium = user
        .home()
        .join(".config/chromium/NativeMessagingHosts/tw.card_agent.json");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&chromium).expect("manifest")).expect("JSON");
    assert_eq!(manifest["path"], path(&installed));
    assert_eq!(
        manifest["allowed_origins"][0],
        "chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig/"
    );
    let firefox = user
        .home()
        .join(".mozilla/native-messaging-hosts/tw.card_agent.json");
    assert!(firefox.is_file());
    assert!(
        !user.home().join(".config/google-chrome").exists(),
        "browsers the user lacks are left alone"
    );
    let autostart = user
        .home()
        .join(".config/autostart/card-agent-tray.desktop");
    let entry = std::fs::read_to_string(&autostart).expect("autostart entry");
    assert!(entry.starts_with("[Desktop Entry]\n"), "{entry}");
    assert!(
        entry.contains(&format!("\nExec=\"{}\" tray\n", installed.display())),
        "{entry}"
    );
    // The script reports what the command wrote.
    assert!(out.stdout.contains(path(&autostart)), "{out:?}");

    let out = user.script("uninstall.sh", &[]);
    ok(&out);
    assert!(!installed.exists() && !chromium.exists() && !firefox.exists());
    assert!(!autostart.exists(), "the tray no longer starts at login");
    assert!(!user.home().join(".config/systemd").exists());
    assert!(!user.home().join(".local/share/card-agent").exists());
}

#[test]
fn a_path_a_desktop_entry_cannot_hold_is_refused_in_both_languages() {
    let user = User::new();
    for (lang, words) in [("en", "cannot be written"), ("zh-TW", "無法寫入")] {
        let out = user.agent(&[
            "--lang",
            lang,
            "install",
            "--user",
            "--exe",
            "/opt/100%/card-agent",
        ]);
        assert_eq!(out.code, 9, "{out:?}");
        assert!(out.stderr.contains("BAD_REQUEST"), "{out:?}");
        assert!(out.stderr.contains(words), "{out:?}");
    }
    assert!(user.tree().is_empty(), "nothing written");
}

#[test]
fn system_files_are_staged_for_a_package() {
    let user = User::new();
    let stage = user.dir.path().join("stage");
    let out = user.agent(&[
        "install",
        "--system",
        "--destdir",
        path(&stage),
        "--exe",
        "/usr/bin/card-agent",
    ]);
    ok(&out);
    for file in [
        "etc/opt/chrome/native-messaging-hosts/tw.card_agent.json",
        "etc/chromium/native-messaging-hosts/tw.card_agent.json",
        "etc/opt/edge/native-messaging-hosts/tw.card_agent.json",
        "etc/opt/brave.com/brave/native-messaging-hosts/tw.card_agent.json",
        "usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json",
        "usr/lib/systemd/user/card-agent.service",
        "etc/xdg/autostart/card-agent-tray.desktop",
        "etc/card-agent/config.toml",
    ] {
        assert!(stage.join(file).is_file(), "{file}: {out:?}");
        assert!(out.stdout.contains(path(&stage.join(file))), "{out:?}");
    }
    assert!(user.tree().is_empty(), "nothing written for the user");
}

#[test]
fn a_browser_starting_the_binary_directly_gets_the_native_host() {
    // Chrome runs the manifest's `path` with only the caller origin; an unknown caller is
    // refused by the native host (not misread as a CLI command).
    let out = Command::new(agent_bin())
        .arg("chrome-extension://abcdefghijklmnopabcdefghijklmnop/")
        .output()
        .expect("run card-agent");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not an allowed extension"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}
