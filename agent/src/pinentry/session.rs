//! One running pinentry program: spawning, the reader thread, the deadline, and the polite
//! or forceful end.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use zeroize::{Zeroize, Zeroizing};

use super::assuan::{self, gpg_err};
use super::{PinDialog, MAX_LINE};
use crate::error::{Error, Result};
use crate::pin::MAX_PIN_INPUT;

/// How long a program may take to exit after `BYE` before it is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Lines buffered between the reader thread and the dialog; a program that floods status lines
/// blocks on the pipe instead of growing memory.
const LINE_QUEUE: usize = 16;
/// Decoded data kept from one answer: enough to tell "a PIN" from "too long to be a PIN".
const DATA_CAP: usize = MAX_PIN_INPUT + 1;

/// What the reader thread reports.
enum ReadEvent {
    /// One line without its LF (and without a CR before it).
    Line(Zeroizing<Vec<u8>>),
    /// A line longer than [`MAX_LINE`]; the reader stopped.
    TooLong,
    /// The program closed its output.
    Eof,
    /// Reading failed.
    Failed(io::ErrorKind),
    /// [`OpenDialogs::close_all`] closed every dialog.
    Closed,
}

/// The dialogs open through one [`PinDialog`] and its clones, so that a daemon that stops can
/// close them all at once instead of waiting minutes for the user or leaving a PIN prompt on
/// screen for a process that is gone.
#[derive(Debug, Default)]
pub(super) struct OpenDialogs {
    state: Mutex<OpenState>,
}

#[derive(Debug, Default)]
struct OpenState {
    /// Set by [`OpenDialogs::close_all`]: no new dialog opens.
    closing: bool,
    next_id: u64,
    sessions: HashMap<u64, Wake>,
}

/// How to interrupt one session that waits for its program.
#[derive(Debug)]
struct Wake {
    closed: Arc<AtomicBool>,
    lines: SyncSender<ReadEvent>,
    /// The client the dialog is for, if the dialog was opened for one.
    client: Option<Client>,
}

impl Wake {
    fn interrupt(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // A full queue means the session is reading lines and sees the flag next.
        let _ = self.lines.try_send(ReadEvent::Closed);
    }
}

/// The client dialogs are opened for: one connection to the daemon, or one request on it (a
/// [`child`](Client::child) of its connection). When it goes away (the connection closes, or
/// the request's caller stops waiting), [`PinDialog::close_client`](super::PinDialog::close_client)
/// closes its dialogs and no new one opens for it: nobody would receive the answer.
#[derive(Debug, Clone, Default)]
pub struct Client(Arc<ClientState>);

#[derive(Debug, Default)]
struct ClientState {
    gone: AtomicBool,
    /// The connection a request's client belongs to: gone with it.
    parent: Option<Client>,
}

impl Client {
    /// A client that is there.
    pub fn new() -> Client {
        Client::default()
    }

    /// A client for one request on this one: gone when it is, or on its own.
    pub fn child(&self) -> Client {
        Client(Arc::new(ClientState {
            gone: AtomicBool::new(false),
            parent: Some(self.clone()),
        }))
    }

    /// Whether it (or the connection it belongs to) has gone away.
    pub fn is_gone(&self) -> bool {
        self.0.gone.load(Ordering::SeqCst) || self.0.parent.as_ref().is_some_and(Client::is_gone)
    }

    /// Marks it gone. Its dialogs are closed by
    /// [`PinDialog::close_client`](super::PinDialog::close_client), which calls this first.
    pub fn leave(&self) {
        self.0.gone.store(true, Ordering::SeqCst);
    }

    /// Whether this is `other`, or one of `other`'s requests.
    fn belongs_to(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || self.0.parent.as_ref().is_some_and(|p| p.belongs_to(other))
    }
}

impl OpenDialogs {
    fn lock(&self) -> MutexGuard<'_, OpenState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends every open dialog (its program is killed, its caller gets [`Error::PinDialog`])
    /// and refuses to open new ones.
    pub(super) fn close_all(&self) {
        let mut state = self.lock();
        state.closing = true;
        state.sessions.values().for_each(Wake::interrupt);
    }

    /// Marks `client` gone and ends the dialogs open for it. The mark comes first: a dialog
    /// starting meanwhile either sees it or is registered before the sessions are woken.
    pub(super) fn close_client(&self, client: &Client) {
        client.leave();
        let state = self.lock();
        state
            .sessions
            .values()
            .filter(|w| w.client.as_ref().is_some_and(|c| c.belongs_to(client)))
            .for_each(Wake::interrupt);
    }
}

fn closed_error() -> Error {
    Error::PinDialog(
        "the dialog was closed: card-agent is stopping, or the page that asked went away".into(),
    )
}

/// How the program answered one command.
pub(super) enum Outcome {
    /// `OK`, with any `D` data decoded (at most [`DATA_CAP`] bytes; `overflow` when more came).
    Ok {
        data: Zeroizing<Vec<u8>>,
        overflow: bool,
    },
    /// `ERR <code> <text>`.
    Err { code: u32, text: String },
}

