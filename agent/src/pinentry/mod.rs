//! The trusted PIN dialog and the site confirmation, through a pinentry program.
//!
//! The PIN is never typed into a web page: the daemon asks for it in a native dialog that names
//! the requesting site, the certificate holder, the card and the tries left. Rather than ship
//! its own GUI toolkit, card-agent drives a pinentry program (pinentry-gnome3, -qt, -gtk2,
//! -mac, Gpg4win's pinentry on Windows): small, widely installed, already trusted for exactly
//! this job by GnuPG, and spoken to over a pipe with GnuPG's Assuan protocol.
//!
//! Protocol in brief: the program greets with `OK`; we send `SETTITLE`, `SETDESC`, `SETPROMPT`,
//! `SETERROR`, `SETOK`, `SETCANCEL` (each answered `OK`), `SETTIMEOUT` (the dialog's own
//! deadline, so it closes itself even if card-agent dies), then `GETPIN` (answered
//! `D <percent-encoded PIN>` then `OK`, or `ERR <code> <text>`) or `CONFIRM` (`OK` or `ERR`),
//! and `BYE`. Parameters and data escape `%`, CR and LF as `%XX`.
//!
//! Bounds: a line is at most [`MAX_LINE`] bytes including its LF (Assuan's own limit); longer
//! input is refused. The whole dialog has a deadline ([`DEFAULT_TIMEOUT`], adjustable with
//! [`PinDialog::with_timeout`]) after which the program is killed and [`Error::Timeout`]
//! returned. A reader thread feeds lines through a bounded channel and the caller waits with
//! `recv_timeout`, so the deadline holds without polling.
//!
//! Secrecy: the PIN exists only in zeroizing buffers (the read chunk, the line, the decoded
//! data, then [`Pin`]); no error, log line or `Debug` output contains it. We never send
//! `SETKEYINFO` or `OPTION allow-external-password-cache`, so no pinentry offers to store the
//! PIN in a password manager.
//!
//! - this file: finding the program, [`PinDialog`] and the two dialogs;
//! - `session`: one running program (spawn, reader thread, deadline, `BYE` or kill);
//! - `assuan`: the wire format, pure functions;
//! - `text`: what the dialogs say, in zh-TW and English.

mod assuan;
mod session;
mod text;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use card_agent_protocol::Language;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::pin::{Pin, PinFormatError, MAX_PIN_INPUT};
use assuan::gpg_err;
use session::{refused, OpenDialogs, Outcome, Session};

pub use session::Client;

/// Longest Assuan line, in bytes, including the terminating LF.
pub const MAX_LINE: usize = 1000;
/// How long a dialog may stay open before the program is killed: long enough to fetch the card
/// and read the dialog, short enough that a forgotten dialog does not hold the card forever.
pub const DEFAULT_TIMEOUT: Duration = card_agent_protocol::timeouts::DIALOG;

/// Program names searched, in order of preference. Graphical ones first: the daemon has no
/// terminal, so pinentry-curses or -tty can never work for it; plain `pinentry` (usually the
/// distribution's choice among the installed ones) comes last.
#[cfg(not(windows))]
const CANDIDATES: &[&str] = &[
    "pinentry-gnome3",
    "pinentry-qt",
    "pinentry-gtk-2",
    "pinentry-gtk2",
    "pinentry-mac",
    "pinentry",
];
/// Program names searched on Windows: Gpg4win's Qt pinentry, the older w32 one, GnuPG's basic.
#[cfg(windows)]
const CANDIDATES: &[&str] = &["pinentry-w32.exe", "pinentry.exe", "pinentry-basic.exe"];

/// What the PIN dialog shows. All text is the caller's; control characters are removed before
/// display so a certificate field cannot forge extra lines in the dialog.
#[derive(Debug, Clone, Copy)]
pub struct PinRequest<'a> {
    /// The origin of the requesting page, or `None` for local use (the CLI).
    pub site: Option<&'a str>,
    /// The certificate holder's name.
    pub holder: &'a str,
    /// The card, e.g. `MOICA 自然人憑證 (TP0312345678)`.
    pub card: &'a str,
    /// Tries left before the card locks, when the card tells.
    pub tries_left: Option<u8>,
    /// True when the previous PIN for this card was wrong (the dialog says so).
    pub after_wrong_pin: bool,
    /// The language of the dialog.
    pub lang: Language,
}

