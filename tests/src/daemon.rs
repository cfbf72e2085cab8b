//! The real daemon (`card-agent serve`) and native host (`card-agent native-host`) in an
//! isolated environment, for tests that speak the framed protocol to them.
//!
//! A [`Sandbox`] is one user's world in a temporary directory: `XDG_RUNTIME_DIR` (where the
//! daemon's socket and lock live), `XDG_STATE_HOME` (the approved sites), `XDG_CONFIG_HOME`,
//! `HOME`, an optional config file, and a directory of logs. Every process it starts gets a
//! cleared environment with only these variables (plus `PATH`, the PC/SC socket variable if set,
//! `LANG=en_US.UTF-8` and `RUST_LOG=debug`), so nothing touches the real user's files and no
//! variable from the test runner leaks in.
//!
//! ```no_run
//! use card_agent_testbed::daemon::Sandbox;
//! let mut sandbox = Sandbox::new();
//! sandbox.config("trusted_sites = [\"https://*.example.gov.tw\"]\n");
//! let _daemon = sandbox.serve(&["--demo"]);
//! let mut host = sandbox.host();
//! let reply = host.call("version", serde_json::json!({}));
//! assert_eq!(reply["result"]["protocol"], 1);
//! ```
//!
//! Logs: the daemon's and the hosts' stderr (at `RUST_LOG=debug`) and the fake pinentry's
//! command log all go to the sandbox's log directory. Every PIN a test sends in a request or
//! gives the fake pinentry is remembered, and when the sandbox is dropped (after its daemons and
//! hosts stopped) it fails the test if any log contains one of them.
//!
//! Waiting: readiness is the daemon's "listening on" line on stderr, responses are frames on the
//! host's stdout; each wait is bounded by [`HANG_GUARD`], a guard against hangs and never a
//! performance assertion.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::agent::agent_bin;

/// How long any single wait may take before the test is declared hung. Longer than any
/// wait a test arranges on purpose (a slow user: 32 s).
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// The origin Chrome passes for card-agent's development extension.
pub fn chrome_caller() -> String {
    format!(
        "chrome-extension://{}/",
        card_agent::native_host::DEV_EXTENSION_ID
    )
}

