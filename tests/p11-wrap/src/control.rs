//! The test hook: a control file the test writes and the module reads on every call it
//! intercepts, so a test can change the module's behaviour while a daemon holds it loaded.
//!
//! `P11WRAP_CONTROL` names the file. It holds `key = value` lines (`#` starts a comment):
//!
//! | key | value | effect |
//! |---|---|---|
//! | `pin_pad` | a PIN, or `cancel` | the token has CKF_PROTECTED_AUTHENTICATION_PATH; `C_Login` with a NULL PIN logs in with this PIN, "typed on the reader" (`cancel`: the person pressed Cancel, CKR_FUNCTION_CANCELED) |
//! | `tries` | `hicos` | a modelled PIN counter of 3, reported only through the token flags as HiCOS does (COUNT_LOW after a wrong PIN, FINAL_TRY with one left, LOCKED at none); a locked PIN refuses every login, the right one too |
//! | `hang` | function names | the call never returns (`C_Initialize`, `C_GetSlotList`, ...) |
//! | `abort` | function names | the call aborts the process |
//! | `garbage` | `label`, `value_length`, `zero_slots` | the token label is not UTF-8; a CKA_VALUE length query answers 1 TiB; `C_GetSlotList` reports no slot |
//! | `remove_on` | `C_Sign` or `C_Decrypt` | the card is pulled out during that call: it fails with CKR_DEVICE_REMOVED, every session is closed and the card stays out until the test deletes `<control>.removed` |
//! | `sign_ms`, `decrypt_ms`, `login_ms`, `read_ms` | milliseconds | card latency per signature, decryption, login, and attribute read |
//! | `library_description`, `library_manufacturer` | text | what `C_GetInfo` says (at most 32 bytes) |
//! | `library_version` | `major.minor` | `C_GetInfo`'s libraryVersion |
//!
//! Beside the control file the module keeps `<control>.tries` (the modelled counter, as a card
//! keeps it across processes), `<control>.removed` (exists while the card is out) and
//! `<control>.log` (one line per `C_Login`: the user type and whether a PIN came with it,
//! never the PIN; and one line per successful `C_GetAttributeValue` that reads a CKA_VALUE).

use std::path::PathBuf;

/// Environment variable naming the control file.
pub const CONTROL_ENV: &str = "P11WRAP_CONTROL";
/// Environment variable naming the module to wrap (default: Debian's SoftHSM2).
pub const TARGET_ENV: &str = "P11WRAP_TARGET";
/// The module wrapped when `P11WRAP_TARGET` is unset.
pub const DEFAULT_TARGET: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// What the PIN pad does when the module is asked to log in without a PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinPad {
    /// The person types this PIN on the reader.
    Types(String),
    /// The person presses Cancel on the reader.
    Cancel,
}

/// Injected nonsense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Garbage {
    /// The token label is not UTF-8.
    Label,
    /// A CKA_VALUE length query answers an absurd length.
    ValueLength,
    /// No slot at all, even with a card present.
    ZeroSlots,
}

/// The control file, parsed. Unknown keys are ignored so that an older module reads a newer
/// test's file.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// PIN pad behaviour, when the reader has one.
    pub pin_pad: Option<PinPad>,
    /// Model HiCOS's flag-only PIN counter.
    pub hicos_tries: bool,
    /// Functions that never return.
    pub hang: Vec<String>,
    /// Functions that abort the process.
    pub abort: Vec<String>,
    /// Injected nonsense.
    pub garbage: Vec<Garbage>,
    /// The function during which the card is pulled out.
    pub remove_on: Option<String>,
    /// Latency of one signature.
    pub sign_ms: u64,
    /// Latency of one decryption.
    pub decrypt_ms: u64,
    /// Latency of one login.
    pub login_ms: u64,
    /// Latency of one attribute read.
    pub read_ms: u64,
    /// `C_GetInfo` libraryDescription.
    pub library_description: Option<String>,
    /// `C_GetInfo` manufacturerID.
    pub library_manufacturer: Option<String>,
    /// `C_GetInfo` libraryVersion.
    pub library_version: Option<(u8, u8)>,
}

impl Control {
    /// Reads the control file; no file (or no `P11WRAP_CONTROL`) means plain forwarding.
    pub fn read() -> Control {
        let Some(path) = control_path() else {
            return Control::default();
        };
        std::fs::read_to_string(path)
            .map(|text| Control::parse(&text))
            .unwrap_or_default()
    }

