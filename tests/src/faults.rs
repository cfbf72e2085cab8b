//! Leak and fault helpers for the fault-injection tests: a process's open file descriptors
//! (Linux `/proc/<pid>/fd`), and the PKCS#11 calls a daemon made, seen through OpenSC's
//! `pkcs11-spy` (sessions opened and closed, logins).
//!
//! Why a spy: PKCS#11 sessions live inside the process that opened them, so no other process
//! (the test) can count the daemon's. `pkcs11-spy.so` is a real PKCS#11 module that forwards
//! every call to the real one (`PKCS11SPY`) and writes each call and its result to a file
//! (`PKCS11SPY_OUTPUT`): the daemon loads the spy as its module and the test reads the file.
//! The spy writes the PIN of every `C_Login` into that file, so it lives beside the sandbox's
//! logs, never in them, and goes with the sandbox's temporary directory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::daemon::{Sandbox, HANG_GUARD};

/// OpenSC's PKCS#11 spy module (Debian package opensc-pkcs11, pulled in by opensc), in this
/// machine's multiarch library directory.
pub fn pkcs11_spy() -> PathBuf {
    PathBuf::from(format!(
        "/usr/lib/{}-linux-gnu/pkcs11-spy.so",
        std::env::consts::ARCH
    ))
}

/// The targets of `pid`'s open file descriptors (`socket:[123]`, `/dev/null`, ...), sorted.
pub fn open_fds(pid: u32) -> Vec<String> {
    let dir = format!("/proc/{pid}/fd");
    let mut fds: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.display().to_string())
        .collect();
    fds.sort();
    fds
}

/// Waits until `pid` has at most `baseline` open file descriptors (connections close a moment
/// after their clients leave). Panics with the descriptors over the baseline after
/// [`HANG_GUARD`]; never a timing assertion, only a guard.
pub fn assert_fds_return_to(pid: u32, baseline: &[String], what: &str) {
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let now = open_fds(pid);
        if now.len() <= baseline.len() {
            return;
        }
        if Instant::now() > deadline {
            let mut extra = now.clone();
            for b in baseline {
                if let Some(at) = extra.iter().position(|e| e == b) {
                    extra.remove(at);
                }
            }
            panic!(
                "{what}: the daemon holds {} file descriptors, {} at the baseline; extra: {extra:?}",
                now.len(),
                baseline.len()
            );
        }
        // Nothing to block on: the descriptors belong to another process.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A daemon's PKCS#11 calls, through `pkcs11-spy` in front of `module`.
#[derive(Debug, Clone)]
pub struct Spy {
    log: PathBuf,
}

/// What the spy saw, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpyCounts {
    /// `C_OpenSession` calls that returned a session.
    pub sessions_opened: usize,
    /// `C_CloseSession` calls (and sessions closed by `C_CloseAllSessions`, counted as one
    /// each; card-agent never calls it).
    pub sessions_closed: usize,
    /// `C_Login` calls (each one a PIN presented to the token).
    pub logins: usize,
    /// `C_Login` calls the token refused.
    pub logins_refused: usize,
}

impl SpyCounts {
    /// Sessions opened and not closed.
    pub fn open_sessions(&self) -> isize {
        self.sessions_opened as isize - self.sessions_closed as isize
    }
}

impl Spy {
    /// Makes every process the sandbox starts from now on load the spy in front of `module`
    /// (`CARD_AGENT_PKCS11_MODULE`), logging to a file in the sandbox, outside its logs.
    pub fn install(sandbox: &mut Sandbox, module: &str) -> Spy {
        let spy = pkcs11_spy();
        assert!(
            spy.exists(),
            "{} not found: install the opensc-pkcs11 package",
            spy.display()
        );
        let log = sandbox.dir().join("pkcs11-spy.txt");
        sandbox
            .set_env("CARD_AGENT_PKCS11_MODULE", &spy)
            .set_env("PKCS11SPY", module)
            .set_env("PKCS11SPY_OUTPUT", &log);
        Spy { log }
    }

    /// Counts the calls so far. The spy prints a call's name when it starts and its outputs
    /// and result when it returns, so calls from several threads may interleave; the counts
    /// use only lines that belong to one call whatever the interleaving: the call's name line
    /// (`12: C_Login`), `[out] *phSession = ...` (only C_OpenSession prints it, on success)
    /// and, for refused logins, the `Returned:` line right after a C_Login's input (the daemon
    /// logs in one token at a time).
    pub fn counts(&self) -> SpyCounts {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut counts = SpyCounts::default();
        let mut in_login = false;
        for line in text.lines() {
            let call = line
                .split_once(": ")
                .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .map(|(_, name)| name.trim());
            if let Some(name) = call {
                in_login = name == "C_Login";
                match name {
                    "C_CloseSession" => counts.sessions_closed += 1,
                    "C_Login" => counts.logins += 1,
                    _ => {}
                }
                continue;
            }
            if line.starts_with("[out] *phSession = ") {
                counts.sessions_opened += 1;
            }
            if in_login && line.starts_with("Returned:") {
                in_login = false;
                if !line.contains("CKR_OK") && !line.contains("CKR_USER_ALREADY_LOGGED_IN") {
                    counts.logins_refused += 1;
                }
            }
        }
        counts
    }

    /// The most sessions ever open at once, following the log in order: one means the daemon
    /// never ran two operations on the token together. (An open is counted when it returns,
    /// a close when it starts, so overlap can only be under-counted across calls that the
    /// daemon itself serialises, which is what this checks.)
    pub fn max_open_sessions(&self) -> usize {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let (mut open, mut max) = (0isize, 0isize);
        for line in text.lines() {
            if line.starts_with("[out] *phSession = ") {
                open += 1;
                max = max.max(open);
            } else if line.split_once(": ").is_some_and(|(n, name)| {
                n.bytes().all(|b| b.is_ascii_digit()) && name.trim() == "C_CloseSession"
            }) {
                open -= 1;
            }
        }
        max.max(0) as usize
    }

    /// Waits until no session is open (the daemon closes each when its operation ends) and
    /// returns the counts. Panics after [`HANG_GUARD`] with the counts.
    pub fn assert_no_open_session(&self, what: &str) -> SpyCounts {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            let counts = self.counts();
            if counts.open_sessions() == 0 {
                return counts;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: PKCS#11 sessions left open: {counts:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
