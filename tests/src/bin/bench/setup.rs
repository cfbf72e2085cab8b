//! What several measures share: one SoftHSM2 token for the whole run, the real daemon serving
//! it in a sandbox, clients that talk to it as a browser's native host and as the host talks
//! to the daemon, and direct cryptoki calls on the same key.
//!
//! Every wait here is bounded by [`WAIT`]; every process started here is stopped when its
//! value is dropped.

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use card_agent_protocol::frame::encode;
use card_agent_testbed::daemon::{Daemon, Sandbox};
use card_agent_testbed::softhsm::{self, SoftHsm};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use serde_json::{json, Value};

/// The longest any single wait of the bench may take: a guard against hangs, not a limit on
/// what is measured.
pub const WAIT: Duration = Duration::from_secs(60);

/// The page origin requests carry; the sandbox's config trusts it, so no dialog opens.
pub const ORIGIN: &str = "https://www.example.gov.tw";

/// What every signing measure signs: 4 KB.
pub const DATA_LEN: usize = 4096;

/// State shared by the measures of one run.
#[derive(Default)]
pub struct Fixtures {
    hsm: OnceCell<Result<SoftHsm, String>>,
}

impl Fixtures {
    /// The run's SoftHSM2 token (RSA-2048 signing key and certificate), built on first use.
    /// `SOFTHSM2_CONF` is set for this process then: SoftHSM reads it once, when this process
    /// first loads it, so every measure must use this one token.
    pub fn hsm(&self) -> Result<&SoftHsm, String> {
        self.hsm
            .get_or_init(|| {
                if !Path::new(softhsm::SOFTHSM_MODULE).exists() {
                    return Err(format!(
                        "SoftHSM2 is not installed ({}); `./dev.sh test` installs it",
                        softhsm::SOFTHSM_MODULE
                    ));
                }
                for tool in ["softhsm2-util", "pkcs11-tool"] {
                    if Command::new(tool)
                        .arg("--help")
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_err()
                    {
                        return Err(format!("{tool} is not installed"));
                    }
                }
                let hsm = std::panic::catch_unwind(|| SoftHsm::new(softhsm::Options::default()))
                    .map_err(|_| "the SoftHSM2 token could not be built".to_owned())?;
                std::env::set_var("SOFTHSM2_CONF", hsm.conf());
                Ok(hsm)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Extra variables for the daemon (`--daemon-env`), for experiments such as glibc's
/// `MALLOC_ARENA_MAX`; the sandbox passes nothing else from the bench's environment.
pub static DAEMON_ENV: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

/// A free TCP port on loopback (for the legacy API, so the bench never fights over 61161).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The real daemon serving `hsm`'s token, at its default log level (RUST_LOG unset, as a
/// user runs it), in a sandbox of its own.
pub struct AgentDaemon {
    /// The daemon; stopped (SIGTERM) when dropped, before the sandbox goes.
    pub daemon: Option<Daemon>,
    /// Its isolated environment.
    pub sandbox: Sandbox,
}

impl AgentDaemon {
    /// Starts `card-agent serve` on `hsm`'s token.
    pub fn start(hsm: &SoftHsm) -> Result<AgentDaemon, String> {
        AgentDaemon::start_with(hsm, |_| {})
    }

    /// Starts `card-agent serve` on `hsm`'s token, after `adjust` has changed its sandbox
    /// (another module in front of the token, a scripted PIN dialog).
    pub fn start_with(
        hsm: &SoftHsm,
        adjust: impl FnOnce(&mut Sandbox),
    ) -> Result<AgentDaemon, String> {
        let mut sandbox = Sandbox::new();
        sandbox
            .config(&format!(
                "trusted_sites = [\"https://*.example.gov.tw\"]\nhttp_listen = \"127.0.0.1:{}\"\n",
                free_port()
            ))
            .softhsm(hsm)
            .remove_env("RUST_LOG")
            // As the daemon runs for users: started by the native host or the systemd unit,
            // which pass these (card_agent::allocator).
            .set_env("GLIBC_TUNABLES", card_agent::allocator::GLIBC_TUNABLES);
        adjust(&mut sandbox);
        for (key, value) in DAEMON_ENV.get().into_iter().flatten() {
            sandbox.set_env(key, value);
        }
        let daemon = sandbox
            .try_serve(&[])
            .map_err(|f| format!("card-agent serve exited ({}): {}", f.status, f.stderr))?;
        Ok(AgentDaemon {
            daemon: Some(daemon),
            sandbox,
        })
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.daemon.as_ref().map(Daemon::pid).unwrap_or_default()
    }

    /// The native host as Chrome starts it: `card-agent chrome-extension://<id>/`.
    pub fn host(&self) -> Result<HostProcess, String> {
        HostProcess::spawn(
            self.sandbox
                .command(&[&card_agent_testbed::daemon::chrome_caller()]),
        )
    }

    /// A connection straight to the daemon's socket, as the native host makes.
    pub fn ipc(&self) -> Result<IpcClient, String> {
        IpcClient::connect(&self.sandbox.socket())
    }
}

impl Drop for AgentDaemon {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| daemon.stop()));
        }
    }
}

