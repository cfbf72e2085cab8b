//! The agent's error type and its one mapping to stable wire codes.
//!
//! Lower layers (PKCS#11, PC/SC, certificates, files) produce these variants; every transport
//! (CLI, native protocol, legacy HTTP API) turns them into codes through [`Error::code`] and
//! into words through [`Error::user_message`], so no adapter decides a code on its own.

use card_agent_protocol::frame::FrameError;
use card_agent_protocol::{i18n, ErrorCode, Language};

use crate::pin::PinFormatError;

/// Result with the agent's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in card-agent. Never carries a PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// PC/SC reports no reader.
    #[error("no smart card reader found")]
    NoReader,
    /// The smart-card service (pcscd, or Windows' SCardSvr) cannot be reached.
    #[error("the smart card service is not available: {0}")]
    PcscService(String),
    /// A reader is present but holds no card.
    #[error("no card in the reader")]
    NoCard,
    /// A card is present but no loaded module presents it as a token.
    #[error("unknown card (ATR {atr})")]
    UnknownCard {
        /// The card's ATR in hex.
        atr: String,
    },
    /// No PKCS#11 module could be loaded.
    #[error("no PKCS#11 module could be loaded (tried: {tried})")]
    NoModule {
        /// Paths tried, with reasons.
        tried: String,
    },
    /// No token matches the request.
    #[error("no matching token{}", .serial.as_deref().map(|s| format!(" with serial {s}")).unwrap_or_default())]
    NoToken {
        /// The serial asked for, if any.
        serial: Option<String>,
    },
    /// Several tokens or certificates match and the caller must choose.
    #[error("{what}: choose one by its {}", .choose.by_what())]
    Ambiguous {
        /// What is ambiguous.
        what: String,
        /// What the caller names to choose. Each channel says how in its own terms (the CLI
        /// adds its flag); the message itself names no channel's syntax.
        choose: Choice,
    },
    /// No certificate matches the request.
    #[error("certificate {wanted} not found")]
    CertNotFound {
        /// What was asked for.
        wanted: String,
    },
    /// The certificate has no matching private key on the token.
    #[error("no private key for the chosen certificate")]
    KeyNotFound,
    /// The certificate is outside its validity period (checked only when a caller asks).
    #[error("the certificate {}", if *.expired { "has expired" } else { "is not valid yet" })]
    CertificateNotValid {
        /// True when expired, false when not yet valid.
        expired: bool,
    },
    /// The card refused the PIN.
    #[error("wrong PIN{}", tries_text(*.tries_left))]
    PinIncorrect {
        /// Tries left, when known.
        tries_left: Option<u8>,
    },
    /// A key with a login of its own (CKA_ALWAYS_AUTHENTICATE) refused the PIN after the card's
    /// user login had accepted it: the key has a PIN of its own, whose count the card does not
    /// report (so no tries left are given).
    #[error("wrong PIN for this key's own login")]
    KeyPinIncorrect,
    /// The card already refused this PIN, so it was not sent again (see the card core's
    /// refused PINs). Pages hear it as a wrong PIN, which it is.
    #[error("wrong PIN: the card already refused it, so it was not sent again{}", tries_text(*.tries_left))]
    PinAlreadyRefused {
        /// Tries left, as the card reported them just now, when known.
        tries_left: Option<u8>,
    },
    /// The PIN is locked.
    #[error("the PIN is locked")]
    PinLocked,
    /// The PIN failed the format rule and was not sent.
    #[error("PIN not accepted: {0}; it was not sent to the card")]
    PinFormat(#[from] PinFormatError),
    /// A PIN is needed and none was given.
    #[error("a PIN is required")]
    PinRequired,
    /// The user cancelled.
    #[error("cancelled by the user")]
    UserCancelled,
    /// The key cannot do what was asked.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The card or token went away during the operation.
    #[error("the card was removed during the operation")]
    CardRemoved,
    /// The caller's input was malformed.
    #[error("{0}")]
    BadInput(String),
    /// A CMS EnvelopedData that cannot be opened (legacy `DecryptData`, PKCS7).
    #[error(transparent)]
    Envelope(#[from] crate::envelope::EnvelopeError),
    /// An install path cannot be written into a desktop entry or systemd unit safely.
    #[error("{path}: cannot be used in a desktop entry or service file ({reason})")]
    UnsafeInstallPath {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate could not be parsed.
    #[error("certificate could not be read: {0}")]
    Certificate(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A PKCS#11 module stopped answering (a hung C_Initialize or C_GetSlotList); it is not
    /// called again until the agent restarts.
    #[error("the PKCS#11 module {module} did not answer {function} within {seconds} s")]
    ModuleNotAnswering {
        /// The module's path.
        module: String,
        /// The function that did not return.
        function: &'static str,
        /// How long it was given.
        seconds: u64,
    },
    /// A PKCS#11 module answered something impossible (a length no card has, text that is not
    /// UTF-8); nothing of that answer is used.
    #[error("the PKCS#11 module {module} answered {function} with nonsense: {what}")]
    ModuleGarbage {
        /// The module's path.
        module: String,
        /// The function.
        function: &'static str,
        /// What was wrong.
        what: String,
    },
    /// A PKCS#11 call failed in a way no other variant describes.
    #[error("PKCS#11 {function} failed: {reason}")]
    Pkcs11 {
        /// The function that failed.
        function: &'static str,
        /// The module's return value or reason.
        reason: String,
    },
    /// Another daemon already serves this user.
    #[error("card-agent is already running for this user (pid {pid}, {socket})")]
    AlreadyRunning {
        /// Its process ID, as written in the lock file.
        pid: String,
        /// Its socket.
        socket: String,
    },
    /// The native host was started by a browser extension that is not ours.
    #[error("native-host: caller {caller} is not an allowed extension")]
    CallerNotAllowed {
        /// Who called.
        caller: String,
    },
    /// The legacy API's port is taken.
    #[error("cannot listen on {address}: the port is already in use{holder}")]
    PortInUse {
        /// The address.
        address: String,
        /// ` by <process> (pid N)` when known.
        holder: String,
    },
    /// A frame on a local channel (the browser's pipe, the daemon's socket) broke the framing
    /// rules: empty, over the limit, or cut off by the end of input.
    #[error("{0}")]
    Frame(FrameError),
    /// A frame started but did not arrive whole within the deadline.
    #[error("a frame did not arrive whole within {seconds} s")]
    FrameDeadline {
        /// The deadline.
        seconds: u64,
    },
    /// A request that must carry the page's origin (the browser gives it) came without one.
    #[error(
        "the request has no origin: a page's request always carries the one the browser gives"
    )]
    OriginRequired,
    /// The daemon could not be reached or started.
    #[error("the card-agent service could not be reached: {0}")]
    AgentUnavailable(String),
    /// An operation took too long.
    #[error("timed out")]
    Timeout,
    /// The caller already has as many requests waiting as the agent queues for one client;
    /// this one was refused at once rather than queued without bound.
    #[error("too many requests from this caller are waiting")]
    Busy,
    /// The caller stopped waiting (its deadline passed, or its connection went away) before its
    /// card operation started, or while it ran: nothing was sent to the card, or the result
    /// was discarded.
    #[error("the caller stopped waiting; the card operation was not started or its result was discarded")]
    CallerGone,
    /// The card reached its final try while the request waited for its turn, so a page's PIN
    /// may no longer be used: nothing was sent to the card. The service then asks in its own
    /// dialog (the PIN-source table's final-try row), so a caller does not see this; should it
    /// escape, it says a PIN from the dialog is needed.
    #[error(
        "the card reached its final PIN try while the request waited; nothing was sent to the card"
    )]
    PinStateChanged,
    /// The browser-supplied origin is not a well-formed `scheme://host[:port]`.
    #[error("invalid origin \"{input}\": {reason}")]
    BadOrigin {
        /// The input, shortened to 80 characters with control characters escaped.
        input: String,
        /// Which rule it broke (the site policy names it).
        reason: Reason,
    },
    /// The origin is well formed but not a secure context (https, or http on loopback), so it
    /// can never use the card.
    #[error("{origin} is not a secure origin: only https sites (http only on localhost) may use the card")]
    InsecureOrigin {
        /// The canonical origin.
        origin: String,
    },
    /// Neither `trusted_sites` nor the user's approvals cover the site.
    #[error("{origin} is not a trusted site")]
    SiteNotTrusted {
        /// The canonical origin.
        origin: String,
    },
    /// A `trusted_sites` entry in the configuration was refused.
    #[error("trusted_sites entry \"{pattern}\" is not valid: {reason}")]
    BadSitePattern {
        /// The entry, shortened to 80 characters with control characters escaped.
        pattern: String,
        /// Why (the site policy names it).
        reason: Reason,
    },
    /// No pinentry program (the trusted PIN dialog) could be found.
    #[error("no PIN dialog program (pinentry) found (looked for: {tried})")]
    NoPinDialog {
        /// What was looked for, and where.
        tried: String,
    },
    /// The pinentry program failed or broke the protocol. Never carries a PIN.
    #[error("the PIN dialog failed: {0}")]
    PinDialog(String),
    /// A command for the user's own programs (managing trusted sites) came with a page's
    /// origin.
    #[error("{command} is only for card-agent's own programs (the tray, the command line), not for web pages")]
    LocalOnly {
        /// The command refused.
        command: String,
    },
    /// Who sent a request cannot be told (an origin that does not parse, a foreign extension, a
    /// legacy request without an `Origin`): refused, never taken for a local program.
    #[error("the caller is not recognised ({what}); refused")]
    UnknownCaller {
        /// What was seen, shortened, for the log and the message.
        what: String,
    },
    /// A page sent a PIN through a channel whose pages may never send one (card-agent's own
    /// API): the agent asks in its own dialog.
    #[error("pages may not send a PIN; card-agent asks for it in its own dialog")]
    PinFromPage,
    /// The card has one PIN try left: its PIN is then taken only in the agent's own dialog,
    /// never from a page, and no dialog program was found. Nothing was sent to the card.
    #[error("the card has one PIN try left, so card-agent asks for the PIN only in its own dialog, and no dialog program was found (looked for: {tried}); nothing was sent to the card")]
    FinalTryNeedsDialog {
        /// What was looked for, and where.
        tried: String,
    },
    /// The running card-agent daemon refused the request (the command line goes through it);
    /// its answer as it gave it.
    #[error("{}", .0.message)]
    Agent(Box<card_agent_protocol::message::ErrorBody>),
    /// A feature that this build for this operating system does not have yet.
    #[error("{feature} is not yet available on this platform")]
    NotOnThisPlatform {
        /// What is missing, e.g. "the tray".
        feature: &'static str,
    },
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why an input was refused, as a key of the message catalogue.
///
/// The layer that owns a rule names the reason (the site policy's `policy.origin.*` and
/// `policy.pattern.*` keys); this crate only shows it, in the caller's language, so the card
/// layer carries no policy of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason(&'static str);

