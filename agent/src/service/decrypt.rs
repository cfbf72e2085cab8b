//! Decryption with the card's encryption key (legacy `DecryptData`).

use card_agent_protocol::secret::SecretString;
use zeroize::Zeroizing;

use super::{discard_if_gone, still_wanted, Caller, Service};
use crate::card_core::{CertificateWanted, Purpose};
use crate::error::{Error, Result};

/// A decryption request.
#[derive(Debug)]
pub struct DecryptRequest {
    /// The PKCS#1 v1.5 ciphertext.
    pub ciphertext: Vec<u8>,
    /// The PIN, when the request carries one.
    pub pin: Option<SecretString>,
    /// Only a token whose slot description contains this (legacy `slotDescription`).
    pub slot_description: Option<String>,
}

impl Service {
    /// Decrypts with the key of the encryption certificate (`keyEncipherment`), after
    /// admitting the caller.
    pub fn decrypt(&self, caller: &Caller, request: DecryptRequest) -> Result<Zeroizing<Vec<u8>>> {
        self.admit(caller)?;
        if request.ciphertext.is_empty() {
            return Err(Error::BadInput(
                "there is no ciphertext to decrypt".to_owned(),
            ));
        }
        let (token, cert) = self.core.choose_certificate(&CertificateWanted {
            slot_description: request.slot_description.as_deref(),
            purpose: Purpose::Encryption,
            ..CertificateWanted::default()
        })?;
        let pin = self.obtain_pin(caller, request.pin, &token, cert.info.holder_name())?;
        let still_wanted = || still_wanted(caller, "decrypt");
        let outcome = self
            .core
            .decrypt_if(&token, &cert, &pin, &request.ciphertext, &still_wanted)
            .map(Zeroizing::new);
        discard_if_gone(caller, "decrypt", outcome)
    }
}
