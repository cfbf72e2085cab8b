//! PINs a card refused: never sent to that card again.
//!
//! A page that keeps the PIN it was given (a batch of signatures, SmartPKI's login chain, a
//! person pressing the button again) would otherwise spend one try per resend of a wrong PIN,
//! and three lock a government card. The card core remembers every PIN a card refused, for
//! that card, whatever the channel or the PIN's source (a page, a program using the daemon, the
//! agent's own dialog); the same PIN for the same card is then refused before anything reaches
//! it. A key with a login of its own (CKA_ALWAYS_AUTHENTICATE) that refuses the PIN is
//! remembered for that key only ([`Login::Key`]): the card's user login accepted that PIN, and
//! another operation may still use it.
//!
//! Only keyed digests are kept: SHA-256 over a random secret made for this process, the card's
//! serial, the login and the PIN. Without the secret, which never leaves the process, a digest
//! cannot be turned back into the PIN by trying the million 6-digit ones. The memory is bounded
//! per card and in cards, so that refusals on one token (a software token that never locks, say)
//! cannot push out another card's. It is forgotten when a card leaves a reader: taking the card
//! out and putting it back is how a person tries a PIN again (after changing it elsewhere, say).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::pin::Pin;

/// Refused PINs remembered per card: a card locks after three wrong tries in a row, and a right
/// PIN between them resets its count, so a few more cover a day's mistakes.
const PER_CARD: usize = 8;
/// Cards remembered; the one refused longest ago goes first.
const CARDS: usize = 8;

/// Which login refused the PIN.
#[derive(Debug, Clone, Copy)]
pub(super) enum Login<'a> {
    /// The card's user login (C_Login as the user).
    User,
    /// The context-specific login of the key with this CKA_ID.
    Key(&'a [u8]),
}

/// The refused PINs, as keyed digests of (card serial, login, PIN), grouped by card.
pub(super) struct RefusedPins {
    secret: Zeroizing<[u8; 32]>,
    cards: Mutex<VecDeque<Card>>,
}

struct Card {
    serial: String,
    digests: VecDeque<PinDigest>,
}

impl Card {
    /// Whether this card refused the PIN of `digest` (compared in constant time).
    fn holds(&self, digest: &PinDigest) -> bool {
        self.digests
            .iter()
            .any(|d| bool::from(d.0.as_slice().ct_eq(digest.0.as_slice())))
    }
}

/// A keyed digest of (card serial, login, PIN), taken before the PIN goes to the card so that a
/// refusal can be remembered once the PIN is gone.
/// No `PartialEq`: digests are compared only in constant time ([`Card::holds`]).
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
            cards: Mutex::new(VecDeque::with_capacity(CARDS)),
        }
    }
}

impl RefusedPins {
    /// The digest of `pin` for `login` on the card `serial`.
    pub(super) fn digest(&self, serial: &str, login: Login<'_>, pin: &Pin) -> PinDigest {
        let mut hash = Sha256::new();
        hash.update(*self.secret);
        // Each part length-prefixed, so that no two (serial, login, PIN) run into each other.
        let key: &[u8] = match login {
            Login::User => &[],
            Login::Key(id) => id,
        };
        hash.update([u8::from(matches!(login, Login::Key(_)))]);
        for part in [serial.as_bytes(), key] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        hash.update(pin.expose().as_bytes());
        PinDigest(hash.finalize().into())
    }

    /// Whether the card `serial` already refused the PIN of `digest`.
    pub(super) fn contains(&self, serial: &str, digest: &PinDigest) -> bool {
        self.lock()
            .iter()
            .any(|card| card.serial == serial && card.holds(digest))
    }

    /// Remembers that the card `serial` refused the PIN of `digest`.
    pub(super) fn remember(&self, serial: &str, digest: PinDigest) {
        let mut cards = self.lock();
        let mut card = match cards.iter().position(|c| c.serial == serial) {
            Some(at) => cards.remove(at),
            None => None,
        }
        .unwrap_or_else(|| Card {
            serial: serial.to_owned(),
            digests: VecDeque::with_capacity(PER_CARD),
        });
        if !card.holds(&digest) {
            if card.digests.len() == PER_CARD {
                card.digests.pop_front();
            }
            card.digests.push_back(digest);
        }
        if cards.len() == CARDS {
            cards.pop_front();
        }
        cards.push_back(card);
    }