/// The scripted pinentry (`tests/src/bin/fake-pinentry.rs`), built beside `card-agent`.
pub fn fake_pinentry_bin() -> PathBuf {
    let bin = agent_bin().with_file_name(format!("fake-pinentry{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --workspace --all-targets` first",
        bin.display()
    );
    bin
}

/// PINs the sandbox must never find in a log.
type Secrets = Arc<Mutex<Vec<String>>>;

/// One user's isolated environment for the daemon and the native host.
pub struct Sandbox {
    root: tempfile::TempDir,
    env: BTreeMap<OsString, OsString>,
    secrets: Secrets,
    processes: Arc<AtomicUsize>,
    /// Set when [`Sandbox::watch_pinentry`] runs a FIFO reader, to end it.
    watch_stop: Option<Arc<AtomicBool>>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A fresh environment: empty runtime, state, config and home directories, no config file.
    pub fn new() -> Sandbox {
        let root = tempfile::tempdir().expect("temporary directory");
        for dir in ["run", "state", "config", "data", "cache", "home", "logs"] {
            std::fs::create_dir(root.path().join(dir)).expect("sandbox directory");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // XDG_RUNTIME_DIR must be private, as on a real session.
            std::fs::set_permissions(
                root.path().join("run"),
                std::fs::Permissions::from_mode(0o700),
            )
            .expect("chmod runtime dir");
        }
        let mut env = BTreeMap::new();
        for var in ["PATH", "PCSCLITE_CSOCK_NAME"] {
            if let Some(value) = std::env::var_os(var) {
                env.insert(var.into(), value);
            }
        }
        let p = root.path();
        for (var, dir) in [
            ("XDG_RUNTIME_DIR", "run"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_CACHE_HOME", "cache"),
            ("HOME", "home"),
        ] {
            env.insert(var.into(), p.join(dir).into_os_string());
        }
        env.insert("LANG".into(), "en_US.UTF-8".into());
        env.insert("RUST_LOG".into(), "debug".into());
        env.insert(
            "FAKE_PINENTRY_LOG".into(),
            p.join("logs").join("pinentry.log").into_os_string(),
        );
        // Read by the fake pinentry at every start: what the "user" types (Host::call_typing).
        env.insert(
            "FAKE_PINENTRY_CONTROL".into(),
            p.join("pinentry.control").into_os_string(),
        );
        // Outside the logs: a PID may look like a PIN to the leak check.
        env.insert(
            "FAKE_PINENTRY_PIDS".into(),
            p.join("pinentry.pids").into_os_string(),
        );
        let sandbox = Sandbox {
            root,
            env,
            secrets: Arc::default(),
            processes: Arc::default(),
            watch_stop: None,
        };
        sandbox.secret(card_agent::demo::DEMO_PIN);
        sandbox.secret(crate::softhsm::USER_PIN);
        sandbox
    }

    /// Sets a variable for every process started from now on. `FAKE_PINENTRY_PIN` is also
    /// remembered as a secret.
    pub fn set_env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        if key.as_ref() == "FAKE_PINENTRY_PIN" {
            self.secret(&value.as_ref().to_string_lossy());
        }
        self.env
            .insert(key.as_ref().to_owned(), value.as_ref().to_owned());
        self
    }

    /// Removes a variable for every process started from now on.
    pub fn remove_env(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.remove(key.as_ref());
        self
    }

    /// Writes the config file and points `CARD_AGENT_CONFIG` at it. Unless `toml` sets
    /// `pinentry` itself, the fake pinentry is configured, so no real dialog program on the
    /// machine is ever started.
    pub fn config(&mut self, toml: &str) -> &mut Self {
        let mut text = toml.to_owned();
        let sets_pinentry = toml
            .lines()
            .any(|l| l.split('=').next().map(str::trim) == Some("pinentry"));
        if !sets_pinentry {
            text.push_str(&format!(
                "\npinentry = {}\n",
                toml_string(&fake_pinentry_bin().to_string_lossy())
            ));
        }
        let path = self.root.path().join("config.toml");
        std::fs::write(&path, text).expect("write config");
        self.set_env("CARD_AGENT_CONFIG", &path)
    }

    /// Serves `hsm`'s token: `CARD_AGENT_PKCS11_MODULE` and `SOFTHSM2_CONF`.
    pub fn softhsm(&mut self, hsm: &crate::softhsm::SoftHsm) -> &mut Self {
        self.set_env("CARD_AGENT_PKCS11_MODULE", crate::softhsm::SOFTHSM_MODULE);
        self.set_env("SOFTHSM2_CONF", hsm.conf())
    }

    /// Remembers `pin` as a secret no log may contain. PINs sent through a [`Host`] are
    /// remembered by themselves.
    pub fn secret(&self, pin: &str) {
        remember(&self.secrets, pin);
    }

    /// The sandbox's root directory.
    pub fn dir(&self) -> &Path {
        self.root.path()
    }

    /// `$XDG_RUNTIME_DIR/card-agent`.
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.path().join("run").join("card-agent")
    }

    /// The daemon's socket.
    pub fn socket(&self) -> PathBuf {
        self.runtime_dir().join("agent.sock")
    }

    /// The one-daemon lock file (it holds the running daemon's PID).
    pub fn lock_file(&self) -> PathBuf {
        self.runtime_dir().join("agent.lock")
    }

    /// The user's approved sites.
    pub fn approvals_file(&self) -> PathBuf {
        self.root
            .path()
            .join("state")
            .join("card-agent")
            .join("trusted-sites.json")
    }

    /// The directory of logs.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.path().join("logs")
    }

    /// What the fake pinentry received so far (empty when it never ran).
    pub fn pinentry_log(&self) -> String {
        std::fs::read_to_string(self.logs_dir().join("pinentry.log")).unwrap_or_default()
    }

    /// Fake pinentry processes started in this sandbox that are still running (zombies
    /// count as gone).
    pub fn live_pinentries(&self) -> Vec<String> {
        let pids =
            std::fs::read_to_string(self.root.path().join("pinentry.pids")).unwrap_or_default();
        pids.lines()
            .filter(|pid| {
                // /proc/PID/stat: "pid (comm) state ..."; the PID may be reused, so the name
                // must match too.
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                    return false;
                };
                let state = stat[close + 1..].trim_start().chars().next();
                &stat[open + 1..close] == "fake-pinentry" && !matches!(state, Some('Z' | 'X'))
            })
            .map(str::to_owned)
            .collect()
    }

    /// Streams what the fake pinentry logs as it happens, for tests that must act while a
    /// dialog is open. The log becomes a FIFO read by a thread, which also copies every line to
    /// the log file, so [`Sandbox::pinentry_log`] and the PIN check still see everything. Call
    /// before starting the daemon.
    pub fn watch_pinentry(&mut self) -> PinentryWatch {
        let fifo = self.root.path().join("pinentry.fifo");
        let made = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo {}", fifo.display());
        self.set_env("FAKE_PINENTRY_LOG", &fifo);
        let stop = Arc::new(AtomicBool::new(false));
        self.watch_stop = Some(stop.clone());
        let copy = self.logs_dir().join("pinentry.log");
        let (tx, lines) = mpsc::channel();
        // Opened for reading and writing: the FIFO then always has a reader (the program's
        // opens never block) and never reports an end of file between the program's lines.
        // Reopening after each end of file would lose a line written between the end of file
        // and the reopening.
        let reader = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .expect("open the FIFO");
        thread::spawn(move || {
            let mut log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(copy)
                .expect("pinentry log copy");
            for line in BufReader::new(reader).lines() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                let _ = tx.send(line);
            }
        });
        PinentryWatch { lines, fifo }
    }

    /// `card-agent` with `args` and this sandbox's environment (only).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(agent_bin());
        c.args(args).env_clear().envs(&self.env);
        c
    }

    fn log_path(&self, what: &str) -> PathBuf {
        let n = self.processes.fetch_add(1, Ordering::SeqCst);
        self.logs_dir().join(format!("{n:02}-{what}.stderr"))
    }

    /// Starts `card-agent serve ARGS` and waits until it listens. Panics with its log if it
    /// exits or does not get ready.
    pub fn serve(&self, args: &[&str]) -> Daemon {
        match self.try_serve(args) {
            Ok(daemon) => daemon,
            Err(failed) => panic!(
                "card-agent serve {args:?} exited with {} before listening:\n{}",
                failed.status, failed.stderr
            ),
        }
    }

    /// Starts `card-agent serve ARGS`; `Err` when it exits before listening.
    pub fn try_serve(&self, args: &[&str]) -> Result<Daemon, Failed> {
        Daemon::start(self, args)
    }

    /// Starts the native host as Chrome does for card-agent's extension.
    pub fn host(&self) -> Host {
        self.host_as(&[&chrome_caller()])
    }

    /// Starts the native host with the browser's arguments `caller`.
    pub fn host_as(&self, caller: &[&str]) -> Host {
        Host::start(self, caller)
    }

    /// Every log file and its text.
    pub fn logs(&self) -> Vec<(PathBuf, String)> {
        let mut logs: Vec<_> = std::fs::read_dir(self.logs_dir())
            .expect("logs dir")
            .map(|e| e.expect("log entry").path())
            .map(|p| {
                let text =
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
                (p, text)
            })
            .collect();
        logs.sort();
        logs
    }

    /// Fails if any log contains one of the remembered PINs (as a whole token: not inside a
    /// longer run of letters and digits, such as a certificate serial number), or shows that
    /// the fake pinentry was sent its own PIN back.
    pub fn assert_no_pin_in_logs(&self) {
        let secrets = self
            .secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (path, text) in self.logs() {
            // What the fake pinentry writes instead of a PIN it was sent.
            assert!(
                !text.contains("<redacted-pin>"),
                "the PIN was sent to the dialog program: {}",
                path.display()
            );
            for pin in &secrets {
                if let Some(at) = find_token(&text, pin) {
                    let from = text[..at].rfind('\n').map_or(0, |i| i + 1);
                    let to = text[at..].find('\n').map_or(text.len(), |i| at + i);
                    panic!("a PIN appears in {}:\n{}", path.display(), &text[from..to]);
                }
            }
        }
    }

    /// Stops a daemon that is not a child of this test (one the native host autostarted): the
    /// PID in the lock file gets SIGTERM, then the lock is waited for. Returns whether one ran.
    pub fn stop_foreign_daemon(&self) -> bool {
        let Ok(mut file) = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.lock_file())
        else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => return false,
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => panic!("lock file: {e}"),
        }
        let mut pid = String::new();
        file.read_to_string(&mut pid).expect("read lock file");
        let pid = pid.trim().to_owned();
        assert!(
            !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()),
            "the lock file holds {pid:?}, not a PID"
        );
        signal(&pid, "TERM");
        // The lock goes when the process does: block on it, bounded.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(file.lock());
        });
        if rx.recv_timeout(HANG_GUARD).is_err() {
            signal(&pid, "KILL");
            panic!("daemon {pid} did not stop on SIGTERM");
        }
        true
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let stopped =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.stop_foreign_daemon()));
        // A dialog left behind by a failed test would sleep forever.
        for pid in self.live_pinentries() {
            signal(&pid, "KILL");
        }
        if let Some(stop) = self.watch_stop.take() {
            stop.store(true, Ordering::SeqCst);
            // An empty line wakes the reader, which then sees the flag. If the reader is gone
            // the open would wait for one, so do not wait here.
            let fifo = self.root.path().join("pinentry.fifo");
            thread::spawn(move || {
                if let Ok(mut f) = OpenOptions::new().write(true).open(fifo) {
                    let _ = f.write_all(b"\n");
                }
            });
        }
        if thread::panicking() {
            // The test failed: its logs are the best clue, and the directory goes next.
            for (path, text) in self.logs() {
                eprintln!("----- {} -----\n{text}", path.display());
            }
            return;
        }
        if let Err(panic) = stopped {
            std::panic::resume_unwind(panic);
        }
        self.assert_no_pin_in_logs();
    }
}

