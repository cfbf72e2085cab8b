//! Stable error codes. A code's spelling never changes once released: pages and scripts match
//! on it. Messages are for people, live in the message catalogue ([`crate::i18n`], keys
//! `error.<CODE>`) and may be improved at any time.

use serde::{Deserialize, Serialize};

/// The language of a message shown to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Language {
    /// Traditional Chinese as used in Taiwan (the default: most users read it first).
    #[default]
    #[serde(rename = "zh-TW")]
    ZhTw,
    /// English.
    #[serde(rename = "en")]
    En,
}

impl Language {
    /// Picks the language from a POSIX-style locale string such as `zh_TW.UTF-8` or `en_US`.
    /// Anything Chinese becomes zh-TW; anything else that names a language becomes English.
    pub fn from_locale(locale: &str) -> Self {
        let l = locale.to_ascii_lowercase();
        if l.starts_with("zh") {
            Language::ZhTw
        } else {
            Language::En
        }
    }

    /// The tag used in catalogues and JSON: `zh-TW` or `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::ZhTw => "zh-TW",
            Language::En => "en",
        }
    }
}

macro_rules! error_codes {
    ($($variant:ident => $wire:literal, $doc:literal;)+) => {
        /// A stable, machine-readable failure code, shared by the CLI, the native protocol and
        /// (through its own mapping) the legacy HiPKI API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = $doc]
                // Serde takes the spelling from the table, not from a case rule on the variant
                // name, so the wire spelling is written down exactly once.
                #[serde(rename = $wire)]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The wire spelling, e.g. `PIN_INCORRECT`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $wire,)+ }
            }

            /// A short explanation for a person, in the given language: the catalogue's
            /// `error.<CODE>` text (see [`crate::i18n`]).
            pub fn message(self, lang: Language) -> &'static str {
                let key: &'static str = match self {
                    $(ErrorCode::$variant => concat!("error.", $wire),)+
                };
                crate::i18n::text(lang, key)
            }

            /// Parses the wire spelling.
            pub fn from_wire(s: &str) -> Option<Self> {
                match s { $($wire => Some(ErrorCode::$variant),)+ _ => None }
            }
        }
    };
}

error_codes! {
    NoReader => "NO_READER", "No smart card reader, or the smart-card service cannot be reached.";
    NoCard => "NO_CARD", "A reader is present but holds no card.";
    UnknownCard => "UNKNOWN_CARD", "The card is not one any loaded module can use.";
    NoModule => "NO_MODULE", "No PKCS#11 module could be loaded.";
    NoToken => "NO_TOKEN", "The requested card or token is not present.";
    CertNotFound => "CERT_NOT_FOUND", "The requested certificate is not on the card.";
    KeyNotFound => "KEY_NOT_FOUND", "The certificate has no private key on the card.";
    CertExpired => "CERT_EXPIRED", "The certificate has expired.";
    CertNotYetValid => "CERT_NOT_YET_VALID", "The certificate is not valid yet.";
    PinIncorrect => "PIN_INCORRECT", "The card refused the PIN (the response says how many tries are left when known).";
    PinLocked => "PIN_LOCKED", "The PIN is locked.";
    PinFormat => "PIN_FORMAT", "The PIN broke the format rule and was not sent to the card.";
    PinRequired => "PIN_REQUIRED", "A PIN is needed and none could be obtained.";
    UserCancelled => "USER_CANCELLED", "The user cancelled.";
    SiteNotTrusted => "SITE_NOT_TRUSTED", "The website (or the extension calling) may not use the card.";
    BadRequest => "BAD_REQUEST", "The request was malformed.";
    UnsupportedAlgorithm => "UNSUPPORTED_ALGORITHM", "The card's key cannot do what was asked.";
    Timeout => "TIMEOUT", "The operation took too long.";
    CardRemoved => "CARD_REMOVED", "The card went away during the operation.";
    IoError => "IO_ERROR", "A file could not be read or written.";
    Busy => "BUSY", "Too many of this page's (or program's) requests are already waiting; this one was refused at once.";
    Internal => "INTERNAL", "A bug or an unexpected failure inside card-agent.";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_round_trips_and_matches_serde() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!(!code.message(Language::En).is_empty());
            assert!(!code.message(Language::ZhTw).is_empty());
        }
    }

    #[test]
    fn locale_picks_language() {
        assert_eq!(Language::from_locale("zh_TW.UTF-8"), Language::ZhTw);
        assert_eq!(Language::from_locale("en_US.UTF-8"), Language::En);
        assert_eq!(Language::from_locale("C"), Language::En);
    }
}
