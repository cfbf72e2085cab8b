//! The Debian package, built and installed for real: `installers/debian/build-deb.sh` packages
//! the test build of card-agent, `dpkg-deb` inspects it, `dpkg` installs it into a temporary
//! root (`--root` with `--force-script-chrootless`: the maintainer scripts run, with
//! `DPKG_ROOT` pointing at the tree), the installed program's `doctor` runs against that tree
//! with a throwaway HOME, and `dpkg --remove` / `--purge` are shown to leave nothing behind.
//!
//! Where the kernel allows a private mount namespace (root, as in CI), the tree is laid over
//! `/usr` and `/etc` for the namespace's processes only, so `doctor` and Debian's chromium see
//! the package as if it were installed on this machine, and nothing outside the namespace does:
//! other tests' browsers never see our extension.
//!
//! Needs root, dpkg-dev (dpkg-shlibdeps), binutils (strip) and init-system-helpers; lintian and
//! chromium are used when installed. A missing tool skips the test with a message saying which.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use card_agent_testbed::agent::{agent_bin, on_path, path, repo_root, run};

const EXTENSION_ID: &str = "hccjmiblnokapoamfkgnbbighmnfpoig";
/// Every native messaging host manifest the package registers, and the browser it is for.
const HOST_MANIFESTS: [(&str, &str); 5] = [
    (
        "chrome",
        "etc/opt/chrome/native-messaging-hosts/tw.card_agent.json",
    ),
    (
        "chromium",
        "etc/chromium/native-messaging-hosts/tw.card_agent.json",
    ),
    (
        "edge",
        "etc/opt/edge/native-messaging-hosts/tw.card_agent.json",
    ),
    (
        "brave",
        "etc/opt/brave.com/brave/native-messaging-hosts/tw.card_agent.json",
    ),
    (
        "firefox",
        "usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json",
    ),
];
const UNIT: &str = "usr/lib/systemd/user/card-agent.service";
const AUTOSTART: &str = "etc/xdg/autostart/card-agent-tray.desktop";
const CONFIG: &str = "etc/card-agent/config.toml";
/// How long a browser gets to load the extension and start the native host. Only a bound on
/// a hang: the test passes as soon as the host has run.
const BROWSER_GUARD: Duration = Duration::from_secs(90);

/// `program args...`, ready for [`run`].
fn command<I, S>(program: impl AsRef<OsStr>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

fn is_root() -> bool {
    run(command("id", ["-u"]), b"").stdout.trim() == "0"
}

/// The tools this test cannot do without, or why it is skipped.
fn missing_tools() -> Option<String> {
    if !is_root() {
        return Some("dpkg --root needs root to give files their owner".to_owned());
    }
    let missing: Vec<&str> = [
        "dpkg",
        "dpkg-deb",
        "dpkg-shlibdeps",
        "dpkg-architecture",
        "strip",
        "deb-systemd-helper",
    ]
    .into_iter()
    .filter(|t| !on_path(t))
    .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "missing {} (apt-get install dpkg-dev binutils init-system-helpers)",
            missing.join(", ")
        )
    })
}

/// Builds the package from the test build of card-agent into `out`; returns its path.
fn build_deb(out: &Path) -> PathBuf {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("installers/debian/build-deb.sh"))
        .args(["--fast", "--bin"])
        .arg(agent_bin())
        .arg("--out")
        .arg(out);
    let r = run(cmd, b"");
    assert_eq!(r.code, 0, "build-deb.sh failed:\n{}{}", r.stdout, r.stderr);
    let deb = PathBuf::from(r.stdout.lines().last().expect("the .deb's path").trim());
    assert!(deb.is_file(), "{}", r.stdout);
    deb
}

/// One line of `dpkg-deb -c`: mode, owner, path (without `./`), link target.
#[derive(Debug)]
struct Entry {
    mode: String,
    owner: String,
    path: String,
    link: Option<String>,
}

fn contents(deb: &Path) -> Vec<Entry> {
    let r = run(
        command("dpkg-deb", [OsStr::new("-c"), deb.as_os_str()]),
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.len() >= 6, "{line}");
            let rest = fields[5..].join(" ");
            let (path, link) = match rest.split_once(" -> ") {
                Some((p, l)) => (p.to_owned(), Some(l.to_owned())),
                None => (rest, None),
            };
            Entry {
                mode: fields[0].to_owned(),
                owner: fields[1].to_owned(),
                path: path
                    .trim_start_matches("./")
                    .trim_end_matches('/')
                    .to_owned(),
                link,
            }
        })
        .filter(|e| !e.path.is_empty())
        .collect()
}