pub(super) struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<ReadEvent>,
    deadline: Instant,
    /// False once the conversation is out of step (timeout, bad line, broken pipe): such a
    /// program is killed rather than asked to say goodbye.
    healthy: bool,
    closed: bool,
    /// Set when [`OpenDialogs::close_all`] ends this dialog.
    interrupted: Arc<AtomicBool>,
    /// Where this session is registered, until it closes.
    registration: Option<(Arc<OpenDialogs>, u64)>,
}

impl Session {
    pub(super) fn start(dialog: &PinDialog) -> Result<Session> {
        let deadline = Instant::now() + dialog.timeout;
        // Held until the session is registered, so `close_all` cannot miss a program that is
        // starting.
        let mut open = dialog.open.lock();
        if open.closing || dialog.client.as_ref().is_some_and(Client::is_gone) {
            return Err(closed_error());
        }
        let mut command = Command::new(&dialog.program);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, value) in &dialog.env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|e| {
            Error::PinDialog(format!("cannot start {}: {e}", dialog.program.display()))
        })?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let (tx, rx) = mpsc::sync_channel(LINE_QUEUE);
        let interrupted = Arc::new(AtomicBool::new(false));
        let id = open.next_id;
        open.next_id += 1;
        open.sessions.insert(
            id,
            Wake {
                closed: interrupted.clone(),
                lines: tx.clone(),
                client: dialog.client.clone(),
            },
        );
        drop(open);
        let reader = stdout.map(|out| {
            std::thread::Builder::new()
                .name("pinentry-reader".to_owned())
                .spawn(move || read_lines(out, tx))
        });
        let mut session = Session {
            child,
            stdin,
            lines: rx,
            deadline,
            healthy: true,
            closed: false,
            interrupted,
            registration: Some((dialog.open.clone(), id)),
        };
        match reader {
            // The thread is not joined: it ends by itself when the program's output closes,
            // which killing the program guarantees, and joining could only add a way to hang.
            Some(Ok(_)) if session.stdin.is_some() => {}
            Some(Err(e)) => {
                session.healthy = false;
                return Err(Error::Internal(format!(
                    "cannot start the pinentry reader: {e}"
                )));
            }
            _ => {
                session.healthy = false;
                return Err(Error::Internal("pinentry pipes missing".to_owned()));
            }
        }
        match session.read_outcome()? {
            Outcome::Ok { .. } => Ok(session),
            Outcome::Err { code, text } => Err(Error::PinDialog(format!(
                "the pinentry program did not start (error {code}: {text})"
            ))),
        }
    }

    /// Sends `VERB text` and requires `OK`.
    pub(super) fn expect_ok(&mut self, verb: &str, text: &str) -> Result<()> {
        match self.transact(&assuan::command_line(verb, text))? {
            Outcome::Ok { .. } => Ok(()),
            Outcome::Err { code, .. } if gpg_err::is_cancel(code) => Err(Error::UserCancelled),
            Outcome::Err { code, text } => Err(refused(verb, code, &text)),
        }
    }

    /// Asks the program to close its dialog by itself when the session's deadline passes
    /// (`SETTIMEOUT`, in whole seconds, rounded up). The session kills the program at the
    /// deadline anyway; this matters when the session's process dies first (a daemon killed by
    /// SIGKILL cannot kill its dialog), so the orphaned dialog does not stay on screen asking
    /// for a PIN that nobody will read. A program too old to know the command answers `ERR`,
    /// which changes nothing else.
    pub(super) fn set_own_timeout(&mut self) -> Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        match self.transact(&assuan::command_line(
            "SETTIMEOUT",
            &seconds.max(1).to_string(),
        ))? {
            Outcome::Ok { .. } | Outcome::Err { .. } => Ok(()),
        }
    }

    /// Sends one command line and reads its answer. Commands go one at a time, each waiting
    /// for its answer, so at most one line is ever unread in the pipe and a write cannot block
    /// on a program that stopped reading.
    pub(super) fn transact(&mut self, line: &str) -> Result<Outcome> {
        self.send(line.as_bytes())?;
        self.read_outcome()
    }

    /// Sends a command without waiting for its answer (a `MESSAGE` that stays on screen until
    /// the session is closed).
    pub(super) fn send_only(&mut self, line: &str) -> Result<()> {
        self.send(line.as_bytes())
    }

    fn send(&mut self, line: &[u8]) -> Result<()> {
        let written = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(line).and_then(|()| stdin.flush()),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        };
        written.map_err(|e| {
            self.healthy = false;
            Error::PinDialog(format!("the pinentry program stopped reading: {e}"))
        })
    }

    /// Reads lines until `OK` or `ERR`, collecting `D` data and skipping status and comments.
    fn read_outcome(&mut self) -> Result<Outcome> {
        let result = self.read_outcome_inner();
        if result.is_err() {
            self.healthy = false;
        }
        result
    }

    fn read_outcome_inner(&mut self) -> Result<Outcome> {
        let mut data = Zeroizing::new(Vec::with_capacity(DATA_CAP));
        let mut overflow = false;
        loop {
            if self.interrupted.load(Ordering::SeqCst) {
                return Err(closed_error());
            }
            let wait = self.deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(wait) {
                Ok(ReadEvent::Line(line)) => line,
                Ok(ReadEvent::Closed) => return Err(closed_error()),
                Err(RecvTimeoutError::Timeout) => return Err(Error::Timeout),
                Ok(ReadEvent::TooLong) => {
                    return Err(Error::PinDialog(format!(
                        "the pinentry program sent a line longer than {MAX_LINE} bytes"
                    )))
                }
                Ok(ReadEvent::Eof) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::PinDialog(
                        "the pinentry program exited unexpectedly".into(),
                    ))
                }
                Ok(ReadEvent::Failed(kind)) => {
                    return Err(Error::PinDialog(format!(
                        "reading from the pinentry program failed: {kind}"
                    )))
                }
            };
            match assuan::parse_line(&line) {
                assuan::Response::Ok => return Ok(Outcome::Ok { data, overflow }),
                assuan::Response::Err { code, text } => return Ok(Outcome::Err { code, text }),
                assuan::Response::Data(escaped) => {
                    overflow |=
                        assuan::decode_data(escaped, &mut data, DATA_CAP).map_err(|_| {
                            Error::PinDialog("the pinentry program sent badly escaped data".into())
                        })?;
                }
                assuan::Response::Status | assuan::Response::Comment => {}
                // We offer nothing to inquire about; cancelling the inquiry keeps the
                // conversation in step and the command then ends with OK or ERR.
                assuan::Response::Inquire => self.send(b"CAN\n")?,
                // Never echo the line: it came from a program that may be talking about a PIN.
                assuan::Response::Unknown => {
                    return Err(Error::PinDialog(
                        "the pinentry program sent an answer that is not Assuan".into(),
                    ))
                }
            }
        }
    }

    /// Ends the conversation and reaps the program. A healthy program gets `BYE` and a short
    /// grace period to take its window down; any other is killed at once.
    pub(super) fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        if let Some((open, id)) = self.registration.take() {
            open.lock().sessions.remove(&id);
        }
        if self.healthy && self.send(b"BYE\n").is_ok() {
            // Closing stdin also ends a program that ignores BYE.
            self.stdin = None;
            let until = Instant::now()
                + CLOSE_GRACE.min(self.deadline.saturating_duration_since(Instant::now()));
            // Drain the farewell until the program closes its output (or the grace ends).
            while let Ok(ReadEvent::Line(_)) = self
                .lines
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {}
        }
        self.stdin = None;
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            // Errors here mean the process is already gone, which is the goal.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.healthy = false;
        self.close();
    }
}

