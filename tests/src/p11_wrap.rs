//! The wrapper module (`tests/p11-wrap`, built by cargo with the tests): SoftHSM2 behind a
//! PKCS#11 module that behaves like real card modules, driven through its control file.
//! The keys of that file are documented in `tests/p11-wrap/src/control.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use ::p11_wrap::control::{CONTROL_ENV, TARGET_ENV};

/// The wrapper module built beside the tests (`target/<profile>/deps/libp11_wrap.so`).
pub fn module() -> PathBuf {
    let exe = std::env::current_exe().expect("current executable");
    let dir = exe.parent().expect("executable directory");
    let name = format!(
        "{}p11_wrap{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let candidates = [dir.join(&name), dir.join("deps").join(&name)];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{name} not found beside {}: run `cargo build --workspace --all-targets` first",
                dir.display()
            )
        })
}

/// One control file, and the counter, removal and call log beside it.
#[derive(Debug, Clone)]
pub struct Wrapper {
    control: PathBuf,
}

impl Wrapper {
    /// A wrapper whose control file lives in `dir` and starts empty (plain forwarding).
    pub fn new(dir: &Path) -> Wrapper {
        let w = Wrapper {
            control: dir.join("p11wrap.conf"),
        };
        w.set("");
        w
    }

    /// Replaces the control file's contents (`key = value` lines).
    pub fn set(&self, lines: &str) {
        std::fs::write(&self.control, lines).expect("write the wrapper's control file");
    }

    /// The control file's path, for `P11WRAP_CONTROL`.
    pub fn control(&self) -> &Path {
        &self.control
    }

    /// Points `command` at this control file.
    pub fn env<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command.env(CONTROL_ENV, &self.control)
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut s = self.control.clone().into_os_string();
        s.push(".");
        s.push(suffix);
        PathBuf::from(s)
    }

    /// The `C_Login` calls so far, one line each (`C_Login user pin`, `C_Login user no-pin`,
    /// `C_Login context-specific pin`).
    pub fn logins(&self) -> Vec<String> {
        std::fs::read_to_string(self.sibling("log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("C_Login"))
            .map(str::to_owned)
            .collect()
    }

    /// How many CKA_VALUE reads (a certificate's bytes, on a token whose only readable values
    /// are certificates) the module has answered so far.
    pub fn value_reads(&self) -> usize {
        self.logged("C_GetAttributeValue CKA_VALUE")
    }

    /// How many CKA_ALWAYS_AUTHENTICATE reads of a key the module has answered so far.
    pub fn always_authenticate_reads(&self) -> usize {
        self.logged("C_GetAttributeValue CKA_ALWAYS_AUTHENTICATE")
    }

    /// How many times the module logged `line` so far.
    fn logged(&self, line: &str) -> usize {
        std::fs::read_to_string(self.sibling("log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == line)
            .count()
    }

    /// Forgets the logged calls.
    pub fn clear_log(&self) {
        let _ = std::fs::remove_file(self.sibling("log"));
    }

    /// Whether the card is out of the reader (pulled by `remove_on`, or by [`Wrapper::remove`]).
    pub fn is_removed(&self) -> bool {
        self.sibling("removed").exists()
    }

    /// Pulls the card out.
    pub fn remove(&self) {
        std::fs::write(self.sibling("removed"), b"removed\n").expect("remove the card");
    }

    /// Puts the card back.
    pub fn reinsert(&self) {
        let _ = std::fs::remove_file(self.sibling("removed"));
    }

    /// The modelled PIN counter (`tries = hicos`): tries left.
    pub fn tries_left(&self) -> u8 {
        std::fs::read_to_string(self.sibling("tries"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(::p11_wrap::tries::MAX_TRIES)
    }
}
