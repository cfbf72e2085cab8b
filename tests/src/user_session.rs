//! An isolated user session for tests of long-running parts: private `HOME`,
//! `XDG_RUNTIME_DIR`, `XDG_STATE_HOME` and config (with the legacy HTTP API off, so no port is
//! shared), the daemon started in it, requests over its socket, and optionally a private
//! desktop: a D-Bus session bus, Xvfb, a StatusNotifier watcher and a visible tray host.
//!
//! Every process started here is killed when the session is dropped, including a daemon that
//! a client autostarted (found through the lock file's PID).

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent::agent_bin;

/// A private user session.
pub struct UserSession {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    children: RefCell<Vec<(String, Child)>>,
}

impl Default for UserSession {
    fn default() -> Self {
        Self::new()
    }
}

impl UserSession {
    /// Creates the directories and a config file with `http_listen = ""`.
    pub fn new() -> UserSession {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path();
        for d in ["run", "state", "home", "config/card-agent"] {
            std::fs::create_dir_all(root.join(d)).expect("session directory");
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("run"), std::fs::Permissions::from_mode(0o700))
            .expect("chmod run");
        let config = root.join("config/card-agent/config.toml");
        std::fs::write(&config, "http_listen = \"\"\n").expect("config file");
        let path = |p: &str| root.join(p).to_string_lossy().into_owned();
        let env = vec![
            ("XDG_RUNTIME_DIR".into(), path("run")),
            ("XDG_STATE_HOME".into(), path("state")),
            ("XDG_CONFIG_HOME".into(), path("config")),
            ("HOME".into(), path("home")),
            (
                "CARD_AGENT_CONFIG".into(),
                config.to_string_lossy().into_owned(),
            ),
            ("LANG".into(), "en_US.UTF-8".into()),
        ];
        UserSession {
            dir,
            env,
            children: RefCell::new(Vec::new()),
        }
    }