/// The fake pinentry's log lines as they are written; see [`Sandbox::watch_pinentry`].
pub struct PinentryWatch {
    lines: Receiver<String>,
    fifo: PathBuf,
}

impl PinentryWatch {
    /// Waits for the next line starting with `verb` (e.g. `GETPIN`: the dialog is on screen)
    /// and returns it. Panics after [`HANG_GUARD`].
    pub fn wait_for(&self, verb: &str) -> String {
        loop {
            match self.lines.recv_timeout(HANG_GUARD) {
                Ok(line) if line.split(' ').next() == Some(verb) => return line,
                Ok(_) => {}
                Err(e) => panic!(
                    "the fake pinentry ({}) logged no {verb} within {HANG_GUARD:?}: {e}",
                    self.fifo.display()
                ),
            }
        }
    }
}

fn remember(secrets: &Secrets, pin: &str) {
    if pin.is_empty() {
        return;
    }
    let mut list = secrets.lock().unwrap_or_else(PoisonError::into_inner);
    if !list.iter().any(|p| p == pin) {
        list.push(pin.to_owned());
    }
}

/// The first occurrence of `needle` not adjacent to another letter or digit.
fn find_token(haystack: &str, needle: &str) -> Option<usize> {
    let bytes = haystack.as_bytes();
    haystack.match_indices(needle).map(|(i, _)| i).find(|&i| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + needle.len()).copied();
        !before.is_some_and(|b| b.is_ascii_alphanumeric())
            && !after.is_some_and(|b| b.is_ascii_alphanumeric())
    })
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