/// A frame and when it was read.
pub type Timed = (Instant, Value);

/// A native host process: frames on its stdin, frames (timestamped as they are read) from its
/// stdout. Dropping it closes stdin and waits for it, killing it if it does not exit.
pub struct HostProcess {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    frames: Receiver<Timed>,
    /// Events read while waiting for a response.
    pub events: VecDeque<Timed>,
}

impl HostProcess {
    /// Spawns `command` (stdin, stdout piped; stderr discarded).
    pub fn spawn(mut command: Command) -> Result<HostProcess, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the native host: {e}"))?;
        let mut stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, frames) = mpsc::channel();
        thread::spawn(move || {
            while let Ok(payload) = read_frame(&mut stdout) {
                let at = Instant::now();
                let value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
                if tx.send((at, value)).is_err() {
                    break;
                }
            }
        });
        Ok(HostProcess {
            stdin: child.stdin.take(),
            child: Some(child),
            frames,
            events: VecDeque::new(),
        })
    }

    /// Sends one framed message.
    pub fn send(&mut self, message: &Value) -> Result<(), String> {
        let frame = encode(message.to_string().as_bytes()).map_err(|e| e.to_string())?;
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(&frame)
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("write to the native host: {e}"))
    }

    /// The next frame, bounded by `timeout`.
    pub fn recv(&self, timeout: Duration) -> Result<Timed, String> {
        self.frames.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => format!("no frame from the native host in {timeout:?}"),
            RecvTimeoutError::Disconnected => "the native host closed its output".to_owned(),
        })
    }

    /// The response to `message` (matched by id), keeping events that come first.
    pub fn call(&mut self, message: &Value) -> Result<Timed, String> {
        self.send(message)?;
        loop {
            let (at, frame) = self.recv(WAIT)?;
            if frame.get("event").is_some() {
                self.events.push_back((at, frame));
            } else if frame["id"] == message["id"] {
                return Ok((at, frame));
            }
        }
    }

    /// The next event (queued or new), bounded by `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Timed, String> {
        if let Some(e) = self.events.pop_front() {
            return Ok(e);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, frame) = self.recv(left)?;
            if frame.get("event").is_some() {
                return Ok((at, frame));
            }
        }
    }

    /// The process's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.stdin.take();
        if let Some(child) = self.child.take() {
            wait_or_kill(child);
        }
    }
}

