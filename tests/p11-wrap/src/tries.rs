//! HiCOS's PIN counter as a module reports it: three tries, told only through the token flags.
//!
//! SoftHSM never locks a PIN. With `tries = hicos` this module keeps the counter itself, in
//! `<control>.tries` so that it outlives the process as a card's counter does, refuses every
//! login once it reaches zero, and replaces SoftHSM's PIN flags with the ones HiCOS sets.

use cryptoki_sys::{CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED, CK_FLAGS};

use crate::control::sibling;

/// Tries of a fresh card.
pub const MAX_TRIES: u8 = 3;

/// Tries left now.
pub fn left() -> u8 {
    sibling("tries")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| s.trim().parse::<u8>().ok())
        .map_or(MAX_TRIES, |n| n.min(MAX_TRIES))
}

/// Records the card's verdict on a PIN: a right PIN restores the counter, a wrong one takes
/// one try.
pub fn record(right: bool) {
    let now = if right {
        MAX_TRIES
    } else {
        left().saturating_sub(1)
    };
    if let Some(p) = sibling("tries") {
        let _ = std::fs::write(p, format!("{now}\n"));
    }
}

/// The token flags with SoftHSM's PIN flags replaced by the modelled counter's.
pub fn flags(softhsm: CK_FLAGS) -> CK_FLAGS {
    let base = softhsm & !(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
    base | match left() {
        0 => CKF_USER_PIN_LOCKED,
        1 => CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY,
        n if n < MAX_TRIES => CKF_USER_PIN_COUNT_LOW,
        _ => 0,
    }
}