    /// Forgets every refusal (a card left its reader).
    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    /// A poisoned lock only means a panic elsewhere; the list itself is always whole.
    fn lock(&self) -> MutexGuard<'_, VecDeque<Card>> {
        self.cards.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(s: &str) -> Pin {
        Pin::new(s.to_owned())
    }

    fn refuse(refused: &RefusedPins, serial: &str, login: Login<'_>, p: &str) {
        refused.remember(serial, refused.digest(serial, login, &pin(p)));
    }

    fn is_refused(refused: &RefusedPins, serial: &str, login: Login<'_>, p: &str) -> bool {
        refused.contains(serial, &refused.digest(serial, login, &pin(p)))
    }

    #[test]
    fn a_refusal_is_remembered_per_card_and_login_and_forgotten_on_a_change() {
        let refused = RefusedPins::default();
        refuse(&refused, "CARD-1", Login::User, "111111");
        assert!(is_refused(&refused, "CARD-1", Login::User, "111111"));
        // Another PIN, the same PIN for another card, or for a key's own login: not refused.
        assert!(!is_refused(&refused, "CARD-1", Login::User, "111112"));
        assert!(!is_refused(&refused, "CARD-2", Login::User, "111111"));
        assert!(!is_refused(
            &refused,
            "CARD-1",
            Login::Key(b"SIGN"),
            "111111"
        ));
        // Serial and PIN cannot run into each other.
        assert!(!is_refused(&refused, "CARD-11", Login::User, "11111"));
        // A key's refusal is that key's only.
        refuse(&refused, "CARD-1", Login::Key(b"SIGN"), "222222");
        assert!(is_refused(
            &refused,
            "CARD-1",
            Login::Key(b"SIGN"),
            "222222"
        ));
        assert!(!is_refused(
            &refused,
            "CARD-1",
            Login::Key(b"KEYX"),
            "222222"
        ));
        assert!(!is_refused(&refused, "CARD-1", Login::User, "222222"));
        // The same refusal twice takes one place.
        refuse(&refused, "CARD-1", Login::User, "111111");
        assert_eq!(refused.lock()[0].digests.len(), 2);
        refused.clear();
        assert!(!is_refused(&refused, "CARD-1", Login::User, "111111"));
    }

    #[test]
    fn bounded_per_card_and_in_cards_so_one_token_cannot_push_out_another_cards() {
        let refused = RefusedPins::default();
        refuse(&refused, "GOV-CARD", Login::User, "111111");
        // Many refusals on a token that never locks stay within its own share...
        for n in 0..100 {
            refuse(&refused, "SOFT-TOKEN", Login::User, &format!("{n:06}"));
        }
        assert!(is_refused(&refused, "GOV-CARD", Login::User, "111111"));
        assert_eq!(refused.lock()[1].digests.len(), PER_CARD);
        assert!(!is_refused(&refused, "SOFT-TOKEN", Login::User, "000000"));
        assert!(is_refused(&refused, "SOFT-TOKEN", Login::User, "000099"));
        // ...and only as many other cards as the bound can push it out.
        for n in 0..CARDS - 1 {
            refuse(&refused, &format!("CARD-{n}"), Login::User, "333333");
        }
        assert!(!is_refused(&refused, "GOV-CARD", Login::User, "111111"));
        assert_eq!(refused.lock().len(), CARDS);
    }

    #[test]
    fn digests_are_keyed_per_process() {
        // Two memories (two processes) give different digests of the same (card, PIN): one
        // cannot be looked up without the secret.
        let (a, b) = (RefusedPins::default(), RefusedPins::default());
        let (p, q) = (pin("123456"), pin("123456"));
        assert_ne!(
            a.digest("CARD-1", Login::User, &p).0,
            b.digest("CARD-1", Login::User, &q).0
        );
    }
}
