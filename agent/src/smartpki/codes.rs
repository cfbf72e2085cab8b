//! The `errorCode` numbers SmartPKI pages receive: the one mapping from the agent's errors, and
//! the failures that only the SmartPKI chain has.
//!
//! SmartPKI's own numbers are not published; pages test `errorCode == 0` and show
//! `errorMessage`, and the page library's own 20001–20009 are for a missing extension or a
//! broken port, which the extension produces by closing the port. So card-agent uses its own
//! range, 9001–9199, fixed here and never reused, and every message comes from the catalogue
//! (`error.*` for the agent's codes, `smartpki.error.*` for the chain's).
//!
//! | errorCode | meaning |
//! |---|---|
//! | 9001–9019, 9022, 9023 | the agent's error codes, one each (see [`agent_number`]); the message is the agent's, with the tries left after a wrong PIN |
//! | 9099 | an error code newer than this table |
//! | 9101 | a step before `Initial` |
//! | 9102 | `Initial` with a driver other than the smart card (nCipher HSM, key file) |
//! | 9103 | `Initial` with a `style` flag the agent cannot honour |
//! | 9104 | `Sign` before `LoadContent` (or with empty content) |
//! | 9105 | `Output` before `Sign` |
//! | 9106 | `Output` in a format other than 64 (base64 DER) or 3 (PEM) |
//! | 9107 | `ReadUserData`: a company card's attached authorisation data is not supported |
//! | 9108 | `LoadPkcs7`: adding a signature to an existing PKCS#7 is not supported |
//! | 9109 | `encrypt` and `decrypt` chains are not supported |
//! | 9110 | an unknown `cmd` or `smartpkiReq` |
//! | 9111 | the PIN could not be decrypted with the port's key |
//! | 9112 | a step needs a PIN and none was sent |
//! | 9113 | the port is not open (closed, or lost when the agent restarted): the extension closes the page's port, which the page reports as its own 20002 |

use card_agent_protocol::message::SmartPkiReply;
use card_agent_protocol::{i18n, ErrorCode, Language};

use crate::error::Error;

/// A failure of the SmartPKI chain itself (the agent's other errors keep their own codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A step came before `Initial`.
    #[error("call Initial first")]
    NotInitialised,
    /// `Initial` named a driver other than the smart card.
    #[error("driver type {0} is not supported")]
    UnsupportedDriver(i64),
    /// `Initial`'s style has flags the agent cannot honour.
    #[error("style flags {0:#x} are not supported")]
    UnsupportedStyle(i64),
    /// `Sign` with nothing loaded.
    #[error("no content to sign")]
    NoContent,
    /// `Output` before a signature.
    #[error("nothing signed yet")]
    NoSignature,
    /// `Output` in a format the agent does not produce.
    #[error("output format {0} is not supported")]
    UnsupportedFormat(i64),
    /// `ReadUserData`.
    #[error("attached-card authorisation data is not supported")]
    UserDataUnsupported,
    /// `LoadPkcs7`.
    #[error("adding a signature to an existing PKCS#7 is not supported")]
    Pkcs7Unsupported,
    /// `encrypt` / `decrypt`.
    #[error("encryption and decryption are not supported")]
    CipherUnsupported,
    /// An unknown step or request.
    #[error("unknown command")]
    UnknownCommand,
    /// The encrypted PIN did not decrypt under the port's key.
    #[error("the PIN could not be decrypted")]
    PinNotDecrypted,
    /// A step that needs the PIN came without one.
    #[error("no PIN was sent")]
    NoPin,
    /// The port is not open on this connection for this origin.
    #[error("the port is not open")]
    PortClosed,
}

impl ChainError {
    /// The `errorCode` pages receive.
    pub fn number(self) -> u32 {
        match self {
            ChainError::NotInitialised => 9101,
            ChainError::UnsupportedDriver(_) => 9102,
            ChainError::UnsupportedStyle(_) => 9103,
            ChainError::NoContent => 9104,
            ChainError::NoSignature => 9105,
            ChainError::UnsupportedFormat(_) => 9106,
            ChainError::UserDataUnsupported => 9107,
            ChainError::Pkcs7Unsupported => 9108,
            ChainError::CipherUnsupported => 9109,
            ChainError::UnknownCommand => 9110,
            ChainError::PinNotDecrypted => 9111,
            ChainError::NoPin => 9112,
            ChainError::PortClosed => 9113,
        }
    }