impl Reason {
    /// A reason by its catalogue key (e.g. `policy.origin.has_path`).
    pub const fn from_catalogue(key: &'static str) -> Self {
        Reason(key)
    }

    /// The catalogue key.
    pub fn key(self) -> &'static str {
        self.0
    }

    /// The reason in the given language.
    pub fn message(self, lang: Language) -> &'static str {
        i18n::text(lang, self.0)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message(Language::En))
    }
}

/// What a caller names to pick one of several matches ([`Error::Ambiguous`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A token, by its serial number (`verify-pin`'s `token`, the CLI's `--token`).
    Token,
    /// A certificate, by its SHA-256 thumbprint (`certificate`, the CLI's `--cert`).
    Certificate,
}

impl Choice {
    /// What identifies the choice, for messages.
    pub fn by_what(self) -> &'static str {
        match self {
            Choice::Token => "serial number",
            Choice::Certificate => "SHA-256 thumbprint",
        }
    }
}

fn tries_text(tries: Option<u8>) -> String {
    match tries {
        Some(n) => format!(" ({n} tries left)"),
        None => String::new(),
    }
}

impl Error {
    /// The stable wire code. The one place internal errors become codes.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Agent(body) => body.code,
            Error::NoReader | Error::PcscService(_) => ErrorCode::NoReader,
            Error::NoCard => ErrorCode::NoCard,
            Error::UnknownCard { .. } => ErrorCode::UnknownCard,
            Error::NoModule { .. } => ErrorCode::NoModule,
            Error::NoToken { .. } => ErrorCode::NoToken,
            Error::Ambiguous { .. }
            | Error::BadInput(_)
            | Error::Envelope(_)
            | Error::UnsafeInstallPath { .. }
            | Error::BadOrigin { .. }
            | Error::BadSitePattern { .. }
            | Error::LocalOnly { .. }
            | Error::PinFromPage
            | Error::Frame(_)
            | Error::FrameDeadline { .. }
            | Error::OriginRequired => ErrorCode::BadRequest,
            // To a page, an insecure origin means what an unapproved one means: this origin
            // may not use the card. The message says that only https fixes it.
            Error::SiteNotTrusted { .. } | Error::InsecureOrigin { .. } => {
                ErrorCode::SiteNotTrusted
            }
            // No dialog, no PIN: the operation could not get the PIN it needs.
            Error::NoPinDialog { .. } | Error::PinDialog(_) | Error::FinalTryNeedsDialog { .. } => {
                ErrorCode::PinRequired
            }
            Error::CertNotFound { .. } => ErrorCode::CertNotFound,
            Error::KeyNotFound => ErrorCode::KeyNotFound,
            Error::CertificateNotValid { expired: true } => ErrorCode::CertExpired,
            Error::CertificateNotValid { expired: false } => ErrorCode::CertNotYetValid,
            Error::PinIncorrect { .. }
            | Error::PinAlreadyRefused { .. }
            | Error::KeyPinIncorrect => ErrorCode::PinIncorrect,
            Error::PinLocked => ErrorCode::PinLocked,
            Error::PinFormat(_) => ErrorCode::PinFormat,
            Error::PinRequired => ErrorCode::PinRequired,
            Error::UserCancelled => ErrorCode::UserCancelled,
            Error::Unsupported(_) => ErrorCode::UnsupportedAlgorithm,
            Error::CardRemoved => ErrorCode::CardRemoved,
            Error::Io { .. } => ErrorCode::IoError,
            Error::Timeout | Error::CallerGone => ErrorCode::Timeout,
            Error::Busy => ErrorCode::Busy,
            Error::PinStateChanged => ErrorCode::PinRequired,
            Error::CallerNotAllowed { .. } | Error::UnknownCaller { .. } => {
                ErrorCode::SiteNotTrusted
            }
            Error::AlreadyRunning { .. }
            | Error::AgentUnavailable(_)
            | Error::PortInUse { .. }
            | Error::NotOnThisPlatform { .. } => ErrorCode::Internal,
            Error::ModuleNotAnswering { .. } => ErrorCode::Timeout,
            Error::Certificate(_)
            | Error::Pkcs11 { .. }
            | Error::ModuleGarbage { .. }
            | Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Tries left, for the errors that know it.
    pub fn tries_left(&self) -> Option<u8> {
        match self {
            Error::PinIncorrect { tries_left } | Error::PinAlreadyRefused { tries_left } => {
                *tries_left
            }
            Error::PinLocked => Some(0),
            Error::Agent(body) => body.retries_left,
            _ => None,
        }
    }

