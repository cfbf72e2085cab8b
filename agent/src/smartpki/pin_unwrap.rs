//! The PIN a SmartPKI page sends.
//!
//! SmartPKI's page script replaces every PIN with `RSA(pin + "_PKI")` under the port's public
//! key (PKCS#1 v1.5 type 2, the result as hex, jsbn's `RSAKey.encrypt`), or leaves it in clear
//! when it cannot encrypt. [`PortKey`] is the port's key pair, made in the daemon where the PIN
//! is used; [`PortKey::unwrap_pin`] gives back the PIN in a zeroizing [`Pin`], and every PIN
//! rule applies to it afterwards as to any other.
//!
//! The page is the only party that encrypts under its port's key and it knows its own PIN, so a
//! decryption failure tells it nothing it does not know (no padding oracle to exploit); the key
//! is fresh for every port and gone when the port closes.

use card_agent_protocol::secret::SecretString;
use rsa::traits::PublicKeyParts as _;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use zeroize::Zeroizing;

use super::codes::ChainError;
use crate::error::{Error, Result};
use crate::pin::{Pin, MAX_PIN_INPUT};

/// The port key's size: what SmartPKI's page script expects from `info`'s modulus.
pub const PORT_KEY_BITS: usize = 2048;
/// What the page appends to the PIN before encrypting it.
const PIN_SUFFIX: &str = "_PKI";

/// One port's RSA key pair. The private key is wiped when the port closes (the `rsa` crate
/// zeroizes its key on drop).
pub struct PortKey {
    key: RsaPrivateKey,
    modulus_hex: String,
}

impl PortKey {
    /// A fresh RSA-2048 key (public exponent 65537) from the operating system's generator.
    pub fn generate() -> Result<Self> {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, PORT_KEY_BITS)
            .map_err(|e| Error::Internal(format!("cannot make the port's key: {e}")))?;
        Ok(Self::from_key(key))
    }

    /// A port key from an existing key pair (tests reuse one to stay fast).
    pub fn from_key(key: RsaPrivateKey) -> Self {
        let modulus_hex = key.n().to_str_radix(16);
        PortKey { key, modulus_hex }
    }

    /// The modulus as lower-case hex, as `info` gives it.
    pub fn modulus_hex(&self) -> &str {
        &self.modulus_hex
    }

    /// The PIN the page sent: decrypted when it is the page's ciphertext, as it is when it is
    /// short enough to be a PIN typed in clear (the page's encryption failed). A ciphertext
    /// under a 2048-bit key is hundreds of hex digits, a PIN at most [`MAX_PIN_INPUT`]
    /// characters, so the two cannot be confused.
    pub fn unwrap_pin(&self, sent: SecretString) -> std::result::Result<Pin, ChainError> {
        if sent.char_len() <= MAX_PIN_INPUT {
            return Ok(Pin::new(sent.into_inner()));
        }
        let size = self.key.size();
        let hex_text = Zeroizing::new(sent.into_inner());
        // jsbn gives the number's own hex: an even number of digits, without leading zero bytes.
        if hex_text.len() > 2 * size || !hex_text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ChainError::PinNotDecrypted);
        }
        let mut padded = Zeroizing::new("0".repeat(2 * size - hex_text.len()));
        padded.push_str(&hex_text);
        let ciphertext = Zeroizing::new(
            hex::decode(padded.as_bytes()).map_err(|_| ChainError::PinNotDecrypted)?,
        );
        let plain = Zeroizing::new(
            self.key
                .decrypt(Pkcs1v15Encrypt, &ciphertext)
                .map_err(|_| ChainError::PinNotDecrypted)?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| ChainError::PinNotDecrypted)?;
        let pin = text
            .strip_suffix(PIN_SUFFIX)
            .ok_or(ChainError::PinNotDecrypted)?;
        Ok(Pin::new(pin.to_owned()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::RsaPublicKey;

    /// One key for every test of this crate that needs a port (generation takes a moment).
    pub(crate) fn test_key() -> PortKey {
        static KEY: std::sync::OnceLock<RsaPrivateKey> = std::sync::OnceLock::new();
        let key = KEY
            .get_or_init(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, PORT_KEY_BITS).unwrap())
            .clone();
        PortKey::from_key(key)
    }

    /// The public half, as the page rebuilds it from `info`'s modulus.
    pub(crate) fn public(key: &PortKey) -> RsaPublicKey {
        let n = rsa::BigUint::parse_bytes(key.modulus_hex().as_bytes(), 16).unwrap();
        RsaPublicKey::new(n, rsa::BigUint::from(65_537u32)).unwrap()
    }

    /// What the page's script sends: hex of RSA(text), without leading zero digit pairs.
    pub(crate) fn page_encrypt(public: &RsaPublicKey, text: &str) -> SecretString {
        let c = public
            .encrypt(&mut rand::rngs::OsRng, Pkcs1v15Encrypt, text.as_bytes())
            .unwrap();
        let mut hex = hex::encode(c);
        while hex.starts_with("00") {
            hex.drain(..2);
        }
        SecretString::new(hex)
    }

    #[test]
    fn the_page_pin_is_decrypted_and_its_suffix_removed() {
        let key = test_key();
        assert_eq!(key.modulus_hex().len(), 512);
        assert!(key
            .modulus_hex()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let pin = key
            .unwrap_pin(page_encrypt(&public(&key), "123456_PKI"))
            .unwrap();
        assert_eq!(pin.expose(), "123456");
        // A PIN that is not digits comes out as sent: the format rule refuses it later.
        let pin = key
            .unwrap_pin(page_encrypt(&public(&key), "12ab_PKI"))
            .unwrap();
        assert_eq!(pin.expose(), "12ab");
    }

    #[test]
    fn a_pin_in_clear_is_taken_as_it_is() {
        let key = test_key();
        assert_eq!(key.unwrap_pin("654321".into()).unwrap().expose(), "654321");
        assert_eq!(key.unwrap_pin("".into()).unwrap().expose(), "");
    }

    #[test]
    fn anything_else_is_refused() {
        let key = test_key();
        // No suffix, another key's ciphertext, not hex, too long.
        assert_eq!(
            key.unwrap_pin(page_encrypt(&public(&key), "123456"))
                .unwrap_err(),
            ChainError::PinNotDecrypted
        );
        let other = PortKey::from_key(RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap());
        let foreign = page_encrypt(&public(&other), "123456_PKI");
        assert_eq!(
            key.unwrap_pin(foreign).unwrap_err(),
            ChainError::PinNotDecrypted
        );
        let not_hex = SecretString::new("z".repeat(100));
        assert_eq!(
            key.unwrap_pin(not_hex).unwrap_err(),
            ChainError::PinNotDecrypted
        );
        let too_long = SecretString::new("1".repeat(513));
        assert_eq!(
            key.unwrap_pin(too_long).unwrap_err(),
            ChainError::PinNotDecrypted
        );
    }
}