/// Sends SIGTERM (`"TERM"`) or SIGKILL (`"KILL"`) to one process (never a group: PID 0 and
/// anything that is not a positive number are ignored).
fn signal(pid: &str, name: &str) {
    use rustix::process::{kill_process, Pid, Signal};
    let Some(pid) = pid.parse().ok().and_then(Pid::from_raw) else {
        return;
    };
    let signal = if name == "KILL" {
        Signal::KILL
    } else {
        Signal::TERM
    };
    // The process may be gone already, which is what the caller wants anyway.
    let _ = kill_process(pid, signal);
}

/// Waits until process `pid`, which need not be the test's child (a dialog the daemon
/// started, say), has ended: a pidfd becomes readable then, so nothing polls. Panics after
/// [`HANG_GUARD`].
#[cfg(target_os = "linux")]
pub fn wait_for_exit(pid: &str) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::process::{pidfd_open, Pid, PidfdFlags};
    let raw: i32 = pid.parse().expect("a PID");
    let fd = match pidfd_open(
        Pid::from_raw(raw).expect("a positive PID"),
        PidfdFlags::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return,
        Err(e) => panic!("pidfd_open({pid}): {e}"),
    };
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: HANG_GUARD.as_secs() as _,
        tv_nsec: 0,
    };
    let ready = poll(&mut fds, Some(&timeout)).expect("poll");
    assert!(ready > 0, "process {pid} still runs after {HANG_GUARD:?}");
}