    /// One line for a person: the code's message in their language, then the specifics. The
    /// words come from the message catalogue (`error.*` keys, see
    /// [`card_agent_protocol::i18n`]).
    pub fn user_message(&self, lang: Language) -> String {
        let base = self.code().message(lang);
        let detail = |key: &str, args: &[(&str, &dyn std::fmt::Display)]| {
            let mut all: Vec<(&str, &dyn std::fmt::Display)> = vec![("message", &base)];
            all.extend_from_slice(args);
            i18n::format(lang, key, &all)
        };
        match self {
            Error::PinIncorrect {
                tries_left: Some(n),
            } => detail("error.detail.tries_left", &[("tries", n)]),
            Error::PinAlreadyRefused {
                tries_left: Some(n),
            } => detail("error.detail.pin_already_refused_tries", &[("tries", n)]),
            Error::PinAlreadyRefused { tries_left: None } => {
                detail("error.detail.pin_already_refused", &[])
            }
            Error::KeyPinIncorrect => detail("error.detail.key_pin_incorrect", &[]),
            Error::BadOrigin { input, reason } => detail(
                "error.detail.bad_origin",
                &[("reason", &reason.message(lang)), ("input", input)],
            ),
            Error::SiteNotTrusted { origin } => {
                detail("error.detail.generic", &[("detail", origin)])
            }
            Error::InsecureOrigin { origin } => {
                detail("error.detail.insecure_origin", &[("origin", origin)])
            }
            Error::BadSitePattern { pattern, reason } => detail(
                "error.detail.bad_site_pattern",
                &[("pattern", pattern), ("reason", &reason.message(lang))],
            ),
            Error::NoPinDialog { tried } => {
                detail("error.detail.no_pin_dialog", &[("tried", tried)])
            }
            Error::PinDialog(reason) => detail("error.detail.pin_dialog", &[("reason", reason)]),
            Error::UnknownCaller { what } => {
                detail("error.detail.unknown_caller", &[("what", what)])
            }
            Error::PinFromPage => detail("error.detail.pin_from_page", &[]),
            // The daemon's words, in its language (the user's own daemon: the same locale).
            Error::Agent(body) => body.message.clone(),
            Error::CallerGone => detail("error.detail.caller_gone", &[]),
            Error::PinStateChanged => detail("error.detail.pin_state_changed", &[]),
            Error::FinalTryNeedsDialog { tried } => {
                detail("error.detail.final_try_needs_dialog", &[("tried", tried)])
            }
            Error::UnsafeInstallPath { path, reason } => detail(
                "error.detail.unsafe_install_path",
                &[("path", path), ("reason", reason)],
            ),
            Error::Frame(FrameError::TooLarge { announced, limit }) => detail(
                "error.detail.frame_too_large",
                &[("announced", announced), ("limit", limit)],
            ),
            Error::Frame(FrameError::Empty) => detail("error.detail.frame_empty", &[]),
            Error::Frame(FrameError::Truncated { received, expected }) => detail(
                "error.detail.frame_cut",
                &[("received", received), ("expected", expected)],
            ),
            Error::FrameDeadline { seconds } => {
                detail("error.detail.frame_deadline", &[("seconds", seconds)])
            }
            Error::OriginRequired => detail("error.detail.origin_required", &[]),
            // The format rule's own words are English only; in Chinese the code's message
            // already says what the rule is.
            Error::PinFormat(e) if lang == Language::En => {
                detail("error.detail.generic", &[("detail", e)])
            }
            Error::NoReader
            | Error::NoCard
            | Error::PinLocked
            | Error::PinRequired
            | Error::UserCancelled
            | Error::CardRemoved
            | Error::Timeout
            | Error::Busy
            | Error::PinIncorrect { tries_left: None }
            | Error::PinFormat(_) => base.to_owned(),
            other => detail("error.detail.generic", &[("detail", other)]),
        }
    }