fn field(deb: &Path, name: &str) -> String {
    let r = run(
        command(
            "dpkg-deb",
            [OsStr::new("-f"), deb.as_os_str(), OsStr::new(name)],
        ),
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout.trim().to_owned()
}

/// Every path under `root`, relative, leaving out dpkg's own bookkeeping (its lock files,
/// journal and backup of the status file), which belongs to dpkg rather than to a package.
fn tree(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let entries = std::fs::read_dir(dir).expect("readable directory");
        for entry in entries {
            let entry = entry.expect("directory entry");
            let p = entry.path();
            let rel = p
                .strip_prefix(root)
                .expect("inside the tree")
                .to_string_lossy()
                .into_owned();
            let bookkeeping = [
                "var/lib/dpkg/lock",
                "var/lib/dpkg/lock-frontend",
                "var/lib/dpkg/status-old",
                "var/lib/dpkg/info/format",
                "var/lib/dpkg/triggers/Lock",
                "var/lib/dpkg/triggers/Unincorp",
            ];
            if bookkeeping.contains(&rel.as_str()) {
                continue;
            }
            let is_dir = entry.file_type().expect("file type").is_dir();
            out.insert(rel);
            if is_dir {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// An empty system for dpkg: its database, and the two directories init-system-helpers (an
/// essential package, owner of deb-systemd-helper) gives every Debian system.
fn empty_root(root: &Path) {
    for dir in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
        "etc/systemd/user",
        "var/lib/systemd",
    ] {
        std::fs::create_dir_all(root.join(dir)).expect("directory");
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").expect("status file");
}

fn dpkg(root: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", path(root)))
        .args(["--force-script-chrootless", "--log=/dev/null"])
        .args(args);
    let r = run(cmd, b"");
    assert_eq!(r.code, 0, "dpkg {args:?}:\n{}{}", r.stdout, r.stderr);
    format!("{}{}", r.stdout, r.stderr)
}

/// Whether this process may lay the tree over /usr and /etc in a private mount namespace.
fn namespaces_work(root: &Path) -> bool {
    on_path("unshare")
        && Command::new("unshare")
            .args(["--mount", "--", "mount", "-t", "overlay", "overlay", "-o"])
            .arg(format!("lowerdir={}:/usr", path(&root.join("usr"))))
            .arg("/usr")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// A command that runs `program args` in a private mount (and PID) namespace where the tree's
/// /usr and /etc lie over the machine's (read-only overlays): the package looks installed to
/// it and to its children, and to no one else. The namespace and everything in it dies with
/// the returned command's process (`--kill-child`).
fn in_installed_system(root: &Path, program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--",
        "sh",
        "-c",
        r#"mount -t overlay overlay -o "lowerdir=$1/usr:/usr" /usr &&
           mount -t overlay overlay -o "lowerdir=$1/etc:/etc" /etc &&
           shift && exec "$@""#,
        "sh",
    ])
    .arg(root)
    .arg(program)
    .args(args);
    cmd
}

/// A throwaway user: home, runtime, state and config directories, a config that keeps the
/// daemon off the machine's legacy port, and a PC/SC socket that does not exist
/// (`PCSCLITE_CSOCK_NAME`, which libpcsclite reads): the package's programs never touch the
/// shared pcscd or another test's virtual card, so these tests need no readers lock, and the
/// environment check has something definite to say about the smart-card service.
struct User {
    dir: tempfile::TempDir,
}

impl User {
    fn new() -> User {
        let dir = tempfile::tempdir().expect("temporary directory");
        // A user who has run Chromium: its profile, under XDG_CONFIG_HOME, is not empty.
        for sub in [
            "home",
            "config/chromium/Default",
            "run",
            "state",
            "config/card-agent",
        ] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("directory");
        }
        std::fs::write(
            dir.path().join("config/card-agent/config.toml"),
            "http_listen = \"\"\n",
        )
        .expect("config");
        User { dir }
    }

    fn env(&self, cmd: &mut Command) {
        let d = self.dir.path();
        cmd.env("HOME", d.join("home"))
            .env("XDG_RUNTIME_DIR", d.join("run"))
            .env("XDG_STATE_HOME", d.join("state"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env_remove("CARD_AGENT_CONFIG")
            .env("CARD_AGENT_LANG", "en")
            .env("PCSCLITE_CSOCK_NAME", d.join("run/no-pcscd.comm"))
            .env_remove("CARD_AGENT_PKCS11_MODULE")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
    }
}

/// Runs `doctor --json`.
fn doctor(cmd: Command) -> serde_json::Value {
    let r = run(cmd, b"");
    assert!(
        r.code == 0 || r.code == 1,
        "doctor: {}\n{}",
        r.code,
        r.stderr
    );
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}\n{}", r.stdout, r.stderr))
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no {id} check in {report}"))
}

#[test]
fn the_package_holds_every_file_installs_runs_and_purges_without_a_trace() {
    if let Some(why) = missing_tools() {
        eprintln!("SKIPPED package_deb: {why}");
        return;
    }
    let work = tempfile::tempdir().expect("temporary directory");
    let deb = build_deb(&work.path().join("out"));
    let version = format!("{}-1", env!("CARGO_PKG_VERSION"));
    assert!(
        deb.file_name().is_some_and(|n| n
            .to_string_lossy()
            .starts_with(&format!("card-agent_{version}_"))),
        "{}",
        deb.display()
    );

    // The control fields.
    assert_eq!(field(&deb, "Package"), "card-agent");
    assert_eq!(field(&deb, "Version"), version);
    let depends = field(&deb, "Depends");
    for dep in ["pcscd", "libpcsclite1", "libc6"] {
        assert!(
            depends.split(", ").any(|d| d.starts_with(dep)),
            "Depends: {depends}"
        );
    }
    assert!(field(&deb, "Recommends").contains("libccid"));
    assert!(field(&deb, "Suggests").contains("opensc"));

    // The contents: every expected path, with its mode; everything root's, nothing writable by
    // others, nothing setuid, no test or tool of the extension.
    let entries = contents(&deb);
    let mode_of = |p: &str| -> String {
        entries
            .iter()
            .find(|e| e.path == p)
            .map(|e| e.mode.clone())
            .unwrap_or_else(|| panic!("{p} is not in the package: {entries:#?}"))
    };
    assert_eq!(mode_of("usr/bin/card-agent"), "-rwxr-xr-x");
    let files = [
        UNIT,
        AUTOSTART,
        CONFIG,
        "usr/share/doc/card-agent/copyright",
        "usr/share/doc/card-agent/changelog.Debian.gz",
        "usr/share/doc/card-agent/README.Debian",
        "usr/share/doc/card-agent/examples/chrome-managed-policy.json",
        "usr/share/doc/card-agent/examples/firefox-policies.json",
        "usr/share/man/man1/card-agent.1.gz",
        "usr/share/lintian/overrides/card-agent",
        "usr/share/card-agent/extension/manifest.json",
        "usr/share/card-agent/extension/background.js",
        "usr/share/card-agent/extension/selftest/selftest.html",
        "usr/share/card-agent/extension/_locales/zh_TW/messages.json",
    ];
    for p in HOST_MANIFESTS.iter().map(|(_, p)| *p).chain(files) {
        assert_eq!(mode_of(p), "-rw-r--r--", "{p}");
    }
    let link = entries
        .iter()
        .find(|e| e.path == "usr/share/chromium/extensions/card-agent")
        .expect("Debian chromium's link to the extension");
    assert!(link.mode.starts_with('l'));
    assert_eq!(link.link.as_deref(), Some("../../card-agent/extension"));
    for e in &entries {
        assert_eq!(e.owner, "root/root", "{e:?}");
        if !e.mode.starts_with('l') {
            let mode = e.mode.as_bytes();
            assert!(
                mode[5] != b'w' && mode[8] != b'w',
                "writable by others: {e:?}"
            );
        }
        assert!(!e.mode.contains('s'), "setuid/setgid: {e:?}");
        for unwanted in ["/test/", "/tools/", "package.json", "node_modules"] {
            assert!(!e.path.contains(unwanted), "{e:?}");
        }
        // The page library is for the sites' developers (they ship it with their pages), not
        // for the people who install the agent: the package installs it nowhere.
        for page_library in [
            "/page/",
            "card-agent.js",
            "card-agent.d.ts",
            "card-agent.mjs",
        ] {
            assert!(!e.path.contains(page_library), "{e:?}");
        }
    }

    // Conffiles: exactly the files under /etc; maintainer scripts executable.
    let control = work.path().join("control");
    let r = run(
        command(
            "dpkg-deb",
            [OsStr::new("-e"), deb.as_os_str(), control.as_os_str()],
        ),
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let conffiles: BTreeSet<String> = std::fs::read_to_string(control.join("conffiles"))
        .expect("conffiles")
        .lines()
        .map(|l| l.trim_start_matches('/').to_owned())
        .collect();
    let etc_files: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.path.starts_with("etc/") && e.mode.starts_with('-'))
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(conffiles, etc_files);
    for script in ["postinst", "postrm"] {
        let text = std::fs::read_to_string(control.join(script)).expect("script");
        assert!(text.starts_with("#!/bin/sh\n"), "{script}");
        // A postinst that needs the network cannot run where the package is installed offline.
        for net in ["curl", "wget", "apt-get", "http://", "https://"] {
            assert!(!text.contains(net), "{script} mentions {net}");
        }
    }

    // Lintian, Debian's own package checker, when it is installed: no error, no warning.
    if on_path("lintian") {
        let r = run(
            command("lintian", [OsStr::new("--pedantic"), deb.as_os_str()]),
            b"",
        );
        let findings: Vec<&str> = r
            .stdout
            .lines()
            .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
            .collect();
        assert!(findings.is_empty(), "lintian:\n{}", r.stdout);
    } else {
        eprintln!("note: lintian is not installed; the package was not linted");
    }

    // Install into an empty root.
    let root = work.path().join("root");
    empty_root(&root);
    let before = tree(&root);
    let host_wants = Path::new("/etc/systemd/user/default.target.wants/card-agent.service");
    let host_had_unit = host_wants.exists();
    dpkg(&root, &["--force-depends", "--install", path(&deb)]);
    let status = dpkg(&root, &["--status", "card-agent"]);
    assert!(status.contains("Status: install ok installed"), "{status}");

    let installed = root.join("usr/bin/card-agent");
    let r = run(command(&installed, ["--version"]), b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(env!("CARGO_PKG_VERSION")), "{}", r.stdout);
    for (browser, manifest) in HOST_MANIFESTS {
        let text = std::fs::read_to_string(root.join(manifest)).expect("host manifest");
        let json: serde_json::Value = serde_json::from_str(&text).expect("manifest JSON");
        assert_eq!(json["name"], "tw.card_agent", "{browser}");
        assert_eq!(json["path"], "/usr/bin/card-agent", "{browser}");
        if browser == "firefox" {
            assert_eq!(json["allowed_extensions"][0], "card-agent@card-agent.tw");
        } else {
            assert_eq!(
                json["allowed_origins"][0],
                format!("chrome-extension://{EXTENSION_ID}/"),
                "{browser}"
            );
        }
    }
    let unit = std::fs::read_to_string(root.join(UNIT)).expect("unit");
    // The program, quoted or not (systemd and desktop entries take both).
    let line = |text: &str, key: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .replace('"', "")
    };
    assert_eq!(line(&unit, "ExecStart="), "/usr/bin/card-agent serve");
    let autostart = std::fs::read_to_string(root.join(AUTOSTART)).expect("autostart entry");
    assert_eq!(line(&autostart, "Exec="), "/usr/bin/card-agent tray");
    // postinst enabled the user unit for every session, in the tree and not on this machine.
    let wants = root.join("etc/systemd/user/default.target.wants/card-agent.service");
    assert_eq!(
        std::fs::read_link(&wants).expect("the unit is enabled"),
        Path::new("/usr/lib/systemd/user/card-agent.service")
    );
    assert_eq!(
        host_wants.exists(),
        host_had_unit,
        "postinst touched this machine"
    );
    let extension: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("usr/share/card-agent/extension/manifest.json"))
            .expect("extension manifest"),
    )
    .expect("extension manifest JSON");
    assert_eq!(extension["version"], env!("CARGO_PKG_VERSION"));

    // The installed program's environment check, for a user who has run Chromium.
    let user = User::new();
    let in_namespace = namespaces_work(&root);
    let report = if in_namespace {
        let mut cmd = in_installed_system(
            &root,
            "/usr/bin/card-agent",
            &["doctor", "--json", "--lang", "en"],
        );
        user.env(&mut cmd);
        doctor(cmd)
    } else {
        eprintln!("note: no private mount namespace here; doctor runs from the tree only");
        let mut cmd = Command::new(&installed);
        cmd.args(["doctor", "--json", "--lang", "en"]);
        user.env(&mut cmd);
        doctor(cmd)
    };
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"), "{report}");
    // The user's config (XDG_CONFIG_HOME) layered over the package's /etc/card-agent one.
    let legacy = check(&report, "legacy-port");
    assert_eq!(legacy["status"], "ok", "{legacy}");
    assert!(
        legacy["explanation"]
            .as_str()
            .is_some_and(|t| t.contains("http_listen")),
        "the user's http_listen = \"\" applies: {legacy}"
    );
    let host = check(&report, "native-host");
    if in_namespace {
        // Chromium counts as registered through the package's system-wide manifest: nothing
        // to fix, only the extension's first visit to wait for.
        assert_eq!(host["status"], "warning", "{host}");
        assert!(host.get("fix").is_none(), "{host}");
        assert_eq!(host["items"][0]["status"], "ok", "{host}");
        assert!(
            host["items"][0]["text"].as_str().is_some_and(
                |t| t.contains("/etc/chromium/native-messaging-hosts/tw.card_agent.json")
            ),
            "{host}"
        );
    }
    // No smart-card service for this user: the check fails and says how to get the one the
    // package depends on.
    let pcscd = check(&report, "pcscd");
    assert_eq!(pcscd["status"], "failed", "{pcscd}");
    assert!(
        pcscd["fix"]["command"]
            .as_str()
            .is_some_and(|c| c.contains("pcscd")),
        "{pcscd}"
    );

    // The examples an administrator copies are valid: the policies are JSON, the config is
    // one card-agent reads.
    let examples = root.join("usr/share/doc/card-agent/examples");
    for policy in ["chrome-managed-policy.json", "firefox-policies.json"] {
        let text = std::fs::read_to_string(examples.join(policy)).expect("policy example");
        let json: serde_json::Value = serde_json::from_str(&text).expect("policy JSON");
        assert!(json.to_string().contains(if policy.starts_with("chrome") {
            EXTENSION_ID
        } else {
            "card-agent@card-agent.tw"
        }));
    }
    let example = card_agent::config::Config::read(&examples.join("config.toml"))
        .expect("the example config parses");
    assert!(!example.trusted_sites.is_empty());

    // An administrator's edit to a conffile survives removal; purge takes it too.
    let mut edited = std::fs::read_to_string(root.join(CONFIG)).expect("config");
    edited.push_str("pin_entry = \"dialog\"\n");
    std::fs::write(root.join(CONFIG), &edited).expect("an administrator's edit");

    // Remove: the program and everything but the conffiles go; the unit's enablement is masked.
    dpkg(&root, &["--remove", "card-agent"]);
    let after_remove = tree(&root);
    assert!(!installed.exists());
    for p in after_remove.difference(&before) {
        assert!(
            p.starts_with("etc/")
                || p.starts_with("var/lib/systemd/deb-systemd-user-helper-")
                || p == "var/lib/dpkg/info/card-agent.list"
                || p == "var/lib/dpkg/info/card-agent.conffiles"
                || p == "var/lib/dpkg/info/card-agent.postrm"
                || p == "var/lib/dpkg/info/card-agent.md5sums",
            "left after remove: {p}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(root.join(CONFIG)).expect("config"),
        edited,
        "remove keeps the configuration as the administrator left it"
    );

    // Purge: nothing of the package is left, not even what an administrator added to
    // /etc/card-agent.
    std::fs::write(
        root.join("etc/card-agent/site-notes.txt"),
        "added by hand\n",
    )
    .expect("an administrator's file");
    dpkg(&root, &["--purge", "card-agent"]);
    let after_purge = tree(&root);
    assert_eq!(
        after_purge.difference(&before).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "left after purge"
    );
    assert_eq!(
        before.difference(&after_purge).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "purge removed what was not the package's"
    );
    let status = run(
        command(
            "dpkg",
            [
                format!("--root={}", path(&root)).as_str(),
                "--status",
                "card-agent",
            ],
        ),
        b"",
    );
    assert_ne!(
        status.code, 0,
        "dpkg still knows the package: {}",
        status.stdout
    );
}

/// `PUT path` to Chromium's DevTools HTTP endpoint on loopback; the response, headers and all.
fn devtools_put(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("DevTools port");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    // Chromium keeps the connection open: read the headers, then Content-Length bytes.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        let n = stream.read(&mut chunk).expect("response");
        assert!(n > 0, "DevTools closed the connection: {text}");
        answer.extend_from_slice(&chunk[..n]);
    }
}