/// Sends SIGKILL to `pid`, as a crash would (for tests of what survives one).
pub fn crash(pid: u32) {
    signal(&pid.to_string(), "KILL");
}

/// Waits for `child` at most [`HANG_GUARD`]; kills it and returns `None` when it does not exit.
fn wait_bounded(child: Child) -> (Option<ExitStatus>, Option<ExitStatus>) {
    let pid = child.id().to_string();
    let (tx, rx) = mpsc::channel();
    let mut child = child;
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(HANG_GUARD) {
        Ok(status) => (Some(status.expect("wait")), None),
        Err(_) => {
            signal(&pid, "KILL");
            let after = rx.recv_timeout(HANG_GUARD).ok().and_then(Result::ok);
            (None, after)
        }
    }
}

/// A `serve` that exited before listening.
#[derive(Debug)]
pub struct Failed {
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it wrote on stderr.
    pub stderr: String,
}

/// A running `card-agent serve`, stopped with SIGTERM when dropped.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
    copier: Option<Receiver<()>>,
    socket: PathBuf,
}

impl Daemon {
    fn start(sandbox: &Sandbox, args: &[&str]) -> Result<Daemon, Failed> {
        let log = sandbox.log_path("serve");
        let mut child = sandbox
            .command(&[&["serve"], args].concat())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn card-agent serve");
        let stderr = child.stderr.take().expect("stderr");
        let (ready_tx, ready) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let mut file = File::create(&log).expect("daemon log");
        // Copies stderr to the log, line by line, and says when the daemon listens.
        thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let _ = file.write_all(&line).and_then(|()| file.flush());
                        if String::from_utf8_lossy(&line).contains(" listening on ") {
                            let _ = ready_tx.send(());
                        }
                    }
                }
            }
            drop(ready_tx);
            let _ = done_tx.send(());
        });
        let mut daemon = Daemon {
            child: Some(child),
            log,
            copier: Some(done),
            socket: sandbox.socket(),
        };
        match ready.recv_timeout(HANG_GUARD) {
            Ok(()) => {
                assert!(
                    daemon.socket.exists(),
                    "the daemon said it listens but {} is missing",
                    daemon.socket.display()
                );
                Ok(daemon)
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = daemon.stop_now();
                Err(Failed {
                    status,
                    stderr: daemon.log(),
                })
            }
            Err(RecvTimeoutError::Timeout) => {
                daemon.stop_now();
                panic!(
                    "card-agent serve did not listen within {HANG_GUARD:?}:\n{}",
                    daemon.log()
                );
            }
        }
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM and returns how it exited. Panics if it does not exit.
    pub fn stop(mut self) -> ExitStatus {
        self.stop_now()
    }

    fn stop_now(&mut self) -> ExitStatus {
        let child = self.child.take().expect("daemon running");
        signal(&child.id().to_string(), "TERM");
        let (status, killed) = wait_bounded(child);
        // The log is complete once the copier saw the end of stderr.
        if let Some(done) = self.copier.take() {
            let _ = done.recv_timeout(HANG_GUARD);
        }
        match status {
            Some(status) => status,
            None => panic!(
                "the daemon did not exit on SIGTERM (killed: {killed:?}):\n{}",
                self.log()
            ),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            if thread::panicking() {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.stop_now();
                }));
            } else {
                self.stop_now();
            }
        }
    }
}