/// Waits for `child` to exit, at most [`WAIT`]; then kills it.
pub fn wait_or_kill(mut child: Child) {
    let deadline = Instant::now() + WAIT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            // A child we cannot block on with a timeout: a short sleep between checks.
            Ok(None) => thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn read_frame(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let mut payload = vec![0u8; u32::from_ne_bytes(len) as usize];
    r.read_exact(&mut payload)?;
    Ok(payload)
}

/// A connection to the daemon's socket (what the native host holds), blocking, every read
/// bounded by [`WAIT`].
pub struct IpcClient {
    stream: UnixStream,
}

impl IpcClient {
    /// Connects to `socket`.
    pub fn connect(socket: &Path) -> Result<IpcClient, String> {
        let stream = UnixStream::connect(socket)
            .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
        stream
            .set_read_timeout(Some(WAIT))
            .map_err(|e| e.to_string())?;
        Ok(IpcClient { stream })
    }

    /// Sends one framed message.
    pub fn send(&mut self, message: &Value) -> Result<(), String> {
        let frame = encode(message.to_string().as_bytes()).map_err(|e| e.to_string())?;
        self.stream
            .write_all(&frame)
            .map_err(|e| format!("write to the daemon: {e}"))
    }

    /// Writes frames already encoded (see [`IpcClient::frame`]).
    pub fn send_encoded(&mut self, frames: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(frames)
            .map_err(|e| format!("write to the daemon: {e}"))
    }

    /// `message` as a frame, for [`IpcClient::send_encoded`].
    pub fn frame(message: &Value) -> Result<Vec<u8>, String> {
        encode(message.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    /// The next frame.
    pub fn recv(&mut self) -> Result<Value, String> {
        let payload = read_frame(&mut self.stream).map_err(|e| format!("read: {e}"))?;
        serde_json::from_slice(&payload).map_err(|e| e.to_string())
    }

    /// Sends `message` and returns the next frame (no events on a connection that did not
    /// subscribe).
    pub fn call(&mut self, message: &Value) -> Result<Value, String> {
        self.send(message)?;
        self.recv()
    }
}

/// The `sign` request every signing measure sends: `DATA_LEN` bytes, SHA-256, a bare PKCS#1
/// v1.5 signature, the PIN in the request (so no dialog opens).
pub fn sign_request(id: u64, certificate: &str, data_b64: &str) -> Value {
    // A local program's request: only local programs may send the PIN (pages get the agent's
    // dialog, which would time a person, or a scripted dialog's process start).
    json!({"id": id, "command": "sign", "arguments": {
        "certificate": certificate, "data": data_b64, "hashAlgorithm": "SHA-256",
        "format": "pkcs1", "pin": softhsm::USER_PIN}})
}

/// The data every signing measure signs.
pub fn sign_data() -> Vec<u8> {
    vec![b'x'; DATA_LEN]
}

/// The signing certificate's SHA-256 thumbprint, as requests name it.
pub fn sign_thumbprint(hsm: &SoftHsm) -> Result<String, String> {
    card_agent::certificate::CertificateInfo::parse(&hsm.sign_cert)
        .map(|c| c.sha256)
        .map_err(|e| e.to_string())
}

/// Fails with the response's error unless it is a result.
pub fn expect_result(reply: &Value) -> Result<&Value, String> {
    reply
        .get("result")
        .ok_or_else(|| format!("an error instead of a result: {reply}"))
}

/// The SoftHSM token through cryptoki directly: what a program without the agent does.
pub struct Direct {
    pkcs11: Pkcs11,
    slot: Slot,
}

impl Direct {
    /// Loads SoftHSM (already configured by [`Fixtures::hsm`]) and finds the fixture token.
    pub fn open(hsm: &SoftHsm) -> Result<Direct, String> {
        let pkcs11 = Pkcs11::new(softhsm::SOFTHSM_MODULE).map_err(|e| e.to_string())?;
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(format!("C_Initialize: {e}")),
        }
        let slot = pkcs11
            .get_slots_with_token()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|s| {
                pkcs11
                    .get_token_info(*s)
                    .is_ok_and(|t| t.label().trim() == hsm.label)
            })
            .ok_or("the fixture token is not in SoftHSM's slots")?;
        Ok(Direct { pkcs11, slot })
    }

    /// A session logged in as the user, and the signing key's handle.
    pub fn logged_in(&self) -> Result<(Session, ObjectHandle), String> {
        let session = self
            .pkcs11
            .open_ro_session(self.slot)
            .map_err(|e| e.to_string())?;
        session
            .login(
                UserType::User,
                Some(&AuthPin::from(softhsm::USER_PIN.to_owned())),
            )
            .map_err(|e| format!("C_Login: {e}"))?;
        let key = sign_key(&session)?;
        Ok((session, key))
    }

    /// C_OpenSession + C_CloseSession alone: SoftHSM's share of a fresh session.
    pub fn open_close(&self) -> Result<(), String> {
        let session = self
            .pkcs11
            .open_ro_session(self.slot)
            .map_err(|e| e.to_string())?;
        drop(session);
        Ok(())
    }

    /// C_Login + C_Logout alone, on an open session: SoftHSM's share of a login.
    pub fn login_logout(session: &Session) -> Result<(), String> {
        session
            .login(
                UserType::User,
                Some(&AuthPin::from(softhsm::USER_PIN.to_owned())),
            )
            .map_err(|e| format!("C_Login: {e}"))?;
        session.logout().map_err(|e| format!("C_Logout: {e}"))
    }

    /// A session that is open, not logged in.
    pub fn session(&self) -> Result<Session, String> {
        self.pkcs11
            .open_ro_session(self.slot)
            .map_err(|e| e.to_string())
    }

    /// C_Sign (CKM_SHA256_RSA_PKCS) on an open, logged-in session.
    pub fn sign(session: &Session, key: ObjectHandle, data: &[u8]) -> Result<Vec<u8>, String> {
        session
            .sign(&Mechanism::Sha256RsaPkcs, key, data)
            .map_err(|e| format!("C_Sign: {e}"))
    }

    /// `n` signatures as [`Direct::sign_fresh`] makes them, one after another in this thread,
    /// timed: the token's serial loop every measure compares with.
    pub fn time_fresh(&self, data: &[u8], n: usize) -> Result<Duration, String> {
        let t = Instant::now();
        for _ in 0..n {
            self.sign_fresh(data)?;
        }
        Ok(t.elapsed())
    }

    /// What the agent does per operation: open a session, log in, find the key, sign, log
    /// out, close the session.
    pub fn sign_fresh(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        let (session, key) = self.logged_in()?;
        let signature = Self::sign(&session, key, data);
        let _ = session.logout();
        drop(session);
        signature
    }

    /// [`Direct::sign_fresh`] after a C_GetTokenInfo: every call the agent makes on the token
    /// for a signature. The PIN rules need the card's state read fresh right before the login
    /// (its serial, whether it is locked or on its final try); on SoftHSM that read checks the
    /// token's files and costs a few percent of a signature.
    pub fn sign_as_the_agent_does(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        let info = self
            .pkcs11
            .get_token_info(self.slot)
            .map_err(|e| format!("C_GetTokenInfo: {e}"))?;
        if info.user_pin_locked() {
            return Err("the fixture token is locked".to_owned());
        }
        self.sign_fresh(data)
    }
}

fn sign_key(session: &Session) -> Result<ObjectHandle, String> {
    let id = hex::decode(softhsm::SIGN_ID).map_err(|e| e.to_string())?;
    session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(id),
        ])
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or_else(|| "no signing key on the fixture token".to_owned())
}

/// Runs `f`, turning a panic into an error message, so one broken measure never ends the run.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".to_owned())),
    }
}