/// A pinentry program and how to run it.
#[derive(Debug, Clone)]
pub struct PinDialog {
    program: PathBuf,
    timeout: Duration,
    env: Vec<(OsString, OsString)>,
    /// Shared by clones: [`PinDialog::close_all`] ends the dialogs of all of them.
    open: std::sync::Arc<OpenDialogs>,
    /// The client the dialogs are for ([`PinDialog::for_client`]).
    client: Option<Client>,
}

impl PinDialog {
    /// A dialog run through `program`, with the default timeout.
    ///
    /// The program inherits the daemon's environment, which carries `DISPLAY`,
    /// `WAYLAND_DISPLAY`, `DBUS_SESSION_BUS_ADDRESS` and `XAUTHORITY` (what the gtk, qt and
    /// gnome3 pinentries need to reach the desktop) along with the locale and theme variables a
    /// whitelist would miss; it is the user's own program running as the user, so nothing is
    /// hidden from it. [`PinDialog::with_env`] overrides single variables, e.g. the display of
    /// the session a request came from.
    pub fn new(program: impl Into<PathBuf>) -> PinDialog {
        PinDialog {
            program: program.into(),
            timeout: DEFAULT_TIMEOUT,
            env: Vec::new(),
            open: std::sync::Arc::default(),
            client: None,
        }
    }

    /// Finds the pinentry program: `configured` (the config key `pinentry`; a bare name is
    /// looked up in `PATH`) if given, else the first of pinentry-gnome3, pinentry-qt,
    /// pinentry-gtk-2, pinentry-gtk2, pinentry-mac, pinentry in `PATH` (Gpg4win's on Windows).
    /// A configured program that is missing is an error, not a reason to pick another: the
    /// user chose it.
    pub fn find(configured: Option<&Path>) -> Result<PinDialog> {
        find_in(configured, &search_dirs())
    }

    /// The same dialog with another overall timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> PinDialog {
        self.timeout = timeout;
        self
    }

    /// The same dialog with one environment variable set for the program.
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> PinDialog {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The program run.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The overall timeout of one dialog.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Shows the PIN dialog and returns what the user typed. Blocks until the user answers or
    /// the timeout passes; call it from a blocking thread. Refuses with [`Error::PinLocked`],
    /// without showing anything, when the card has no tries left.
    ///
    /// Errors: [`Error::UserCancelled`] when the user cancels, [`Error::Timeout`],
    /// [`Error::PinFormat`] for an answer too long to be a PIN, [`Error::PinDialog`] when the
    /// program fails or breaks the protocol.
    pub fn ask_pin(&self, request: &PinRequest<'_>) -> Result<Pin> {
        if request.tries_left == Some(0) {
            return Err(Error::PinLocked);
        }
        let mut session = Session::start(self)?;
        let result = run_getpin(&mut session, request);
        session.close();
        result
    }

    /// Shows "enter the PIN on the card reader" (naming the site and the certificate) for a
    /// reader with its own PIN pad, and returns at once: the dialog stays on screen while the
    /// reader takes the PIN, and closes when the returned value is dropped. It has no PIN field.
    pub fn show_reader_notice(&self, request: &PinRequest<'_>) -> Result<ReaderNotice> {
        let lang = request.lang;
        let mut session = Session::start(self)?;
        session.expect_ok("SETTITLE", text::pin_title(lang))?;
        session.expect_ok("SETDESC", &text::reader_description(request))?;
        session.expect_ok("SETOK", text::ok_label(lang))?;
        session.set_own_timeout()?;
        session.send_only("MESSAGE\n")?;
        Ok(ReaderNotice { _session: session })
    }

    /// Closes every dialog open through this `PinDialog` or its clones (the program is killed;
    /// the waiting [`ask_pin`](Self::ask_pin) or [`confirm_site`](Self::confirm_site) fails
    /// with [`Error::PinDialog`]) and refuses to open any more. For a daemon that is stopping:
    /// it must not wait minutes for the user, nor leave a PIN prompt on screen for a process
    /// that is gone.
    pub fn close_all(&self) {
        self.open.close_all();
    }

    /// The same dialog, for `client`: [`PinDialog::close_client`] ends it when the client goes.
    pub fn for_client(&self, client: &Client) -> PinDialog {
        PinDialog {
            client: Some(client.clone()),
            ..self.clone()
        }
    }

    /// Marks `client` gone and closes the dialogs open for it (their programs are killed, the
    /// waiting calls fail with [`Error::PinDialog`]); no new dialog opens for it. For a daemon
    /// whose client disconnected: nobody would receive the answer, and a PIN prompt for a page
    /// that is gone must not stay on screen, nor queue up behind another.
    pub fn close_client(&self, client: &Client) {
        self.open.close_client(client);
    }

    /// Asks the user whether `origin` may use the card, in a native dialog naming the site.
    /// Returns `Ok(true)` only when the user pressed the allow button; cancelling or refusing is
    /// `Ok(false)`. Errors: [`Error::Timeout`], [`Error::PinDialog`].
    pub fn confirm_site(&self, origin: &str, lang: Language) -> Result<bool> {
        let mut session = Session::start(self)?;
        let result = run_confirm(&mut session, origin, lang);
        session.close();
        result
    }
}