/// A running `card-agent native-host`: frames in on its stdin, frames out of its stdout.
pub struct Host {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    frames: Receiver<Vec<u8>>,
    /// Events that arrived while [`Host::call`] waited for its reply.
    events: VecDeque<Value>,
    secrets: Secrets,
    next_id: i64,
    origin: Option<String>,
    log: PathBuf,
    /// The fake pinentry's control file, for [`Host::call_typing`].
    pinentry_control: Option<PathBuf>,
}

impl Host {
    fn start(sandbox: &Sandbox, caller: &[&str]) -> Host {
        let log = sandbox.log_path("host");
        let mut child = sandbox
            .command(&[&["native-host"], caller].concat())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("host log"))
            .spawn()
            .expect("spawn card-agent native-host");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, frames) = mpsc::channel();
        // Native messaging frames: a 4-byte native-endian length, then the payload. The reader
        // ends (and the channel disconnects) at end of output.
        thread::spawn(move || loop {
            let mut length = [0u8; 4];
            if stdout.read_exact(&mut length).is_err() {
                break;
            }
            let mut payload = vec![0u8; u32::from_ne_bytes(length) as usize];
            if stdout.read_exact(&mut payload).is_err() {
                break;
            }
            if tx.send(payload).is_err() {
                break;
            }
        });
        Host {
            stdin: child.stdin.take(),
            child: Some(child),
            frames,
            events: VecDeque::new(),
            secrets: sandbox.secrets.clone(),
            next_id: 0,
            origin: Some("https://www.example.gov.tw".to_owned()),
            log,
            pinentry_control: sandbox
                .env
                .get(OsStr::new("FAKE_PINENTRY_CONTROL"))
                .map(PathBuf::from),
        }
    }

    /// The origin [`Host::call`] puts on requests (default `https://www.example.gov.tw`;
    /// `None` leaves it out).
    pub fn set_origin(&mut self, origin: Option<&str>) -> &mut Self {
        self.origin = origin.map(str::to_owned);
        self
    }

    /// Sends one message, framed. A `pin` argument is remembered as a secret.
    pub fn send(&mut self, message: &Value) {
        if let Some(pin) = message["arguments"]["pin"].as_str() {
            remember(&self.secrets, pin);
        }
        let payload = serde_json::to_vec(message).expect("JSON");
        self.send_frame(&payload);
    }

    /// Frames and sends arbitrary bytes.
    pub fn send_frame(&mut self, payload: &[u8]) {
        let mut frame = (payload.len() as u32).to_ne_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.send_raw(&frame).expect("write to the native host");
    }

    /// Writes bytes as they are, no framing.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes)?;
        stdin.flush()
    }

    /// The next frame as JSON; `None` when the host closed its output. Panics after
    /// [`HANG_GUARD`] without either.
    pub fn next_frame(&self) -> Option<Value> {
        match self.frames.recv_timeout(HANG_GUARD) {
            Ok(payload) => Some(serde_json::from_slice(&payload).unwrap_or_else(|e| {
                panic!(
                    "the host sent a frame that is not JSON ({e}): {}",
                    String::from_utf8_lossy(&payload)
                )
            })),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no frame from the native host within {HANG_GUARD:?}")
            }
        }
    }

    /// The next frame; panics if the host closed its output.
    pub fn recv(&self) -> Value {
        self.next_frame().unwrap_or_else(|| {
            panic!(
                "the native host closed its output; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )
        })
    }

    /// The next message id [`Host::call`] will use.
    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends `command` with `arguments` (and this host's origin) and returns the response,
    /// checking it answers this request's id.
    pub fn call(&mut self, command: &str, arguments: Value) -> Value {
        let origin = self.origin.clone();
        self.call_from(origin.as_deref(), command, arguments)
    }

    /// [`Host::call`] for a command that needs the PIN, which the user types in the agent's
    /// own dialog (the fake pinentry answers `pin`): a page never sends one.
    pub fn call_typing(&mut self, command: &str, arguments: Value, pin: &str) -> Value {
        let control = self
            .pinentry_control
            .clone()
            .expect("the sandbox's fake pinentry control file");
        remember(&self.secrets, pin);
        std::fs::write(&control, format!("pin={pin}\n")).expect("write the pinentry control");
        let reply = self.call(command, arguments);
        std::fs::remove_file(&control).expect("remove the pinentry control");
        reply
    }

    /// [`Host::call`] from another origin (`None`: without one).
    pub fn call_from(&mut self, origin: Option<&str>, command: &str, arguments: Value) -> Value {
        let id = self.next_id();
        let mut message = json!({"id": id, "command": command, "arguments": arguments});
        if let Some(origin) = origin {
            message["origin"] = origin.into();
        }
        self.send(&message);
        self.reply_to(id)
    }

    /// Waits for the response with `id`, keeping events that come first for
    /// [`Host::next_event`]. Panics on a response to another request.
    pub fn reply_to(&mut self, id: i64) -> Value {
        loop {
            let frame = self.recv();
            if frame.get("event").is_some() {
                self.events.push_back(frame);
                continue;
            }
            assert_eq!(frame["id"], id, "reply to another request: {frame}");
            return frame;
        }
    }

    /// The next pushed event (`{"event": {...}}`). Panics on a response instead.
    pub fn next_event(&mut self) -> Value {
        if let Some(event) = self.events.pop_front() {
            return event;
        }
        let frame = self.recv();
        assert!(frame.get("event").is_some(), "expected an event: {frame}");
        frame
    }

    /// Closes the host's stdin, as the browser does when the extension disconnects.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Closes stdin (if still open) and waits for the host to exit. Panics if it does not.
    pub fn wait(mut self) -> ExitStatus {
        self.close_stdin();
        self.wait_open()
    }

    /// Waits for the host to exit by itself, stdin left open. Panics if it does not.
    pub fn wait_open(mut self) -> ExitStatus {
        let child = self.child.take().expect("host running");
        match wait_bounded(child) {
            (Some(status), _) => status,
            (None, _) => panic!(
                "the native host did not exit within {HANG_GUARD:?}; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            ),
        }
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stdin.take();
        if let Some(child) = self.child.take() {
            wait_bounded(child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::find_token;

    #[test]
    fn pins_are_found_as_tokens_only() {
        assert_eq!(find_token("pin=123456 ok", "123456"), Some(4));
        assert_eq!(find_token("\"123456\"", "123456"), Some(1));
        assert_eq!(find_token("123456", "123456"), Some(0));
        assert_eq!(find_token("serial 0000000012345678", "123456"), None);
        assert_eq!(find_token("at .123456Z", "123456"), None);
        assert_eq!(find_token("x0123456 123456", "123456"), Some(9));
    }
}
