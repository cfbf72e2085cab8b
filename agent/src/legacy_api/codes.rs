//! The legacy API's `ret_code` / `last_error` values: the one mapping from the agent's errors
//! to what pages written for HiPKI Local Sign Server check.
//!
//! | ret_code | meaning |
//! |---|---|
//! | `0x76000001` | no private key for the certificate |
//! | `0x76000002` | certificate not found |
//! | `0x76000003` | no data to sign |
//! | `0x76000004` | no ciphertext |
//! | `0x76000006` | no card inserted (also: card removed) |
//! | `0x7600000B` | JSON format error |
//! | `0x7600000C` | bad parameter |
//! | `0x7600000D` | execution error or timeout |
//! | `0x7600000E` | unsupported method |
//! | `0x7600000F` | forbidden domain (`/addDomain` with an invalid or insecure site) |
//! | `0x76000031` | untrusted site |
//! | `0x76000998` | no PIN entered |
//! | `0x76000999` | cancelled by the user |
//! | `0x76100001` | card library (PKCS#11 module) could not be loaded |
//! | `0x76100002` | no card reader |
//! | `0x76100006` | login failed (wrong, malformed or locked PIN; `last_error` says which) |
//! | `0x76500001` / `0x76500002` | certificate not yet valid / expired (`checkValidity`) |
//! | `0x76600001` | base64 decoding failed |
//!
//! `last_error` carries the PKCS#11 reason: `0xA0` PIN incorrect, `0xA2` PIN length out of
//! range, `0xA4` PIN locked, and HiPKI's `0x80000002` / `0x80000001` for a wrong PIN with two /
//! one tries left.

use card_agent_protocol::ErrorCode;

use crate::error::Error;

/// Success.
pub const OK: u32 = 0;
/// No private key.
pub const MISSING_KEY: u32 = 0x7600_0001;
/// No certificate.
pub const MISSING_CERT: u32 = 0x7600_0002;
/// No data to sign.
pub const MISSING_TBS: u32 = 0x7600_0003;
/// No ciphertext.
pub const MISSING_CIPHER: u32 = 0x7600_0004;
/// No card.
pub const NO_CARD: u32 = 0x7600_0006;
/// JSON format error.
pub const JSON_FORMAT: u32 = 0x7600_000B;
/// Bad parameter.
pub const BAD_PARAMETER: u32 = 0x7600_000C;
/// Execution error or timeout.
pub const EXECUTION: u32 = 0x7600_000D;
/// Unsupported method.
pub const UNSUPPORTED: u32 = 0x7600_000E;
/// Forbidden domain (not a valid or secure site).
pub const FORBIDDEN_DOMAIN: u32 = 0x7600_000F;
/// Untrusted site.
pub const UNTRUSTED_SITE: u32 = 0x7600_0031;
/// No PIN entered.
pub const NO_PIN: u32 = 0x7600_0998;
/// Cancelled by the user.
pub const CANCELLED: u32 = 0x7600_0999;
/// Card library could not be loaded.
pub const LIBRARY: u32 = 0x7610_0001;
/// No reader.
pub const NO_READER: u32 = 0x7610_0002;
/// Login failed.
pub const LOGIN: u32 = 0x7610_0006;
/// Certificate not yet valid.
pub const NOT_YET_VALID: u32 = 0x7650_0001;
/// Certificate expired.
pub const EXPIRED: u32 = 0x7650_0002;
/// Base64 decoding failed.
pub const BASE64: u32 = 0x7660_0001;

/// Every `ret_code` the API answers with, success included: a response with any other value
/// is a bug (the fuzz harness checks every response against this list).
pub const ALL: &[u32] = &[
    OK,
    MISSING_KEY,
    MISSING_CERT,
    MISSING_TBS,
    MISSING_CIPHER,
    NO_CARD,
    JSON_FORMAT,
    BAD_PARAMETER,
    EXECUTION,
    UNSUPPORTED,
    FORBIDDEN_DOMAIN,
    UNTRUSTED_SITE,
    NO_PIN,
    CANCELLED,
    LIBRARY,
    NO_READER,
    LOGIN,
    NOT_YET_VALID,
    EXPIRED,
    BASE64,
];

/// CKR_PIN_INCORRECT.
pub const CKR_PIN_INCORRECT: u32 = 0xA0;
/// CKR_PIN_LEN_RANGE.
pub const CKR_PIN_LEN_RANGE: u32 = 0xA2;
/// CKR_PIN_LOCKED.
pub const CKR_PIN_LOCKED: u32 = 0xA4;

/// `(ret_code, last_error)` for an error. Decided from the stable wire code (and tries left),
/// so this mapping can never disagree with the native protocol's.
pub fn for_error(error: &Error) -> (u32, u32) {
    match error.code() {
        ErrorCode::PinIncorrect => (
            LOGIN,
            match error.tries_left() {
                Some(1) => 0x8000_0001,
                Some(2) => 0x8000_0002,
                _ => CKR_PIN_INCORRECT,
            },
        ),
        ErrorCode::PinLocked => (LOGIN, CKR_PIN_LOCKED),
        ErrorCode::PinFormat => (LOGIN, CKR_PIN_LEN_RANGE),
        ErrorCode::PinRequired => (NO_PIN, 0),
        ErrorCode::UserCancelled => (CANCELLED, 0),
        ErrorCode::SiteNotTrusted => (UNTRUSTED_SITE, 0),
        ErrorCode::NoReader => (NO_READER, 0),
        ErrorCode::NoCard
        | ErrorCode::NoToken
        | ErrorCode::CardRemoved
        | ErrorCode::UnknownCard => (NO_CARD, 0),
        ErrorCode::NoModule => (LIBRARY, 0),
        ErrorCode::CertNotFound => (MISSING_CERT, 0),
        ErrorCode::KeyNotFound => (MISSING_KEY, 0),
        ErrorCode::CertExpired => (EXPIRED, 0),
        ErrorCode::CertNotYetValid => (NOT_YET_VALID, 0),
        ErrorCode::BadRequest | ErrorCode::UnsupportedAlgorithm => (BAD_PARAMETER, 0),
        _ => (EXECUTION, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_errors_carry_the_reason_pages_check() {
        assert_eq!(
            for_error(&Error::PinIncorrect {
                tries_left: Some(2)
            }),
            (LOGIN, 0x8000_0002)
        );
        assert_eq!(
            for_error(&Error::PinIncorrect {
                tries_left: Some(1)
            }),
            (LOGIN, 0x8000_0001)
        );
        assert_eq!(
            for_error(&Error::PinIncorrect { tries_left: None }),
            (LOGIN, CKR_PIN_INCORRECT)
        );
        assert_eq!(for_error(&Error::PinLocked), (LOGIN, CKR_PIN_LOCKED));
        assert_eq!(
            for_error(&Error::PinFormat(crate::pin::PinFormatError::TooShort {
                min: 6
            })),
            (LOGIN, CKR_PIN_LEN_RANGE)
        );
        assert_eq!(
            for_error(&Error::SiteNotTrusted {
                origin: "https://x".into()
            }),
            (UNTRUSTED_SITE, 0)
        );
        assert_eq!(for_error(&Error::UserCancelled), (CANCELLED, 0));
        assert_eq!(for_error(&Error::NoCard), (NO_CARD, 0));
    }
}