    /// Parses the `key = value` lines.
    pub fn parse(text: &str) -> Control {
        let mut c = Control::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            let list = || {
                value
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            let ms = || value.parse::<u64>().unwrap_or(0);
            match key {
                "pin_pad" if value == "cancel" => c.pin_pad = Some(PinPad::Cancel),
                "pin_pad" => c.pin_pad = Some(PinPad::Types(value.to_owned())),
                "tries" => c.hicos_tries = value == "hicos",
                "hang" => c.hang = list(),
                "abort" => c.abort = list(),
                "garbage" => {
                    c.garbage = list()
                        .iter()
                        .filter_map(|g| match g.as_str() {
                            "label" => Some(Garbage::Label),
                            "value_length" => Some(Garbage::ValueLength),
                            "zero_slots" => Some(Garbage::ZeroSlots),
                            _ => None,
                        })
                        .collect()
                }
                "remove_on" => c.remove_on = Some(value.to_owned()),
                "sign_ms" => c.sign_ms = ms(),
                "decrypt_ms" => c.decrypt_ms = ms(),
                "login_ms" => c.login_ms = ms(),
                "read_ms" => c.read_ms = ms(),
                "library_description" => c.library_description = Some(value.to_owned()),
                "library_manufacturer" => c.library_manufacturer = Some(value.to_owned()),
                "library_version" => {
                    let mut parts = value.split('.').map(|p| p.parse::<u8>().unwrap_or(0));
                    c.library_version =
                        Some((parts.next().unwrap_or(0), parts.next().unwrap_or(0)));
                }
                _ => {}
            }
        }
        c
    }

    /// Whether `function` is listed under `hang`.
    pub fn hangs(&self, function: &str) -> bool {
        self.hang.iter().any(|f| f == function)
    }

    /// Whether `function` is listed under `abort`.
    pub fn aborts(&self, function: &str) -> bool {
        self.abort.iter().any(|f| f == function)
    }

    /// Whether this nonsense is asked for.
    pub fn garbage(&self, kind: Garbage) -> bool {
        self.garbage.contains(&kind)
    }
}

/// The control file's path, when the test set one.
pub fn control_path() -> Option<PathBuf> {
    std::env::var_os(CONTROL_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// A file beside the control file: `<control>.<suffix>`.
pub fn sibling(suffix: &str) -> Option<PathBuf> {
    control_path().map(|p| {
        let mut s = p.into_os_string();
        s.push(".");
        s.push(suffix);
        PathBuf::from(s)
    })
}

/// Whether the card is out of the reader.
pub fn removed() -> bool {
    sibling("removed").is_some_and(|p| p.exists())
}

/// Pulls the card out: it stays out until the test deletes `<control>.removed`.
pub fn remove_card() {
    if let Some(p) = sibling("removed") {
        let _ = std::fs::write(p, b"removed\n");
    }
}

/// Appends one line to `<control>.log`.
pub fn log(line: &str) {
    use std::io::Write as _;
    let Some(path) = sibling("log") else { return };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let c = Control::parse(
            "pin_pad = 246810\ntries = hicos # HiCOS\nhang = C_Initialize, C_GetSlotList\n\
             abort = C_Sign\ngarbage = label zero_slots\nremove_on = C_Sign\nsign_ms = 300\n\
             read_ms = 20\nlibrary_description = open-gpki-pkcs11\nlibrary_version = 1.4\n\
             nonsense\nunknown = 1\n",
        );
        assert_eq!(c.pin_pad, Some(PinPad::Types("246810".into())));
        assert!(c.hicos_tries);
        assert!(c.hangs("C_GetSlotList") && !c.hangs("C_Sign"));
        assert!(c.aborts("C_Sign"));
        assert!(c.garbage(Garbage::Label) && c.garbage(Garbage::ZeroSlots));
        assert!(!c.garbage(Garbage::ValueLength));
        assert_eq!(c.remove_on.as_deref(), Some("C_Sign"));
        assert_eq!((c.sign_ms, c.read_ms, c.login_ms), (300, 20, 0));
        assert_eq!(c.library_description.as_deref(), Some("open-gpki-pkcs11"));
        assert_eq!(c.library_version, Some((1, 4)));
        assert_eq!(
            Control::parse("pin_pad = cancel").pin_pad,
            Some(PinPad::Cancel)
        );
    }
}