/// The "enter the PIN on the reader" dialog on screen; dropping it closes the dialog.
pub struct ReaderNotice {
    _session: Session,
}

impl std::fmt::Debug for ReaderNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReaderNotice")
    }
}

fn run_getpin(session: &mut Session, request: &PinRequest<'_>) -> Result<Pin> {
    let lang = request.lang;
    session.expect_ok("SETTITLE", text::pin_title(lang))?;
    session.expect_ok("SETDESC", &text::pin_description(request))?;
    session.expect_ok("SETPROMPT", "PIN:")?;
    if let Some(warning) = text::pin_warning(request) {
        session.expect_ok("SETERROR", &warning)?;
    }
    session.expect_ok("SETOK", text::ok_label(lang))?;
    session.expect_ok("SETCANCEL", text::cancel_label(lang))?;
    session.set_own_timeout()?;
    match session.transact("GETPIN\n")? {
        Outcome::Ok { data, overflow } => pin_from_data(data, overflow),
        Outcome::Err { code, .. } if gpg_err::is_cancel(code) => Err(Error::UserCancelled),
        Outcome::Err { code, .. } if gpg_err::is_timeout(code) => Err(Error::Timeout),
        Outcome::Err { code, text } => Err(refused("GETPIN", code, &text)),
    }
}

fn run_confirm(session: &mut Session, origin: &str, lang: Language) -> Result<bool> {
    session.expect_ok("SETTITLE", text::confirm_title(lang))?;
    session.expect_ok("SETDESC", &text::confirm_description(origin, lang))?;
    session.expect_ok("SETOK", text::allow_label(lang))?;
    session.expect_ok("SETCANCEL", text::deny_label(lang))?;
    session.set_own_timeout()?;
    match session.transact("CONFIRM\n")? {
        Outcome::Ok { .. } => Ok(true),
        Outcome::Err { code, .. }
            if gpg_err::is_cancel(code) || gpg_err::is_not_confirmed(code) =>
        {
            Ok(false)
        }
        Outcome::Err { code, .. } if gpg_err::is_timeout(code) => Err(Error::Timeout),
        Outcome::Err { code, text } => Err(refused("CONFIRM", code, &text)),
    }
}

