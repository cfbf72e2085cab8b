//! What each key said of CKA_ALWAYS_AUTHENTICATE, remembered for the next operation.
//!
//! The flag decides whether an operation needs the context-specific login after its init, so
//! it is read after the login, inside the token's turn, on every signature and decryption.
//! On a card that read is an APDU exchange (about 20 ms in the bench's card-speed profile,
//! 6 % of a signature); on SoftHSM a file check. A key's flag is set when the key is made, so
//! it is remembered by token (slot, serial) and key ID. Should a card be personalised again
//! while the daemon runs, a wrong guess makes the operation fail (the key wants the login the
//! agent did not do, or refuses one it did not need): any failure forgets the key, so the
//! next operation reads the flag again. The PIN is never presented more often than the key
//! asks: the context-specific login is the same typed PIN, in the same operation.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::token::TokenInfo;

/// Most keys remembered; a person has a card or two with a few keys each. When full, the
/// memo starts again rather than grow.
const MAX_KEYS: usize = 64;

/// Which token and key.
type KeyName = (u64, String, Vec<u8>);

/// Each key's CKA_ALWAYS_AUTHENTICATE, as the module last said it.
#[derive(Debug, Default)]
pub(super) struct KeyFlags(Mutex<HashMap<KeyName, bool>>);

impl KeyFlags {
    /// The remembered flag of `key_id` on `token`, else `read()`'s answer, remembered.
    pub(super) fn always_authenticate(
        &self,
        token: &TokenInfo,
        key_id: &[u8],
        read: impl FnOnce() -> bool,
    ) -> bool {
        let name = name(token, key_id);
        if let Some(flag) = self.lock().get(&name) {
            return *flag;
        }
        let flag = read();
        let mut keys = self.lock();
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(name, flag);
        flag
    }

    /// Forgets `key_id` on `token`: an operation with it failed.
    pub(super) fn forget(&self, token: &TokenInfo, key_id: &[u8]) {
        self.lock().remove(&name(token, key_id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KeyName, bool>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn name(token: &TokenInfo, key_id: &[u8]) -> KeyName {
    (
        token.token_ref.slot_id,
        token.serial.clone(),
        key_id.to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pin::{PinLimits, PinState};
    use crate::token::TokenRef;

    fn token(slot_id: u64, serial: &str) -> TokenInfo {
        TokenInfo {
            token_ref: TokenRef {
                provider: 0,
                slot_id,
            },
            label: "card".to_owned(),
            manufacturer: String::new(),
            model: String::new(),
            serial: serial.to_owned(),
            slot_description: String::new(),
            module: String::new(),
            pin_limits: PinLimits::from_token(4, 8),
            pin_state: PinState::Ok,
            tries_left: None,
            demo: false,
            pin_pad: false,
        }
    }

    #[test]
    fn read_once_per_key_until_forgotten() {
        let flags = KeyFlags::default();
        let reads = std::cell::Cell::new(0);
        let read = |answer| {
            reads.set(reads.get() + 1);
            answer
        };
        let card = token(1, "A");
        assert!(flags.always_authenticate(&card, b"k", || read(true)));
        assert!(flags.always_authenticate(&card, b"k", || read(false)));
        assert_eq!(reads.get(), 1);
        // Another key, another card in the same slot, the same card in another slot: read.
        assert!(!flags.always_authenticate(&card, b"j", || read(false)));
        assert!(!flags.always_authenticate(&token(1, "B"), b"k", || read(false)));
        assert!(!flags.always_authenticate(&token(2, "A"), b"k", || read(false)));
        assert_eq!(reads.get(), 4);
        flags.forget(&card, b"k");
        assert!(!flags.always_authenticate(&card, b"k", || read(false)));
        assert_eq!(reads.get(), 5);
    }

    #[test]
    fn bounded() {
        let flags = KeyFlags::default();
        for n in 0..(MAX_KEYS as u64 * 3) {
            flags.always_authenticate(&token(n, "A"), b"k", || true);
            assert!(flags.lock().len() <= MAX_KEYS);
        }
    }
}