    /// The error as the native protocol sends it: code, message for a person, and the details
    /// a page can act on (tries left, the unknown card's ATR).
    pub fn to_wire(&self, lang: Language) -> card_agent_protocol::message::ErrorBody {
        if let Error::Agent(body) = self {
            return (**body).clone();
        }
        let mut body =
            card_agent_protocol::message::ErrorBody::new(self.code(), self.user_message(lang));
        if let Some(n) = self.tries_left() {
            body = body.with_retries_left(n);
        }
        if let Error::LocalOnly { .. } | Error::OriginRequired = self {
            body = body.with_field("origin");
        }
        if let Error::PinFromPage = self {
            body = body.with_field("arguments.pin");
        }
        if let Error::UnknownCard { atr } = self {
            if !atr.is_empty() {
                body = body.with_atr(atr.clone());
            }
        }
        body
    }

    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_not_sent_again_and_a_keys_own_pin_are_explained_in_both_languages() {
        let again = Error::PinAlreadyRefused {
            tries_left: Some(2),
        };
        assert_eq!(again.code(), ErrorCode::PinIncorrect);
        assert_eq!(again.tries_left(), Some(2));
        assert!(again
            .user_message(Language::En)
            .contains("did not send it again"));
        assert!(again.user_message(Language::ZhTw).contains("沒有再送出"));
        assert!(again.user_message(Language::ZhTw).contains("剩餘 2 次"));
        let key = Error::KeyPinIncorrect;
        assert_eq!(key.code(), ErrorCode::PinIncorrect);
        assert_eq!(key.tries_left(), None);
        assert!(key.user_message(Language::En).contains("a PIN of its own"));
        assert!(key.user_message(Language::ZhTw).contains("自己的 PIN 碼"));
    }

    #[test]
    fn tries_left_is_reported_in_both_languages() {
        let e = Error::PinIncorrect {
            tries_left: Some(2),
        };
        assert_eq!(e.code(), ErrorCode::PinIncorrect);
        assert!(e.user_message(Language::En).contains("2 tries left"));
        assert!(e.user_message(Language::ZhTw).contains("剩餘 2 次"));
        assert_eq!(e.to_string(), "wrong PIN (2 tries left)");
    }

    #[test]
    fn pin_format_message_names_the_rule_not_the_pin() {
        let e = Error::from(PinFormatError::TooShort { min: 6 });
        assert_eq!(e.code(), ErrorCode::PinFormat);
        assert!(e.user_message(Language::En).contains("shorter than 6"));
    }
}