/// Kills the namespace (and so every process in it) when the test ends, however it ends.
struct Namespace(Child);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's chromium, for a user of the installed package, with nothing set up by hand: the
/// browser's own launcher (`/usr/bin/chromium`, which loads every extension under
/// /usr/share/chromium/extensions) loads the packaged extension, whose self-test page asks the
/// agent for the environment check; Chromium finds the host through the package's system-wide
/// manifest and starts /usr/bin/card-agent, which records the extension's visit. The test user
/// has no manifest of their own.
#[test]
fn debian_chromium_loads_the_packaged_extension_and_reaches_the_native_host() {
    if let Some(why) = missing_tools() {
        eprintln!("SKIPPED package_deb (chromium): {why}");
        return;
    }
    if !Path::new("/usr/bin/chromium").is_file() {
        eprintln!("SKIPPED package_deb (chromium): Debian's chromium is not installed");
        return;
    }
    assert!(
        Path::new("/etc/chromium.d/extensions").is_file(),
        "Debian's chromium no longer loads /usr/share/chromium/extensions: README.Debian is wrong"
    );
    let work = tempfile::tempdir().expect("temporary directory");
    let deb = build_deb(&work.path().join("out"));
    let root = work.path().join("root");
    empty_root(&root);
    dpkg(&root, &["--force-depends", "--install", path(&deb)]);
    if !namespaces_work(&root) {
        eprintln!("SKIPPED package_deb (chromium): no private mount namespace here");
        return;
    }

    let user = User::new();
    let state = user.dir.path().join("state/card-agent");
    let profile = work.path().join("profile");
    let log = work.path().join("chromium.log");
    let user_data = format!("--user-data-dir={}", path(&profile));
    let mut cmd = in_installed_system(
        &root,
        "/usr/bin/chromium",
        &[
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            &user_data,
            "about:blank",
        ],
    );
    user.env(&mut cmd);
    card_agent_testbed::clock::real_clock(&mut cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    let mut browser = Namespace(cmd.spawn().expect("unshare and chromium"));

    // The self-test page, opened once the browser is up (a start URL would be tried before
    // the extension has loaded), through the DevTools HTTP endpoint.
    let deadline = Instant::now() + BROWSER_GUARD;
    let active_port = profile.join("DevToolsActivePort");
    let port = loop {
        let first = std::fs::read_to_string(&active_port)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u16>().ok()));
        if let Some(port) = first {
            break port;
        }
        let exited = browser.0.try_wait().expect("browser status");
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "chromium did not start ({exited:?}):\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let page = format!("chrome-extension://{EXTENSION_ID}/selftest/selftest.html");
    let answer = devtools_put(port, &format!("/json/new?{page}"));
    assert!(answer.contains(&page), "{answer}");

    let seen = loop {
        if let Some(seen) = card_agent::native_host::last_seen(&state) {
            break seen;
        }
        let exited = browser.0.try_wait().expect("browser status");
        if exited.is_some() || Instant::now() > deadline {
            drop(browser);
            panic!(
                "the extension never reached the native host ({}):\n{}",
                exited.map_or("timed out".to_owned(), |s| s.to_string()),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(browser);
    assert_eq!(seen.caller, format!("chrome-extension://{EXTENSION_ID}/"));
    assert!(
        !user
            .dir
            .path()
            .join("config/chromium/NativeMessagingHosts")
            .exists(),
        "the user registered nothing: the system-wide manifest was used"
    );

    // The installed doctor, for the same user, knows the extension has connected.
    let mut cmd = in_installed_system(
        &root,
        "/usr/bin/card-agent",
        &["doctor", "--json", "--lang", "en"],
    );
    user.env(&mut cmd);
    let report = doctor(cmd);
    let host = check(&report, "native-host");
    assert_eq!(host["status"], "ok", "{host}");
    let items = host["items"].to_string();
    assert!(items.contains(EXTENSION_ID), "{host}");
}
