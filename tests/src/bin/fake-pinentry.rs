//! A scripted pinentry for tests: speaks the part of GnuPG's Assuan protocol that card-agent
//! uses, answering as a real pinentry would, without a screen.
//!
//! Environment:
//! - `FAKE_PINENTRY_PIN`: the PIN to answer `GETPIN` with (empty: answer with no data).
//! - `FAKE_PINENTRY_ACTION`:
//!   - `pin` (default): `GETPIN` returns the PIN, `CONFIRM` returns `OK`;
//!   - `cancel`: `GETPIN` and `CONFIRM` return `ERR 83886179 Operation cancelled`;
//!   - `confirm`: `CONFIRM` returns `OK` (`GETPIN` returns the PIN);
//!   - `deny`: `CONFIRM` returns `ERR 83886194 Not confirmed` (`GETPIN` returns the PIN);
//!   - `hang`: `GETPIN` and `CONFIRM` are never answered (for timeout tests);
//!   - `longline`: `GETPIN` is answered with a 2000-byte data line (for the line bound);
//!   - `exit`: the program exits on `GETPIN` or `CONFIRM` without answering.
//! - `FAKE_PINENTRY_LOG`: a file to which every received command is appended, one per line,
//!   as received (still percent-escaped). The PIN is never written: should a command ever
//!   contain it, it is logged as `<redacted-pin>`, which tests can look for.
//! - `FAKE_PINENTRY_CONTROL`: a file read at every start, for tests that change the answers
//!   while the program that runs the pinentry (a daemon) keeps its environment. Lines
//!   `action=...` and `pin=...` override the two variables above; `gate=PATH` names a FIFO
//!   that is opened and read to its end before `GETPIN` is answered, so a test knows the
//!   dialog is up (its open for writing returns) and decides when it is answered (it closes).
//!   A missing file changes nothing.
//! - `FAKE_PINENTRY_DELAY_MS`: how long the "user" takes before answering `GETPIN` or
//!   `CONFIRM` (default 0).
//! - `FAKE_PINENTRY_PIDS`: a file to which the program appends its process ID when it starts,
//!   so tests can check that no dialog outlives the daemon that opened it.
//!
//! Unknown commands get `ERR 536871187 Unknown IPC command`, as from a real pinentry, so a
//! client that sends a badly escaped line (a raw LF splits it into two commands) fails.

use std::io::{self, BufRead, Write};
use std::time::Duration;

const CANCELLED: &str = "ERR 83886179 Operation cancelled <Pinentry>";
const NOT_CONFIRMED: &str = "ERR 83886194 Not confirmed <Pinentry>";
const UNKNOWN: &str = "ERR 536871187 Unknown IPC command <User defined source 1>";

/// Commands a pinentry accepts with a plain `OK`.
const SETTERS: &[&str] = &[
    "SETTITLE",
    "SETDESC",
    "SETPROMPT",
    "SETERROR",
    "SETOK",
    "SETCANCEL",
    "SETNOTOK",
    "SETTIMEOUT",
    "SETKEYINFO",
    "SETREPEAT",
    "SETQUALITYBAR",
    "OPTION",
    "GETINFO",
    "RESET",
    "NOP",
];

fn main() {
    let mut action = std::env::var("FAKE_PINENTRY_ACTION").unwrap_or_else(|_| "pin".to_owned());
    let mut pin = std::env::var("FAKE_PINENTRY_PIN").unwrap_or_default();
    let mut gate = None;
    if let Some(control) = std::env::var_os("FAKE_PINENTRY_CONTROL") {
        // A missing or unreadable file leaves the environment's answers.
        let text = std::fs::read_to_string(control).unwrap_or_default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("action", value)) => action = value.to_owned(),
                Some(("pin", value)) => pin = value.to_owned(),
                Some(("gate", value)) if !value.is_empty() => gate = Some(value.to_owned()),
                _ => {}
            }
        }
    }
    let log = std::env::var_os("FAKE_PINENTRY_LOG");
    if let Some(path) = std::env::var_os("FAKE_PINENTRY_PIDS") {
        append_log(&path, &std::process::id().to_string());
    }
    let delay = std::env::var("FAKE_PINENTRY_DELAY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or_default();
    let mut out = io::stdout().lock();

    if reply(&mut out, "OK Pleased to meet you, fake pinentry").is_err() {
        return;
    }
    for line in io::stdin().lock().split(b'\n') {
        let Ok(line) = line else { return };
        let line = String::from_utf8_lossy(&line).into_owned();
        if let Some(path) = &log {
            append_log(path, &redact(&line, &pin));
        }
        let verb = line.split(' ').next().unwrap_or_default();
        if let (Some(gate), "GETPIN") = (&gate, verb) {
            if wait_at_gate(gate).is_err() {
                return;
            }
        }
        if matches!(verb, "GETPIN" | "CONFIRM") {
            std::thread::sleep(delay);
        }
        let answered = match (verb, action.as_str()) {
            ("GETPIN" | "CONFIRM", "hang") => hang(),
            ("GETPIN" | "CONFIRM", "exit") => return,
            ("GETPIN" | "CONFIRM", "cancel") => reply(&mut out, CANCELLED),
            ("GETPIN", "longline") => reply(&mut out, &format!("D {}", "1".repeat(2000))),
            ("GETPIN", _) if pin.is_empty() => reply(&mut out, "OK"),
            ("GETPIN", _) => reply(&mut out, &format!("D {}\nOK", escape(&pin))),
            ("CONFIRM", "deny") => reply(&mut out, NOT_CONFIRMED),
            ("CONFIRM", _) => reply(&mut out, "OK"),
            // The PIN-pad notice: a message box, clicked away at once.
            ("MESSAGE", _) => reply(&mut out, "OK"),
            ("BYE", _) => {
                let _ = reply(&mut out, "OK closing connection");
                return;
            }
            (verb, _) if SETTERS.contains(&verb) => reply(&mut out, "OK"),
            _ => reply(&mut out, UNKNOWN),
        };
        if answered.is_err() {
            return;
        }
    }
}

fn reply(out: &mut impl Write, text: &str) -> io::Result<()> {
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Never answers; the test that asked for this kills the process.
fn hang() -> io::Result<()> {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Opens the FIFO `path` for reading (which blocks until a writer opens it) and reads until
/// the writer closes it.
fn wait_at_gate(path: &str) -> io::Result<()> {
    let mut fifo = std::fs::File::open(path)?;
    io::copy(&mut fifo, &mut io::sink()).map(|_| ())
}

/// Assuan data escaping: `%`, CR and LF.
fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn redact(line: &str, pin: &str) -> String {
    if pin.is_empty() {
        line.to_owned()
    } else {
        line.replace(pin, "<redacted-pin>")
    }
}

fn append_log(path: &std::ffi::OsStr, line: &str) {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    if let Ok(mut file) = file {
        // A test log that cannot be written shows up as a missing line in the test's check.
        let _ = writeln!(file, "{line}");
    }
}
