//! Base64 as the protocol uses it: accepted in any common spelling, produced in one.
//!
//! Pages produce base64 with `btoa` (standard, padded), with URL-safe helpers, or strip the
//! padding; all of those are accepted on input. Mixing the two alphabets in one string, stray
//! whitespace and non-zero trailing bits are refused. Output is always standard and padded.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

// Padding is either absent or exactly right ("AQ=" is refused): `Indifferent` would accept a
// half-padded string, which no encoder produces.
const PADDED: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::RequireCanonical);
const UNPADDED: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::RequireNone);
const STANDARD_PADDED: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, PADDED);
const STANDARD_UNPADDED: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, UNPADDED);
const URL_SAFE_PADDED: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, PADDED);
const URL_SAFE_UNPADDED: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, UNPADDED);

/// Decodes base64 in the standard or the URL-safe alphabet, with or without padding.
pub fn decode_base64(input: &str) -> Result<Vec<u8>, base64::DecodeError> {
    // Pick the one engine the spelling calls for, so a megabyte of data is decoded once; a
    // string mixing the alphabets fails in whichever is picked.
    let url_safe = input.bytes().any(|b| b == b'-' || b == b'_');
    let padded = input.ends_with('=');
    let engine = match (url_safe, padded) {
        (false, true) => &STANDARD_PADDED,
        (false, false) => &STANDARD_UNPADDED,
        (true, true) => &URL_SAFE_PADDED,
        (true, false) => &URL_SAFE_UNPADDED,
    };
    engine.decode(input)
}

/// Encodes in the standard alphabet with padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_alphabets_with_or_without_padding() {
        let bytes = [0xfb, 0xff, 0xfe, 0x01];
        for spelling in ["+//+AQ==", "+//+AQ", "-__-AQ==", "-__-AQ"] {
            assert_eq!(decode_base64(spelling).unwrap(), bytes, "{spelling}");
        }
        assert_eq!(encode_base64(&bytes), "+//+AQ==");
    }

    #[test]
    fn refuses_mixed_alphabets_whitespace_and_garbage() {
        for bad in ["+_", "AQ ==", "A", "!!!!", "AQ=", "AR=="] {
            assert!(decode_base64(bad).is_err(), "{bad}");
        }
    }
}