/// Turns the decoded `D` data into a [`Pin`] without leaving a copy behind.
fn pin_from_data(mut data: Zeroizing<Vec<u8>>, overflow: bool) -> Result<Pin> {
    if overflow || data.len() > MAX_PIN_INPUT {
        return Err(PinFormatError::TooLong { max: MAX_PIN_INPUT }.into());
    }
    match String::from_utf8(std::mem::take(&mut *data)) {
        Ok(pin) => Ok(Pin::new(pin)),
        Err(e) => {
            e.into_bytes().zeroize();
            // Not UTF-8, so not digits: the format check rejects this marker with its usual
            // message, as `Pin::read_line` does.
            Ok(Pin::new("\u{fffd}".to_owned()))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Finding the program.

fn find_in(configured: Option<&Path>, dirs: &[PathBuf]) -> Result<PinDialog> {
    if let Some(path) = configured {
        let bare_name = path.parent().is_none_or(|p| p.as_os_str().is_empty());
        let found = if bare_name {
            dirs.iter().map(|d| d.join(path)).find(|p| is_executable(p))
        } else {
            Some(path.to_path_buf()).filter(|p| is_executable(p))
        };
        return found.map(PinDialog::new).ok_or_else(|| Error::NoPinDialog {
            tried: format!("{} (set by the configuration key pinentry)", path.display()),
        });
    }
    CANDIDATES
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| is_executable(p))
        .map(PinDialog::new)
        .ok_or_else(|| Error::NoPinDialog {
            tried: format!("{} in PATH", CANDIDATES.join(", ")),
        })
}

/// `PATH`, plus the places pinentries are installed that a daemon's `PATH` often lacks.
fn search_dirs() -> Vec<PathBuf> {
    let path_dirs: Vec<PathBuf> = match std::env::var_os("PATH") {
        Some(path) => std::env::split_paths(&path).collect(),
        None => ["/usr/local/bin", "/usr/bin", "/bin"]
            .iter()
            .map(PathBuf::from)
            .collect(),
    };
    path_dirs.into_iter().chain(platform_dirs()).collect()
}

/// Homebrew and GPG Suite install outside the `PATH` a launchd agent gets.
#[cfg(target_os = "macos")]
fn platform_dirs() -> Vec<PathBuf> {
    [
        "/opt/homebrew/bin",
        "/usr/local/bin",
        "/usr/local/MacGPG2/libexec/pinentry-mac.app/Contents/MacOS",
    ]
    .iter()
    .map(PathBuf::from)
    .collect()
}

/// Gpg4win and GnuPG install under Program Files without touching `PATH`.
#[cfg(windows)]
fn platform_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["ProgramFiles(x86)", "ProgramFiles"] {
        if let Some(base) = std::env::var_os(var) {
            let base = PathBuf::from(base);
            dirs.push(base.join("Gpg4win").join("bin"));
            dirs.push(base.join("GnuPG").join("bin"));
        }
    }
    dirs
}

/// Elsewhere, distributions install pinentries in `PATH`.
#[cfg(not(any(target_os = "macos", windows)))]
fn platform_dirs() -> Vec<PathBuf> {
    Vec::new()
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::assuan::decode_data;
    use super::*;
    use std::time::Instant;

    const PIN: &str = "246813";

    fn request(lang: Language) -> PinRequest<'static> {
        PinRequest {
            site: Some("https://www.etax.nat.gov.tw"),
            holder: "王小明",
            card: "MOICA 自然人憑證 (TP0312345678)",
            tries_left: Some(2),
            after_wrong_pin: false,
            lang,
        }
    }

    // ----- finding the program -----

    #[cfg(unix)]
    #[test]
    fn find_prefers_graphical_pinentries_and_honours_the_configured_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str, mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        };
        make("pinentry", 0o755);
        let qt = make("pinentry-qt", 0o755);
        make("pinentry-gnome3", 0o644); // not executable: skipped
        let dirs = vec![dir.path().join("missing"), dir.path().to_path_buf()];
        assert_eq!(find_in(None, &dirs).unwrap().program(), qt);
        assert_eq!(
            find_in(Some(Path::new("pinentry-qt")), &dirs)
                .unwrap()
                .program(),
            qt
        );
        assert_eq!(find_in(Some(&qt), &[]).unwrap().program(), qt);

        let e = find_in(Some(Path::new("/nonexistent/pinentry-x")), &dirs).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/pinentry-x"), "{e}");
        let e = find_in(None, &[dir.path().join("missing")]).unwrap_err();
        assert_eq!(e.code(), card_agent_protocol::ErrorCode::PinRequired);
        assert!(e
            .user_message(Language::En)
            .contains("apt install pinentry-gnome3"));
        assert!(e
            .user_message(Language::ZhTw)
            .contains("apt install pinentry-gnome3"));
    }

    // ----- against the scripted pinentry -----

    /// The `fake-pinentry` test program: `CARD_AGENT_FAKE_PINENTRY`, else next to this test
    /// binary's directory (`<target>/debug/fake-pinentry`). Missing is a failure, not a skip:
    /// these tests are the only check of the real process handling.
    fn fake_pinentry() -> PathBuf {
        if let Some(path) = std::env::var_os("CARD_AGENT_FAKE_PINENTRY") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().unwrap();
        // <target>/debug/deps/card_agent-<hash> -> <target>/debug/fake-pinentry
        let path = exe
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join(format!("fake-pinentry{}", std::env::consts::EXE_SUFFIX));
        assert!(
            path.is_file(),
            "{} not found: build it first with `cargo build -p card-agent-testbed --bin \
             fake-pinentry`, or point CARD_AGENT_FAKE_PINENTRY at it",
            path.display()
        );
        path
    }

    struct Fake {
        dialog: PinDialog,
        log: PathBuf,
        _dir: tempfile::TempDir,
    }

    fn fake(action: &str, pin: &str) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("pinentry.log");
        let dialog = PinDialog::new(fake_pinentry())
            .with_timeout(Duration::from_secs(20))
            .with_env("FAKE_PINENTRY_ACTION", action)
            .with_env("FAKE_PINENTRY_PIN", pin)
            .with_env("FAKE_PINENTRY_LOG", &log);
        Fake {
            dialog,
            log,
            _dir: dir,
        }
    }

    impl Fake {
        fn log(&self) -> String {
            std::fs::read_to_string(&self.log).unwrap_or_default()
        }

        fn setdesc(&self) -> String {
            let log = self.log();
            let line = log
                .lines()
                .find_map(|l| l.strip_prefix("SETDESC "))
                .unwrap()
                .to_owned();
            let mut bytes = Vec::with_capacity(4 * MAX_LINE);
            assert_eq!(
                decode_data(line.as_bytes(), &mut bytes, 4 * MAX_LINE),
                Ok(false)
            );
            String::from_utf8(bytes).unwrap()
        }
    }

    #[test]
    fn ask_pin_returns_the_pin_and_the_log_names_site_holder_tries_but_not_the_pin() {
        let f = fake("pin", PIN);
        let pin = f
            .dialog
            .ask_pin(&PinRequest {
                after_wrong_pin: true,
                ..request(Language::ZhTw)
            })
            .unwrap();
        assert_eq!(pin.expose(), PIN);
        assert_eq!(format!("{pin:?}"), "Pin(<redacted>)");

        let log = f.log();
        let verbs: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(
            verbs,
            [
                "SETTITLE",
                "SETDESC",
                "SETPROMPT",
                "SETERROR",
                "SETOK",
                "SETCANCEL",
                "SETTIMEOUT",
                "GETPIN",
                "BYE"
            ]
        );
        let desc = f.setdesc();
        for part in ["https://www.etax.nat.gov.tw", "王小明", "剩餘嘗試次數：2"] {
            assert!(desc.contains(part), "{desc}");
        }
        assert!(log.contains("SETPROMPT PIN:"));
        assert!(log.contains("SETERROR PIN 碼錯誤。剩餘 2 次"), "{log}");
        assert!(
            !log.contains(PIN) && !log.contains("<redacted-pin>"),
            "{log}"
        );
    }

    #[test]
    fn description_with_percent_newlines_and_chinese_survives_the_pipe() {
        let f = fake("pin", PIN);
        let req = PinRequest {
            holder: "100% 王小明",
            card: "卡%0A片",
            ..request(Language::En)
        };
        f.dialog.ask_pin(&req).unwrap();
        assert_eq!(f.setdesc(), text::pin_description(&req));
        assert!(
            f.log().contains("Holder: 100%25 王小明%0ACard: 卡%250A片"),
            "{}",
            f.log()
        );
    }

    #[test]
    fn pin_data_is_unescaped() {
        let f = fake("pin", "12%34");
        assert_eq!(
            f.dialog.ask_pin(&request(Language::En)).unwrap().expose(),
            "12%34"
        );
        let f = fake("pin", "");
        assert_eq!(
            f.dialog.ask_pin(&request(Language::En)).unwrap().expose(),
            ""
        );
    }

    #[test]
    fn cancel_is_user_cancelled() {
        let f = fake("cancel", PIN);
        let e = f.dialog.ask_pin(&request(Language::En)).unwrap_err();
        assert!(matches!(e, Error::UserCancelled), "{e:?}");
        assert!(
            f.log().lines().last() == Some("BYE"),
            "a cancelled dialog still says goodbye"
        );
        assert!(!f
            .dialog
            .confirm_site("https://a.gov.tw", Language::En)
            .unwrap());
    }

    #[test]
    fn confirm_and_deny() {
        let f = fake("confirm", PIN);
        assert!(f
            .dialog
            .confirm_site("https://shop.example.com", Language::ZhTw)
            .unwrap());
        let log = f.log();
        assert!(
            log.contains("SETDESC 網站%0A%0Ahttps://shop.example.com%0A%0A要求使用"),
            "{log}"
        );
        assert!(
            log.contains("SETOK 允許") && log.contains("SETCANCEL 拒絕"),
            "{log}"
        );
        assert!(log.contains("\nCONFIRM\n"), "{log}");

        let f = fake("deny", PIN);
        assert!(!f
            .dialog
            .confirm_site("https://shop.example.com", Language::En)
            .unwrap());
        assert!(f.log().contains("SETOK Allow"));
    }

    #[test]
    fn a_hanging_program_is_killed_at_the_deadline() {
        let f = fake("hang", PIN);
        let dialog = f.dialog.clone().with_timeout(Duration::from_millis(700));
        let started = Instant::now();
        let e = dialog.ask_pin(&request(Language::En)).unwrap_err();
        assert!(matches!(e, Error::Timeout), "{e:?}");
        let e = dialog
            .confirm_site("https://a.gov.tw", Language::En)
            .unwrap_err();
        assert!(matches!(e, Error::Timeout), "{e:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(f.log().contains("GETPIN"));
    }

    #[test]
    fn misbehaving_programs_are_clear_errors() {
        let f = fake("longline", PIN);
        let e = f.dialog.ask_pin(&request(Language::En)).unwrap_err();
        assert!(
            matches!(&e, Error::PinDialog(m) if m.contains("longer than 1000 bytes")),
            "{e:?}"
        );
        assert_eq!(e.code(), card_agent_protocol::ErrorCode::PinRequired);

        let f = fake("exit", PIN);
        let e = f.dialog.ask_pin(&request(Language::En)).unwrap_err();
        assert!(
            matches!(&e, Error::PinDialog(m) if m.contains("exited")),
            "{e:?}"
        );

        let e = PinDialog::new("/nonexistent/pinentry")
            .ask_pin(&request(Language::En))
            .unwrap_err();
        assert!(
            matches!(&e, Error::PinDialog(m) if m.contains("cannot start")),
            "{e:?}"
        );
        assert!(e.user_message(Language::ZhTw).contains("PIN 碼輸入視窗"));
    }

    #[test]
    fn a_terminal_pinentry_without_a_terminal_gets_a_hint() {
        // What pinentry-curses 1.2.1 answers GETPIN with when it has no terminal.
        let e = refused(
            "GETPIN",
            83918950,
            "Inappropriate ioctl for device <Pinentry>",
        );
        assert!(e.to_string().contains("install a graphical one"), "{e}");
        let e = refused("GETPIN", 83886142, "Timeout <Pinentry>");
        assert!(!e.to_string().contains("graphical"), "{e}");
    }

    #[test]
    fn closed_dialogs_stay_closed() {
        let f = fake("pin", PIN);
        // Clones share the set of open dialogs: the daemon closes them through the service's.
        f.dialog.clone().close_all();
        let e = f.dialog.ask_pin(&request(Language::En)).unwrap_err();
        assert!(
            matches!(&e, Error::PinDialog(m) if m.contains("stopping")),
            "{e:?}"
        );
        let e = f
            .dialog
            .confirm_site("https://a.gov.tw", Language::En)
            .unwrap_err();
        assert!(matches!(&e, Error::PinDialog(_)), "{e:?}");
        assert_eq!(f.log(), "", "no program was started");
    }

    #[test]
    fn no_dialog_opens_for_a_client_that_went_away() {
        let f = fake("pin", PIN);
        let (gone, here) = (Client::new(), Client::new());
        f.dialog.close_client(&gone);
        assert!(gone.is_gone() && !here.is_gone());
        let e = f
            .dialog
            .for_client(&gone)
            .ask_pin(&request(Language::En))
            .unwrap_err();
        assert!(
            matches!(&e, Error::PinDialog(m) if m.contains("went away")),
            "{e:?}"
        );
        assert_eq!(f.log(), "", "no program was started");
        // Other clients are not affected.
        let pin = f.dialog.for_client(&here).ask_pin(&request(Language::En));
        assert_eq!(pin.unwrap().expose(), PIN);
    }

    #[test]
    fn a_locked_card_is_not_asked_for_its_pin() {
        let f = fake("pin", PIN);
        let req = PinRequest {
            tries_left: Some(0),
            ..request(Language::En)
        };
        assert!(matches!(f.dialog.ask_pin(&req), Err(Error::PinLocked)));
        assert_eq!(f.log(), "", "no program was started");
    }

    #[test]
    fn a_pin_too_long_to_be_real_is_refused() {
        let f = fake("pin", &"1".repeat(MAX_PIN_INPUT + 1));
        let e = f.dialog.ask_pin(&request(Language::En)).unwrap_err();
        assert!(
            matches!(e, Error::PinFormat(PinFormatError::TooLong { .. })),
            "{e:?}"
        );
        assert!(!e.to_string().contains("1111"));
    }
}
