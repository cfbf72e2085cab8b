//! The daemon's local endpoint: where it listens, who may connect, and the one-daemon-per-user
//! rule.
//!
//! On Unix the endpoint is `$XDG_RUNTIME_DIR/card-agent/agent.sock` (directory 0700, socket
//! 0600). Without `XDG_RUNTIME_DIR` (root on a machine without systemd, for instance) it falls
//! back to `/tmp/card-agent-<uid>/`, checked to be ours and private. Every connection's peer
//! uid is checked with SO_PEERCRED: file modes already keep other users out, and the check makes
//! that true even if the directory's mode is later loosened by hand.
//!
//! One daemon per user: `agent.lock` beside the socket is held with an exclusive file lock for
//! the daemon's life. The lock, not the socket, decides, so two daemons started at once cannot
//! both win, and a socket left by a crashed daemon is simply replaced.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// The local endpoint's paths.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The private directory holding the socket and the lock.
    pub dir: PathBuf,
    /// The socket (or, on Windows, the pipe name).
    pub socket: PathBuf,
    lock: PathBuf,
}

/// Held for the daemon's life; dropping it releases the one-daemon lock.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl Endpoint {
    /// The endpoint for the current user.
    pub fn for_current_user() -> Self {
        let dir = runtime_dir();
        #[cfg(unix)]
        let socket = dir.join("agent.sock");
        #[cfg(windows)]
        let socket = PathBuf::from(pipe_name());
        Endpoint {
            socket,
            lock: dir.join("agent.lock"),
            dir,
        }
    }

    /// Takes the one-daemon lock, creating the private directory first. Fails with a clear
    /// message naming the running daemon's PID when another daemon holds it.
    pub fn lock_instance(&self) -> Result<InstanceLock> {
        self.prepare_dir()?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock)
            .map_err(|e| Error::io(self.lock.display(), e))?;
        match file.try_lock() {
            Ok(()) => {
                use std::io::{Seek, Write};
                file.set_len(0)
                    .map_err(|e| Error::io(self.lock.display(), e))?;
                let _ = file.seek(std::io::SeekFrom::Start(0));
                let _ = write!(file, "{}", std::process::id());
                Ok(InstanceLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                Err(Error::AlreadyRunning {
                    pid: pid.trim().to_owned(),
                    socket: self.socket.display().to_string(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(self.lock.display(), e)),
        }
    }

    /// Creates the directory private to the user, or checks an existing one is.
    #[cfg(unix)]
    fn prepare_dir(&self) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let io = |e| Error::io(self.dir.display(), e);
        if !self.dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)
                .map_err(io)?;
        }
        let meta = std::fs::symlink_metadata(&self.dir).map_err(io)?;
        if !meta.is_dir() || meta.uid() != current_uid() {
            return Err(Error::Internal(format!(
                "{} is not a directory owned by you; remove it and start again",
                self.dir.display()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io)?;
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn prepare_dir(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(self.dir.display(), e))
    }
}

/// The per-user runtime directory for card-agent.
#[cfg(unix)]
fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Path::new(&dir).join("card-agent"),
        None => std::env::temp_dir().join(format!("card-agent-{}", current_uid())),
    }
}

/// The per-user runtime directory for card-agent (the lock file lives here; the pipe is named
/// after the user).
#[cfg(not(unix))]
fn runtime_dir() -> PathBuf {
    directories::ProjectDirs::from("tw", "card-agent", "card-agent")
        .map(|d| d.data_local_dir().join("run"))
        .unwrap_or_else(|| std::env::temp_dir().join("card-agent"))
}

/// The current user's uid.
#[cfg(unix)]
pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Whether the peer of a Unix stream runs as the current user (SO_PEERCRED).
#[cfg(unix)]
pub fn peer_is_current_user(stream: &tokio::net::UnixStream) -> bool {
    stream
        .peer_cred()
        .map(|c| c.uid() == current_uid())
        .unwrap_or(false)
}

/// The named pipe of the current user's daemon. Windows names pipes globally, so the user name
/// is part of it; `first_pipe_instance` in [`bind`] stops another process from squatting it.
#[cfg(windows)]
pub fn pipe_name() -> String {
    let user: String = std::env::var("USERNAME")
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!(r"\\.\pipe\card-agent-{user}")
}

