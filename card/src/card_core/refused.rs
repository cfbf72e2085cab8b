//! PINs a card refused: never sent to that card again.
//!
//! A page that keeps the PIN it was given (a batch of signatures, SmartPKI's login chain, a
//! person pressing the button again) would otherwise spend one try per resend of a wrong PIN,
//! and three lock a government card. The card core remembers every PIN a card refused, for
//! that card, whatever the channel or the PIN's source (a page, a local program, the agent's
//! own dialog); the same PIN for the same card is then refused before anything reaches it.
//! A refusal in a key's context-specific login counts too: the agent sends the same PIN there
//! (a card with a separate signature PIN would otherwise lose that PIN's tries one per resend).
//!
//! Only keyed digests are kept: SHA-256 over a random secret made for this process, the card's
//! serial and the PIN. Without the secret, which never leaves the process, a digest cannot be
//! turned back into the PIN by trying the million 6-digit ones. The memory is bounded, and it
//! is forgotten whenever a card or reader changes: taking the card out and putting it back is
//! how a person tries a PIN again (after changing it elsewhere, say).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::pin::Pin;

/// How many refused PINs are remembered, over every card: a card locks after three, so this
/// covers several cards at once.
const REMEMBERED: usize = 16;

/// The refused PINs, as keyed digests of (card serial, PIN).
pub(super) struct RefusedPins {
    secret: Zeroizing<[u8; 32]>,
    digests: Mutex<VecDeque<PinDigest>>,
}

/// A keyed digest of (card serial, PIN), taken before the PIN goes to the card so that a
/// refusal can be remembered once the PIN is gone.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct PinDigest([u8; 32]);

impl Drop for PinDigest {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Default for RefusedPins {
    fn default() -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut *secret);
        RefusedPins {
            secret,
            digests: Mutex::new(VecDeque::with_capacity(REMEMBERED)),
        }
    }
}

impl RefusedPins {
    /// The digest of `pin` for the card `serial`.
    pub(super) fn digest(&self, serial: &str, pin: &Pin) -> PinDigest {
        let mut hash = Sha256::new();
        hash.update(*self.secret);
        // Length-prefixed, so (serial, PIN) pairs cannot run into each other.
        hash.update((serial.len() as u64).to_be_bytes());
        hash.update(serial.as_bytes());
        hash.update(pin.expose().as_bytes());
        PinDigest(hash.finalize().into())
    }

    /// Whether the card already refused the PIN of `digest`.
    pub(super) fn contains(&self, digest: &PinDigest) -> bool {
        self.lock()
            .iter()
            .any(|d| bool::from(d.0.as_slice().ct_eq(digest.0.as_slice())))
    }

    /// Remembers that the card refused the PIN of `digest` (the oldest goes when full).
    pub(super) fn remember(&self, digest: PinDigest) {
        if self.contains(&digest) {
            return;
        }
        let mut digests = self.lock();
        if digests.len() == REMEMBERED {
            digests.pop_front();
        }
        digests.push_back(digest);
    }

    /// Forgets every refusal (a card or reader changed).
    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    /// A poisoned lock only means a panic elsewhere; the list itself is always whole.
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<PinDigest>> {
        self.digests.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(s: &str) -> Pin {
        Pin::new(s.to_owned())
    }

    #[test]
    fn a_refusal_is_remembered_per_card_bounded_and_forgotten_on_a_change() {
        let refused = RefusedPins::default();
        let wrong = refused.digest("CARD-1", &pin("111111"));
        refused.remember(wrong.clone());
        assert!(refused.contains(&refused.digest("CARD-1", &pin("111111"))));
        // Another PIN, or the same PIN for another card, is not refused.
        assert!(!refused.contains(&refused.digest("CARD-1", &pin("111112"))));
        assert!(!refused.contains(&refused.digest("CARD-2", &pin("111111"))));
        // Serial and PIN cannot run into each other.
        assert!(!refused.contains(&refused.digest("CARD-11", &pin("11111"))));
        // The same refusal twice takes one place.
        refused.remember(wrong.clone());
        assert_eq!(refused.lock().len(), 1);
        // Bounded: the oldest goes first.
        for n in 0..REMEMBERED {
            refused.remember(refused.digest("CARD-3", &pin(&format!("{n:06}"))));
        }
        assert_eq!(refused.lock().len(), REMEMBERED);
        assert!(!refused.contains(&wrong));
        refused.clear();
        assert!(!refused.contains(&refused.digest("CARD-3", &pin("000001"))));
    }

    #[test]
    fn digests_are_keyed_per_process() {
        // Two memories (two processes) give different digests of the same (card, PIN): one
        // cannot be looked up without the secret.
        let (a, b) = (RefusedPins::default(), RefusedPins::default());
        assert!(a.digest("CARD-1", &pin("123456")) != b.digest("CARD-1", &pin("123456")));
    }
}
