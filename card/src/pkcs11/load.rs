//! Loading a module, and the bound on the calls a module can hang in (C_Initialize,
//! C_GetSlotList): a module that does not answer in time is given up on for good.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use super::Module;

impl Module {
    /// Loads and initialises the module at `path`, giving it [`MODULE_TIMEOUT`] to answer.
    /// The error is a reason for a person; loading failures are reported, never fatal to the
    /// agent.
    pub fn load(path: &Path) -> std::result::Result<Module, String> {
        Module::load_within(path, MODULE_TIMEOUT)
    }

    /// Loads and initialises the module at `path`. Loading and C_Initialize run on their own
    /// thread: a module that does not answer within `timeout` is given up on (its thread is
    /// left behind, since nothing can stop a call inside a module) and never called again.
    pub fn load_within(path: &Path, timeout: Duration) -> std::result::Result<Module, String> {
        if !path.exists() {
            return Err("file not found".to_owned());
        }
        let owned = path.to_path_buf();
        let loaded = bounded(timeout, move || -> std::result::Result<_, String> {
            let context = Pkcs11::new(&owned).map_err(|e| format!("cannot load: {e}"))?;
            match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
                Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
                Err(e) => return Err(format!("C_Initialize failed: {e}")),
            }
            let info = context.get_library_info().ok();
            Ok((context, info))
        });
        let (context, info) = match loaded {
            Ok(result) => result?,
            Err(Bounded::TimedOut) => {
                return Err(format!(
                    "did not answer C_Initialize within {} s: the module hangs",
                    timeout.as_secs()
                ))
            }
            Err(Bounded::NoThread) => return Err("no thread to load it on".to_owned()),
        };
        let text = |s: &str| clean_text(s).unwrap_or_default();
        Ok(Module {
            path: path.to_path_buf(),
            description: info
                .as_ref()
                .map(|i| text(i.library_description()))
                .unwrap_or_default(),
            manufacturer: info
                .as_ref()
                .map(|i| text(i.manufacturer_id()))
                .unwrap_or_default(),
            version: info.map(|i| i.library_version().to_string()),
            context,
            timeout,
            stopped: OnceLock::new(),
            garbage: std::sync::Mutex::default(),
            reauth: OnceLock::new(),
            key_flags: Default::default(),
        })
    }
}

/// How long a module may take to answer C_Initialize or C_GetSlotList. Real modules answer
/// in well under a second (HiCOS scans its readers in C_Initialize); ten seconds is far beyond
/// any of them and short enough that a person still waits for the answer.
pub const MODULE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a bounded call gave no answer.
pub(super) enum Bounded {
    /// Still running after the time allowed.
    TimedOut,
    /// No thread could be started for it.
    NoThread,
}

/// Runs `call` on its own thread and waits at most `limit` for it. A call that does not
/// return is left running: no thread can be stopped from outside, and a module stuck inside
/// its own code holds its own locks, so the caller gives up on the module instead.
pub(super) fn bounded<T: Send + 'static>(
    limit: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> std::result::Result<T, Bounded> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("pkcs11-bounded".to_owned())
        .spawn(move || {
            let _ = tx.send(call());
        })
        .map_err(|_| Bounded::NoThread)?;
    rx.recv_timeout(limit).map_err(|_| Bounded::TimedOut)
}

/// Blank-padded PKCS#11 text, trimmed; `None` when the module's bytes were not UTF-8.
pub(super) fn clean_text(text: &str) -> Option<String> {
    (!text.contains('\u{fffd}')).then(|| text.trim().to_owned())
}