/// Creates the first instance of the daemon's named pipe. Remote clients are refused.
///
/// Not yet done on Windows: checking the client's user. The pipe's default ACL already limits
/// writers to the creator, administrators and SYSTEM; verifying the peer's SID needs Windows
/// FFI, which this crate's `forbid(unsafe_code)` keeps out until a maintained crate does it.
#[cfg(windows)]
pub fn bind(
    endpoint: &Endpoint,
    _lock: &InstanceLock,
) -> Result<tokio::net::windows::named_pipe::NamedPipeServer> {
    tokio::net::windows::named_pipe::ServerOptions::new()
        .first_pipe_instance(true)
        .reject_remote_clients(true)
        .create(&endpoint.socket)
        .map_err(|e| Error::io(endpoint.socket.display(), e))
}

/// Binds the listening socket, replacing a stale one (the instance lock proves nobody uses it),
/// and makes it 0600.
#[cfg(unix)]
pub fn bind(endpoint: &Endpoint, _lock: &InstanceLock) -> Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let io = |e| Error::io(endpoint.socket.display(), e);
    match std::fs::remove_file(&endpoint.socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = tokio::net::UnixListener::bind(&endpoint.socket).map_err(io)?;
    std::fs::set_permissions(&endpoint.socket, std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    Ok(listener)
}

/// How long to wait for an autostarted daemon to answer.
#[cfg(unix)]
const AUTOSTART_WAIT: Duration = Duration::from_secs(10);

/// Connects to the daemon, starting it first when none answers (as gpg-agent autostarts). Used
/// by every local client that needs the daemon: the native host and the tray.
#[cfg(unix)]
pub(crate) async fn connect_or_start() -> Result<tokio::net::UnixStream> {
    let endpoint = Endpoint::for_current_user();
    if let Ok(s) = tokio::net::UnixStream::connect(&endpoint.socket).await {
        return Ok(s);
    }
    start_daemon(None)?;
    let deadline = tokio::time::Instant::now() + AUTOSTART_WAIT;
    let mut pause = Duration::from_millis(20);
    loop {
        match tokio::net::UnixStream::connect(&endpoint.socket).await {
            Ok(s) => return Ok(s),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(Error::AgentUnavailable(format!(
                    "{}: {e}",
                    endpoint.socket.display()
                )));
            }
            // Waiting for a process we just started to create its socket; nothing to block on.
            Err(_) => tokio::time::sleep(pause).await,
        }
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Connects to the daemon's named pipe, starting the daemon first when none answers.
#[cfg(windows)]
pub(crate) async fn connect_or_start() -> Result<tokio::net::windows::named_pipe::NamedPipeClient> {
    use tokio::net::windows::named_pipe::ClientOptions;
    let endpoint = Endpoint::for_current_user();
    if let Ok(c) = ClientOptions::new().open(&endpoint.socket) {
        return Ok(c);
    }
    start_daemon(None)?;
    let deadline = tokio::time::Instant::now() + AUTOSTART_WAIT;
    let mut pause = Duration::from_millis(20);
    loop {
        match ClientOptions::new().open(&endpoint.socket) {
            Ok(c) => return Ok(c),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(Error::AgentUnavailable(format!(
                    "{}: {e}",
                    endpoint.socket.display()
                )));
            }
            // The pipe does not exist yet, or every instance is busy: both pass.
            Err(_) => tokio::time::sleep(pause).await,
        }
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Starts `card-agent serve` (with `--config FILE` when given) detached from its starter: its
/// own process group, so closing the browser (which signals the host's group), quitting the
/// tray or closing a terminal does not stop the daemon other clients use. A thread waits for
/// it, so a daemon that exits (a broken config file, say) does not linger as a zombie of a
/// long-running client such as the tray.
pub(crate) fn start_daemon(config: Option<&Path>) -> Result<()> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::AgentUnavailable(format!("cannot find card-agent: {e}")))?;
    let mut command = std::process::Command::new(exe);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    crate::allocator::tune(&mut command);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .map_err(|e| Error::AgentUnavailable(format!("cannot start card-agent serve: {e}")))?;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}