/// The reader thread: splits the program's output into lines of at most [`MAX_LINE`] bytes.
/// Every buffer that may hold the PIN is zeroizing and sized up front so it never reallocates
/// (a reallocation would leave an unwiped copy behind).
fn read_lines(mut out: ChildStdout, tx: SyncSender<ReadEvent>) {
    let mut chunk = Zeroizing::new([0u8; 512]);
    let mut pending: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(MAX_LINE));
    loop {
        let n = match out.read(&mut chunk[..]) {
            Ok(0) => {
                let _ = tx.send(ReadEvent::Eof);
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(ReadEvent::Failed(e.kind()));
                return;
            }
        };
        for &byte in &chunk[..n] {
            if byte != b'\n' {
                // Room for the LF too: the limit counts it.
                if pending.len() + 1 >= MAX_LINE {
                    let _ = tx.send(ReadEvent::TooLong);
                    return;
                }
                pending.push(byte);
                continue;
            }
            let end = pending.len() - usize::from(pending.last() == Some(&b'\r'));
            let mut line = Zeroizing::new(Vec::with_capacity(end));
            line.extend_from_slice(&pending[..end]);
            pending.zeroize();
            // The receiver is gone when the dialog ended early; so is our reason to read.
            if tx.send(ReadEvent::Line(line)).is_err() {
                return;
            }
        }
    }
}

/// The error for an `ERR` answer that is neither a cancel nor a timeout.
pub(super) fn refused(command: &str, code: u32, text: &str) -> Error {
    // The commonest failure: a terminal pinentry (curses, or gnome3 falling back to curses
    // without a display) started by a daemon, which has no terminal.
    let hint = if gpg_err::is_no_terminal(code) {
        "; this pinentry needs a terminal, which the agent does not have: install a graphical \
         one (pinentry-gnome3 or pinentry-qt) or set `pinentry` in the configuration"
    } else {
        ""
    };
    Error::PinDialog(format!(
        "the pinentry program refused {command} (error {code}: {text}){hint}"
    ))
}