    /// `<XDG_STATE_HOME>/card-agent`: the trusted sites and the log live here.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state/card-agent")
    }

    /// The daemon's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/card-agent/agent.sock")
    }

    /// The PID the running daemon wrote in its lock file.
    pub fn daemon_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("run/card-agent/agent.lock"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Writes the approvals file the daemon reads at start (mode 0600).
    pub fn write_trusted_sites(&self, origins: &[&str]) {
        let sites: Vec<Value> = origins
            .iter()
            .map(|o| serde_json::json!({"origin": o, "approvedAt": "2025-01-31T08:00:00Z"}))
            .collect();
        let file = serde_json::json!({"version": 1, "sites": sites});
        let path = self.state_dir().join("trusted-sites.json");
        std::fs::create_dir_all(self.state_dir()).expect("state directory");
        std::fs::write(&path, file.to_string()).expect("trusted-sites.json");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod trusted-sites.json");
    }

    /// The origins in the approvals file, as the daemon last wrote it.
    pub fn trusted_sites_on_disk(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.state_dir().join("trusted-sites.json"))
            .expect("trusted-sites.json");
        let json: Value = serde_json::from_str(&text).expect("JSON");
        json["sites"]
            .as_array()
            .expect("sites")
            .iter()
            .map(|s| s["origin"].as_str().expect("origin").to_owned())
            .collect()
    }

    /// A `card-agent` command in this session's environment.
    pub fn agent(&self, args: &[&str]) -> Command {
        let mut command = Command::new(agent_bin());
        command.args(args);
        self.apply_env(&mut command);
        command
    }

    /// Sets this session's environment on `command` (and clears the caller's desktop, so
    /// nothing reaches the developer's own session bus or display).
    pub fn apply_env(&self, command: &mut Command) {
        for var in [
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "DBUS_SESSION_BUS_ADDRESS",
            "LC_ALL",
            "LC_MESSAGES",
            "CARD_AGENT_PKCS11_MODULE",
        ] {
            command.env_remove(var);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
    }

    /// Starts a process that lives as long as the session; its output goes to
    /// `<session>/<name>.log`.
    pub fn spawn(&self, name: &str, mut command: Command) -> u32 {
        let log = std::fs::File::create(self.log_path(name)).expect("log file");
        let err = log.try_clone().expect("log file");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let pid = child.id();
        self.children.borrow_mut().push((name.to_owned(), child));
        pid
    }

    /// What a process started with [`spawn`](Self::spawn) wrote.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// Stops one process started with [`spawn`](Self::spawn) (SIGKILL) and waits for it.
    pub fn kill(&self, name: &str) {
        let found = {
            let mut children = self.children.borrow_mut();
            let index = children.iter().position(|(n, _)| n == name);
            index.map(|i| children.remove(i))
        };
        if let Some((_, mut child)) = found {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts `card-agent serve --demo` and waits until its socket answers.
    pub fn start_demo_daemon(&self) -> u32 {
        let command = self.agent(&["serve", "--demo"]);
        let pid = self.spawn("daemon", command);
        let socket = self.socket();
        wait_until(Duration::from_secs(30), "the daemon's socket", || {
            UnixStream::connect(&socket).is_ok()
        });
        pid
    }

    /// Sends one request on a new connection and returns the response.
    pub fn request(&self, request: &Value) -> Value {
        let mut stream = UnixStream::connect(self.socket()).expect("connect to the daemon");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write_frame(&mut stream, request.to_string().as_bytes());
        serde_json::from_slice(&read_frame(&mut stream)).expect("a JSON response")
    }

    /// Adds an environment variable for every process started from now on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Starts a private desktop: a D-Bus session bus, Xvfb, the StatusNotifier watcher and
    /// `gtk-sni-tray-standalone` (a visible tray host). Every later process gets its
    /// `DBUS_SESSION_BUS_ADDRESS` and `DISPLAY`.
    pub fn start_desktop(&mut self) {
        for tool in [
            "dbus-daemon",
            "Xvfb",
            "status-notifier-watcher",
            "gtk-sni-tray-standalone",
            "gdbus",
        ] {
            assert!(
                which(tool),
                "{tool} is not installed: ./dev.sh test installs the desktop test packages"
            );
        }
        let mut bus = Command::new("dbus-daemon");
        bus.args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null());
        let address = self.spawn_reading_line("dbus-daemon", bus);
        self.set_env("DBUS_SESSION_BUS_ADDRESS", &address);

        let mut xvfb = Command::new("Xvfb");
        xvfb.args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "800x480x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
        let display = self.spawn_reading_line("Xvfb", xvfb);
        self.set_env("DISPLAY", &format!(":{display}"));

        let mut watcher = Command::new("status-notifier-watcher");
        self.apply_env(&mut watcher);
        self.spawn("watcher", watcher);
        wait_until(
            Duration::from_secs(20),
            "the StatusNotifier watcher",
            || {
                self.gdbus_property(
                    "org.kde.StatusNotifierWatcher",
                    "/StatusNotifierWatcher",
                    "org.kde.StatusNotifierWatcher",
                    "ProtocolVersion",
                )
                .is_some()
            },
        );
        let mut host = Command::new("gtk-sni-tray-standalone");
        host.args(["--top", "--size", "48", "--color", "white"]);
        self.apply_env(&mut host);
        self.spawn("host", host);
        wait_until(Duration::from_secs(20), "the tray host", || {
            self.gdbus_property(
                "org.kde.StatusNotifierWatcher",
                "/StatusNotifierWatcher",
                "org.kde.StatusNotifierWatcher",
                "IsStatusNotifierHostRegistered",
            )
            .is_some_and(|v| v.contains("true"))
        });
    }

    fn spawn_reading_line(&mut self, name: &str, mut command: Command) -> String {
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{name} wrote nothing: {e}"));
        self.children.borrow_mut().push((name.to_owned(), child));
        assert!(!line.trim().is_empty(), "{name} wrote an empty line");
        line.trim().to_owned()
    }

    /// A D-Bus property on the session bus, as `gdbus` prints it, or `None` when it cannot be
    /// read.
    pub fn gdbus_property(
        &self,
        dest: &str,
        path: &str,
        iface: &str,
        name: &str,
    ) -> Option<String> {
        self.gdbus(&[
            "--dest",
            dest,
            "--object-path",
            path,
            "--method",
            "org.freedesktop.DBus.Properties.Get",
            iface,
            name,
        ])
    }

    /// `gdbus call --session ARGS...` on the session bus; its output, or `None` on failure.
    pub fn gdbus(&self, args: &[&str]) -> Option<String> {
        let mut command = Command::new("gdbus");
        command.args(["call", "--session"]).args(args);
        self.apply_env(&mut command);
        // gdbus prints non-ASCII text as `?` unless the locale is UTF-8 (and available).
        command.env("LC_ALL", "C.UTF-8");
        let out = command.output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A PNG screenshot of the whole X display, when ImageMagick's `import` is installed.
    pub fn screenshot(&self, file: &Path) -> bool {
        let mut command = Command::new("import");
        command.args(["-window", "root"]).arg(file);
        self.apply_env(&mut command);
        command.output().is_ok_and(|o| o.status.success())
    }
}

impl Drop for UserSession {
    fn drop(&mut self) {
        // A daemon a client autostarted is not our child: stop it by its lock file's PID,
        // only if it is card-agent serving from this session.
        if let Some(pid) = self.daemon_pid() {
            let ours = self.children.borrow().iter().any(|(_, c)| c.id() == pid);
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let runtime = format!("XDG_RUNTIME_DIR={}", self.dir.path().join("run").display());
            let is_our_daemon = String::from_utf8_lossy(&cmdline).contains("serve")
                && environ
                    .split(|b| *b == 0)
                    .any(|kv| kv == runtime.as_bytes());
            if !ours && is_our_daemon {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
        // Last started, first stopped: clients before the daemon, the desktop last.
        while let Some((_, mut child)) = self.children.borrow_mut().pop() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `ready` every 50 ms until it holds, or panics naming `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Writes one frame: a native-endian u32 length, then the payload.
pub fn write_frame(stream: &mut impl Write, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("frame length");
    stream.write_all(&len.to_ne_bytes()).expect("write length");
    stream.write_all(payload).expect("write payload");
}

/// Reads one frame's payload.
pub fn read_frame(stream: &mut impl Read) -> Vec<u8> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("read length");
    let mut payload = vec![0u8; u32::from_ne_bytes(len) as usize];
    stream.read_exact(&mut payload).expect("read payload");
    payload
}
