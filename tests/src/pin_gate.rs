//! A gate in front of the fake pinentry's answers (its `FAKE_PINENTRY_CONTROL` file's `gate=`
//! line): a test knows when a PIN dialog is on screen and decides when it is answered, so
//! that what it checks follows from the order of events, never from timing.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread;

use crate::daemon::{Sandbox, HANG_GUARD};

/// The fake pinentry's control file and the FIFO its gate line names.
pub struct PinGate {
    control: PathBuf,
    fifo: PathBuf,
}

/// The control file's name in the directory of a [`PinGate`].
pub const CONTROL_FILE: &str = "pinentry.control";

impl PinGate {
    /// Makes the FIFO and points the sandbox's fake pinentry at the control file, which
    /// starts empty (dialogs answer at once). Call before starting the daemon.
    pub fn new(sandbox: &mut Sandbox) -> PinGate {
        let gate = PinGate::in_dir(sandbox.dir());
        sandbox.set_env("FAKE_PINENTRY_CONTROL", &gate.control);
        gate
    }

    /// A gate in `dir` for a harness that starts the fake pinentry itself, with its
    /// `FAKE_PINENTRY_CONTROL` pointing at `dir`/[`CONTROL_FILE`].
    pub fn in_dir(dir: &Path) -> PinGate {
        let gate = PinGate {
            control: dir.join(CONTROL_FILE),
            fifo: dir.join("gate.fifo"),
        };
        let made = Command::new("mkfifo")
            .arg(&gate.fifo)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo {}", gate.fifo.display());
        gate
    }

    /// Dialogs started from now on wait at the gate before answering GETPIN.
    pub fn close(&self) {
        std::fs::write(&self.control, format!("gate={}\n", self.fifo.display()))
            .expect("write the pinentry control file");
    }

    /// Dialogs started from now on answer at once (one already waiting still waits).
    pub fn open(&self) {
        std::fs::write(&self.control, "").expect("write the pinentry control file");
    }

    /// Waits, bounded, until a dialog waits at the gate, and returns the gate's writing end:
    /// that dialog answers once it is dropped.
    pub fn dialog_up(&self) -> File {
        let (tx, rx) = mpsc::channel();
        let path = self.fifo.clone();
        // Opening a FIFO for writing returns once a reader opened it: the dialog's.
        thread::spawn(move || {
            let _ = tx.send(OpenOptions::new().write(true).open(path));
        });
        rx.recv_timeout(HANG_GUARD)
            .unwrap_or_else(|_| {
                panic!(
                    "no PIN dialog opened {} within {HANG_GUARD:?}",
                    self.fifo.display()
                )
            })
            .expect("open the gate FIFO")
    }
}
