//! The legacy API's `ret_code` / `last_error` values: the one mapping from the agent's errors
//! to what pages written for HiPKI Local Sign Server check. Every value is the vendor's own
//! (the error table in shared/reference/hipki-compat.md), with the meaning it gives there.
//!
//! | ret_code | vendor's meaning | answered when |
//! |---|---|---|
//! | `0x76000003` | no data to sign | `tbs` absent or empty |
//! | `0x76000004` | no ciphertext | `cipher` absent or empty |
//! | `0x76000006` | no card inserted | no card, card removed, unreadable card |
//! | `0x7600000B` | JSON format error | no `tbsPackage`, or not a JSON object |
//! | `0x7600000C` | bad parameter | a value out of its set (`hashAlgorithm`, ...), an ambiguous PIN |
//! | `0x7600000D` | execution error or timeout | anything else |
//! | `0x7600000E` | unsupported method | card management, unknown `func` |
//! | `0x7600000F` | forbidden domain | `/addDomain` for a name that is no web origin |
//! | `0x76000031` | untrusted site (not in the table; pages test for it) | a site not trusted, an unparseable or browser-borne caller |
//! | `0x76000998` | no PIN entered | no PIN and no dialog may ask |
//! | `0x76000999` | cancelled by the user | a dialog answered no |
//! | `0x76100001` | cannot load the card library | no PKCS#11 module loads |
//! | `0x76100003` | no reader available | no reader, or pcscd unreachable |
//! | `0x76100006` | card login failed | wrong, malformed or locked PIN (`last_error` says which) |
//! | `0x76100008` | key not found on the card | the certificate has no private key |
//! | `0x7610000C` | the requested certificate not found | no such certificate on the card |
//! | `0x76400001` | decryption: DER error | the ciphertext is no CMS EnvelopedData |
//! | `0x76400002` | decryption: wrong type | an envelope of a kind the agent cannot open |
//! | `0x76400003` | decryption failed | the content did not decrypt with the card's key |
//! | `0x76500001` / `0x76500002` | certificate not yet valid / expired | `checkValidity` |
//! | `0x76600002` | base64 decoding error | `tbs` (base64) or `cipher` is not base64 |
//!
//! `last_error` carries the PKCS#11 reason: `0xA0` PIN incorrect, `0xA2` PIN length out of
//! range, `0xA4` PIN locked, and HiPKI's `0x80000002` / `0x80000001` for a wrong PIN with two /
//! one tries left.

use card_agent_protocol::ErrorCode;

use crate::error::Error;

/// Success.
pub const OK: u32 = 0;
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
/// No reader available.
pub const NO_READER: u32 = 0x7610_0003;
/// Card login failed.
pub const LOGIN: u32 = 0x7610_0006;
/// Key not found on the card.
pub const KEY_NOT_FOUND: u32 = 0x7610_0008;
/// The requested certificate not found.
pub const CERT_NOT_FOUND: u32 = 0x7610_000C;
/// Decryption: the ciphertext is not DER (not an EnvelopedData).
pub const DECRYPT_DER: u32 = 0x7640_0001;
/// Decryption: a type (algorithm, recipient kind) that cannot be opened.
pub const DECRYPT_TYPE: u32 = 0x7640_0002;
/// Decryption failed.
pub const DECRYPT_FAILED: u32 = 0x7640_0003;
/// Certificate not yet valid.
pub const NOT_YET_VALID: u32 = 0x7650_0001;
/// Certificate expired.
pub const EXPIRED: u32 = 0x7650_0002;
/// Base64 decoding error.
pub const BASE64: u32 = 0x7660_0002;

/// Every `ret_code` the API answers with, success included: a response with any other value
/// is a bug (the fuzz harness checks every response against this list).
pub const ALL: &[u32] = &[
    OK,
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
    KEY_NOT_FOUND,
    CERT_NOT_FOUND,
    DECRYPT_DER,
    DECRYPT_TYPE,
    DECRYPT_FAILED,
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
    // HiPKI has its own codes for decryption; the wire code (BAD_REQUEST) is too coarse.
    if let Error::Envelope(e) = error {
        use crate::envelope::EnvelopeError;
        let code = match e {
            EnvelopeError::Der(_) => DECRYPT_DER,
            EnvelopeError::Type(_) => DECRYPT_TYPE,
            EnvelopeError::Decrypt => DECRYPT_FAILED,
        };
        return (code, 0);
    }
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
        ErrorCode::CertNotFound => (CERT_NOT_FOUND, 0),
        ErrorCode::KeyNotFound => (KEY_NOT_FOUND, 0),
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

    #[test]
    fn codes_are_the_vendors() {
        // The vendor's table: no reader is 0x76100003 (0x76100002 is "closing the library
        // failed"), base64 *decoding* is 0x76600002 (0x76600001 is encoding).
        assert_eq!(for_error(&Error::NoReader), (0x7610_0003, 0));
        assert_eq!(for_error(&Error::KeyNotFound), (0x7610_0008, 0));
        assert_eq!(
            for_error(&Error::CertNotFound { wanted: "x".into() }),
            (0x7610_000C, 0)
        );
        assert_eq!(BASE64, 0x7660_0002);
        use crate::envelope::EnvelopeError;
        assert_eq!(
            for_error(&EnvelopeError::Der("x".into()).into()),
            (0x7640_0001, 0)
        );
        assert_eq!(
            for_error(&EnvelopeError::Type("x".into()).into()),
            (0x7640_0002, 0)
        );
        assert_eq!(for_error(&EnvelopeError::Decrypt.into()), (0x7640_0003, 0));
        let mut sorted = ALL.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ALL.len(), "every code once");
    }
}
