//! [`SecretString`]: how a PIN travels through the protocol types.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// A secret (a PIN) carried in a request. Its `Debug` output is redacted and it has no
/// `Display`, so logging a request or an argument struct never shows it; the buffer is wiped
/// when dropped.
///
/// The agent takes it out with [`into_inner`](Self::into_inner) and moves it straight into its
/// own zeroizing PIN buffer (`card_agent::pin::Pin`), so there is only ever one live copy. The
/// JSON text the PIN was parsed from is the transport's buffer; the agent wipes that separately.
///
/// `PartialEq` compares contents and is for tests and clients; a PIN is only ever checked by
/// the card, never compared here.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret, taking ownership so no other copy is left behind.
    pub fn new(secret: String) -> Self {
        SecretString(Zeroizing::new(secret))
    }

    /// The secret, for the one call that hands it on.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Moves the secret out. The returned `String` owns the original allocation (nothing is
    /// copied) and the empty husk left behind is dropped.
    pub fn into_inner(mut self) -> String {
        std::mem::take(&mut *self.0)
    }

    /// Length in characters (not bytes), as PIN rules count it.
    pub fn char_len(&self) -> usize {
        self.0.chars().count()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        SecretString::new(secret)
    }
}

impl From<&str> for SecretString {
    fn from(secret: &str) -> Self {
        SecretString::new(secret.to_owned())
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl Serialize for SecretString {
    /// Serialises the secret itself: a local client (CLI, tray) has to send the PIN to the
    /// daemon. Only do this when writing a request.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::from("123456");
        assert_eq!(format!("{s:?}"), "SecretString(<redacted>)");
        assert!(!format!("{:?}", Some(&s)).contains("123456"));
    }

    #[test]
    fn moves_out_and_round_trips_through_json() {
        let s = SecretString::from("1234");
        assert_eq!(s.char_len(), 4);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"1234\"");
        let back: SecretString = serde_json::from_str("\"1234\"").unwrap();
        assert_eq!(back, s);
        assert_eq!(s.into_inner(), "1234");
    }
}
