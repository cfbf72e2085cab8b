//! PIN rules, in one place.
//!
//! Government cards lock after three wrong PINs and unlocking needs a visit to a registration
//! office, so a PIN that cannot possibly be right must never reach the card: [`PinLimits::check`]
//! runs before every login. PINs live in [`Pin`], a zeroizing buffer whose `Debug` never shows
//! the digits; no error type in this crate carries a PIN.

use std::io::Read;

use zeroize::Zeroizing;

/// Longest PIN we read from anywhere. PKCS#11 tokens allow up to 255; we stop long before any
/// real card's limit so a runaway input is refused without being buffered.
pub const MAX_PIN_INPUT: usize = 64;

/// A PIN held in memory that is wiped when dropped; or, for a PIN-pad reader, the promise
/// that the person types it on the reader ([`Pin::on_reader`]).
pub struct Pin {
    text: Zeroizing<String>,
    /// Kept alive while the PIN is in use: the agent's "enter the PIN on the reader" notice,
    /// which closes when the operation is over and this value is dropped.
    _notice: Option<std::sync::Mutex<Box<dyn Send>>>,
}

impl Pin {
    /// Wraps a PIN string, taking ownership so the only copy is the zeroizing one.
    pub fn new(pin: String) -> Self {
        Pin {
            text: Zeroizing::new(pin),
            _notice: None,
        }
    }

    /// No PIN here: the token's reader has a PIN pad and the person types it there. `notice`
    /// (the dialog that says so) stays open as long as this value lives.
    pub fn on_reader(notice: Option<Box<dyn Send>>) -> Self {
        Pin {
            text: Zeroizing::new(String::new()),
            _notice: notice.map(std::sync::Mutex::new),
        }
    }

    /// Reads a PIN from a stream (standard input): the first line, without its line ending.
    /// Reads at most [`MAX_PIN_INPUT`] + 2 bytes, so a PIN never sits in an unbounded buffer.
    pub fn read_line(mut input: impl Read) -> std::io::Result<Self> {
        let mut buf = Zeroizing::new(Vec::with_capacity(MAX_PIN_INPUT + 2));
        let mut byte = [0u8; 1];
        while buf.len() <= MAX_PIN_INPUT {
            match input.read(&mut byte)? {
                0 => break,
                _ if byte[0] == b'\n' => break,
                _ => buf.push(byte[0]),
            }
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        // Invalid UTF-8 cannot be a digit PIN; keep it as a non-digit marker so the format check
        // rejects it with the ordinary message instead of an I/O error.
        let text = match std::str::from_utf8(&buf) {
            Ok(s) => s.to_owned(),
            Err(_) => "\u{fffd}".to_owned(),
        };
        Ok(Pin::new(text))
    }

    /// The PIN bytes, for the one call that hands them to the card.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// The PIN lengths a token accepts (CK_TOKEN_INFO ulMinPinLen / ulMaxPinLen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinLimits {
    /// Shortest accepted PIN.
    pub min: usize,
    /// Longest accepted PIN.
    pub max: usize,
}

impl PinLimits {
    /// The limits of HiCOS government cards: 6 to 8 digits.
    pub const GOVERNMENT_CARD: PinLimits = PinLimits { min: 6, max: 8 };

    /// Builds limits from what a token reports, repairing nonsense (0 or min > max) so a broken
    /// token cannot switch the check off.
    pub fn from_token(min: u64, max: u64) -> Self {
        let min = usize::try_from(min).unwrap_or(usize::MAX).max(1);
        let max = usize::try_from(max)
            .unwrap_or(usize::MAX)
            .min(MAX_PIN_INPUT);
        PinLimits {
            min,
            max: max.max(min),
        }
    }

    /// The rule every PIN passes before any login: digits only, within the token's lengths.
    pub fn check(&self, pin: &Pin) -> Result<(), PinFormatError> {
        if pin.is_empty() {
            return Err(PinFormatError::Empty);
        }
        if !pin.expose().chars().all(|c| c.is_ascii_digit()) {
            return Err(PinFormatError::NotDigits);
        }
        let len = pin.len();
        if len < self.min {
            return Err(PinFormatError::TooShort { min: self.min });
        }
        if len > self.max {
            return Err(PinFormatError::TooLong { max: self.max });
        }
        Ok(())
    }
}

/// Why a PIN was refused before reaching the card. Carries limits, never the PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinFormatError {
    /// No PIN was given.
    #[error("the PIN is empty")]
    Empty,
    /// Something other than 0-9.
    #[error("the PIN must contain digits only")]
    NotDigits,
    /// Shorter than the token accepts.
    #[error("the PIN is shorter than {min} digits")]
    TooShort {
        /// Minimum length.
        min: usize,
    },
    /// Longer than the token accepts.
    #[error("the PIN is longer than {max} digits")]
    TooLong {
        /// Maximum length.
        max: usize,
    },
}

/// PIN state as the token reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinState {
    /// No wrong tries recorded.
    Ok,
    /// At least one wrong try.
    CountLow,
    /// The next wrong PIN locks the card.
    FinalTry,
    /// Locked.
    Locked,
}

impl PinState {
    /// Tries left when the state alone tells us.
    pub fn tries_left(self) -> Option<u8> {
        match self {
            PinState::FinalTry => Some(1),
            PinState::Locked => Some(0),
            PinState::Ok | PinState::CountLow => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(s: &str) -> Pin {
        Pin::new(s.to_owned())
    }

    #[test]
    fn government_rule() {
        let l = PinLimits::GOVERNMENT_CARD;
        assert_eq!(l.check(&pin("123456")), Ok(()));
        assert_eq!(l.check(&pin("12345678")), Ok(()));
        assert_eq!(l.check(&pin("")), Err(PinFormatError::Empty));
        assert_eq!(
            l.check(&pin("12345")),
            Err(PinFormatError::TooShort { min: 6 })
        );
        assert_eq!(
            l.check(&pin("123456789")),
            Err(PinFormatError::TooLong { max: 8 })
        );
        assert_eq!(l.check(&pin("12345a")), Err(PinFormatError::NotDigits));
        assert_eq!(
            l.check(&pin("１２３４５６")),
            Err(PinFormatError::NotDigits)
        );
        assert_eq!(l.check(&pin("123 456")), Err(PinFormatError::NotDigits));
    }

    #[test]
    fn nonsense_limits_are_repaired() {
        let l = PinLimits::from_token(0, 0);
        assert_eq!(l, PinLimits { min: 1, max: 1 });
        let l = PinLimits::from_token(4, 255);
        assert_eq!(
            l,
            PinLimits {
                min: 4,
                max: MAX_PIN_INPUT
            }
        );
    }

    #[test]
    fn read_line_strips_endings_and_bounds_input() {
        assert_eq!(
            Pin::read_line(&b"123456\r\n"[..]).unwrap().expose(),
            "123456"
        );
        assert_eq!(Pin::read_line(&b"123456"[..]).unwrap().expose(), "123456");
        let long = vec![b'1'; 10_000];
        assert_eq!(Pin::read_line(&long[..]).unwrap().len(), MAX_PIN_INPUT + 1);
        assert_eq!(
            Pin::read_line(&[0xff, 0xfe][..]).unwrap().expose(),
            "\u{fffd}"
        );
    }

    #[test]
    fn debug_never_shows_digits() {
        assert_eq!(format!("{:?}", pin("123456")), "Pin(<redacted>)");
    }
}