    /// The catalogue key of the message.
    fn key(self) -> &'static str {
        match self {
            ChainError::NotInitialised => "smartpki.error.not_initialised",
            ChainError::UnsupportedDriver(_) => "smartpki.error.unsupported_driver",
            ChainError::UnsupportedStyle(_) => "smartpki.error.unsupported_style",
            ChainError::NoContent => "smartpki.error.no_content",
            ChainError::NoSignature => "smartpki.error.no_signature",
            ChainError::UnsupportedFormat(_) => "smartpki.error.unsupported_format",
            ChainError::UserDataUnsupported => "smartpki.error.user_data_unsupported",
            ChainError::Pkcs7Unsupported => "smartpki.error.pkcs7_unsupported",
            ChainError::CipherUnsupported => "smartpki.error.cipher_unsupported",
            ChainError::UnknownCommand => "smartpki.error.unknown_command",
            ChainError::PinNotDecrypted => "smartpki.error.pin_not_decrypted",
            ChainError::NoPin => "smartpki.error.no_pin",
            ChainError::PortClosed => "smartpki.error.port_closed",
        }
    }
}

/// Why a step failed: the chain's own rule, or the agent's error.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A rule of the SmartPKI chain.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The agent (site, card, PIN, signature).
    #[error(transparent)]
    Agent(#[from] Error),
}

impl StepError {
    /// The reply a page receives.
    pub fn to_reply(&self, lang: Language) -> SmartPkiReply {
        match self {
            StepError::Chain(e) => SmartPkiReply::error(e.number(), i18n::text(lang, e.key())),
            StepError::Agent(e) => {
                SmartPkiReply::error(agent_number(e.code()), e.user_message(lang))
            }
        }
    }
}

/// The `errorCode` of one of the agent's error codes.
pub fn agent_number(code: ErrorCode) -> u32 {
    match code {
        ErrorCode::NoReader => 9001,
        ErrorCode::NoCard => 9002,
        ErrorCode::UnknownCard => 9003,
        ErrorCode::NoModule => 9004,
        ErrorCode::NoToken => 9005,
        ErrorCode::CertNotFound => 9006,
        ErrorCode::KeyNotFound => 9007,
        ErrorCode::PinIncorrect => 9008,
        ErrorCode::PinLocked => 9009,
        ErrorCode::PinFormat => 9010,
        ErrorCode::PinRequired => 9011,
        ErrorCode::UserCancelled => 9012,
        ErrorCode::SiteNotTrusted => 9013,
        ErrorCode::BadRequest => 9014,
        ErrorCode::UnsupportedAlgorithm => 9015,
        ErrorCode::Timeout => 9016,
        ErrorCode::CardRemoved => 9017,
        ErrorCode::IoError => 9018,
        ErrorCode::Internal => 9019,
        ErrorCode::CertExpired => 9022,
        ErrorCode::CertNotYetValid => 9023,
        // The enum is non_exhaustive: a code added later still gets a stable number.
        _ => 9099,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agent_code_has_its_own_number() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let n = agent_number(*code);
            assert_ne!(n, 9099, "{code:?} needs a number");
            assert!(seen.insert(n), "{code:?} shares {n}");
        }
    }

    #[test]
    fn chain_errors_have_catalogue_texts_in_both_languages() {
        let all = [
            ChainError::NotInitialised,
            ChainError::UnsupportedDriver(2),
            ChainError::UnsupportedStyle(1),
            ChainError::NoContent,
            ChainError::NoSignature,
            ChainError::UnsupportedFormat(1),
            ChainError::UserDataUnsupported,
            ChainError::Pkcs7Unsupported,
            ChainError::CipherUnsupported,
            ChainError::UnknownCommand,
            ChainError::PinNotDecrypted,
            ChainError::NoPin,
            ChainError::PortClosed,
        ];
        let mut seen = std::collections::HashSet::new();
        for e in all {
            assert!(seen.insert(e.number()));
            for lang in [Language::ZhTw, Language::En] {
                let text = i18n::text(lang, e.key());
                assert_ne!(text, e.key(), "{e:?} has no {lang:?} text");
            }
        }
    }

    #[test]
    fn a_wrong_pin_reply_says_the_tries_left() {
        let reply = StepError::from(Error::PinIncorrect {
            tries_left: Some(2),
        })
        .to_reply(Language::En);
        assert_eq!(reply.error_code, 9008);
        assert!(
            reply.error_message.contains("2 tries left"),
            "{}",
            reply.error_message
        );
    }
}
