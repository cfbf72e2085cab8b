//! pcscd for the tests: reuse the one that runs, or start one that outlives the test process.
//!
//! ```no_run
//! card_agent_testbed::pcscd::ensure_pcscd().expect("pcscd with vpcd");
//! let _readers = card_agent_testbed::pcscd::lock_virtual_readers().expect("vpcd lock");
//! // ... insert virtual cards, call card_agent::reader ...
//! ```

use std::fs::{File, OpenOptions};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Where pcscd listens unless `PCSCLITE_CSOCK_NAME` says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/pcscd/pcscd.comm";

/// Prefix of the names of the readers the vpcd driver adds.
pub const VIRTUAL_READER_PREFIX: &str = "Virtual PCD";

/// How long to wait for pcscd to answer and for its vpcd readers to appear.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const START_POLL: Duration = Duration::from_millis(50);

/// The socket PC/SC clients use: `$PCSCLITE_CSOCK_NAME` (read by libpcsclite) or the default.
pub fn socket_path() -> PathBuf {
    std::env::var_os("PCSCLITE_CSOCK_NAME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Whether something accepts connections on the pcscd socket.
pub fn is_running() -> bool {
    UnixStream::connect(socket_path()).is_ok()
}

/// The debug log of a pcscd started by [`ensure_pcscd`].
pub fn log_path() -> PathBuf {
    std::env::temp_dir().join("card-agent-pcscd.log")
}

/// Makes sure pcscd runs and shows the vpcd readers.
///
/// Reuses a running pcscd (another test process may have started it). Otherwise starts
/// `pcscd -f -d`, logging to [`log_path`], and leaves it running for later tests. Safe to call
/// from many tests and threads at once. Fails with a readable reason when pcscd cannot be
/// started or answers without any "Virtual PCD" reader (vpcd driver missing).
pub fn ensure_pcscd() -> Result<(), String> {
    static STARTING: Mutex<()> = Mutex::new(());
    let _guard = STARTING.lock().unwrap_or_else(PoisonError::into_inner);
    if !is_running() {
        start()?;
    }
    wait_for_virtual_readers()
}

/// `pcscd`, to be started by a test: on the real clock, since it is the machine's service and
/// outlives the test that starts it (see [`crate::clock`]).
pub fn command() -> Command {
    let mut command = Command::new("pcscd");
    crate::clock::real_clock(&mut command);
    command
}

fn start() -> Result<(), String> {
    let log = File::create(log_path())
        .map_err(|e| format!("cannot create {}: {e}", log_path().display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot share the log file: {e}"))?;
    let mut child = command()
        .args(["-f", "-d"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("cannot run pcscd (is the pcscd package installed?): {e}"))?;
    let deadline = Instant::now() + START_TIMEOUT;
    while !is_running() {
        // pcscd refuses to start when another one won the race; that one will answer.
        if let Ok(Some(status)) = child.try_wait() {
            if !status.success() && !is_running() {
                return Err(format!(
                    "pcscd exited with {status}; see {}:\n{}",
                    log_path().display(),
                    log_tail()
                ));
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "pcscd did not answer on {} within {START_TIMEOUT:?}; see {}",
                socket_path().display(),
                log_path().display()
            ));
        }
        thread::sleep(START_POLL);
    }
    // The child is left running on purpose: later tests and test processes reuse it.
    drop(child);
    Ok(())
}

fn wait_for_virtual_readers() -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let readers = card_agent::reader::list().map_err(|e| e.to_string())?;
        if readers
            .iter()
            .any(|r| r.name.starts_with(VIRTUAL_READER_PREFIX))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            let names: Vec<_> = readers.iter().map(|r| r.name.as_str()).collect();
            return Err(format!(
                "pcscd runs but shows no \"{VIRTUAL_READER_PREFIX}\" reader (readers: {names:?}): \
                 install the vpcd driver (Debian package vsmartcard-vpcd, which adds \
                 /etc/reader.conf.d/vpcd) and restart pcscd"
            ));
        }
        thread::sleep(START_POLL);
    }
}

fn log_tail() -> String {
    let text = std::fs::read_to_string(log_path()).unwrap_or_default();
    let lines: Vec<_> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Exclusive use of the vpcd readers, across threads and test processes, until dropped.
///
/// The two virtual readers belong to the whole machine: two test runs inserting cards at once
/// would see each other's cards (vpcd even queues a second card behind the first).
#[derive(Debug)]
pub struct VirtualReadersLock {
    _file: File,
    _thread: MutexGuard<'static, ()>,
}

/// Waits for exclusive use of the vpcd readers (a lock file in the system temp dir).
pub fn lock_virtual_readers() -> Result<VirtualReadersLock, String> {
    // flock is per open file, so threads of one process would exclude each other too; the
    // mutex makes that explicit and keeps the wait inside one process cheap.
    static IN_PROCESS: Mutex<()> = Mutex::new(());
    let thread = IN_PROCESS.lock().unwrap_or_else(PoisonError::into_inner);
    let path = std::env::temp_dir().join("card-agent-vpcd.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.lock()
        .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    Ok(VirtualReadersLock {
        _file: file,
        _thread: thread,
    })
}

/// Where pcscd writes its PID.
const PID_FILE: &str = "/run/pcscd/pcscd.pid";

/// Stops the running pcscd (SIGTERM to the PID in its PID file, checked to be a pcscd) and
/// waits until its socket no longer answers. Only with the vpcd readers locked (`_readers`):
/// every reader goes away with it. Whoever stops it starts it again with [`ensure_pcscd`]
/// while still holding the lock, so the next test finds pcscd with its readers.
pub fn stop(_readers: &VirtualReadersLock) -> Result<(), String> {
    let pid = std::fs::read_to_string(PID_FILE)
        .map_err(|e| format!("{PID_FILE}: {e}"))?
        // pcscd writes the PID, a newline and a NUL.
        .trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .to_owned();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "pcscd" {
        return Err(format!(
            "{PID_FILE} names process {pid} ({:?}), which is not pcscd",
            comm.trim()
        ));
    }
    let raw: i32 = pid.parse().map_err(|_| format!("bad PID {pid:?}"))?;
    let target = rustix::process::Pid::from_raw(raw).ok_or(format!("bad PID {pid:?}"))?;
    rustix::process::kill_process(target, rustix::process::Signal::TERM)
        .map_err(|e| format!("kill pcscd {pid}: {e}"))?;
    let deadline = Instant::now() + START_TIMEOUT;
    // Gone when its /proc entry is (or is a zombie of the test process that started it).
    while is_running() || process_alive(&pid) {
        if Instant::now() > deadline {
            return Err(format!(
                "pcscd {pid} still runs {START_TIMEOUT:?} after SIGTERM"
            ));
        }
        thread::sleep(START_POLL);
    }
    Ok(())
}

fn process_alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    !stat.is_empty() && !matches!(state, Some('Z' | 'X'))
}
