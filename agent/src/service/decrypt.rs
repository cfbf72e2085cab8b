//! Decryption with the card's encryption key (legacy `DecryptData`).

use card_agent_protocol::secret::SecretString;
use zeroize::Zeroizing;

use super::{Caller, Service};
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
        let holder = cert.info.holder_name();
        self.with_pin(
            caller,
            request.pin,
            &token,
            holder,
            "decrypt",
            |pin, admit| {
                self.core
                    .decrypt_if(&token, &cert, pin, &request.ciphertext, admit)
                    .map(Zeroizing::new)
            },
        )
    }

    /// Opens a CMS EnvelopedData made for the token's encryption certificate, after admitting
    /// the caller: the card unwraps the content key (PKCS#1 v1.5), then the content is
    /// decrypted with it. An envelope made for another certificate is refused before any PIN
    /// is asked for.
    pub fn decrypt_envelope(
        &self,
        caller: &Caller,
        envelope: &crate::envelope::Envelope,
        pin: Option<SecretString>,
        slot_description: Option<&str>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.admit(caller)?;
        let (token, cert) = self.core.choose_certificate(&CertificateWanted {
            slot_description,
            purpose: Purpose::Encryption,
            ..CertificateWanted::default()
        })?;
        let Some(wrapped) = envelope.encrypted_key(&cert.info.der) else {
            return Err(Error::CertNotFound {
                wanted: "the certificate the data was encrypted for".to_owned(),
            });
        };
        let holder = cert.info.holder_name();
        let key = self.with_pin(caller, pin, &token, holder, "decrypt", |pin, admit| {
            self.core
                .decrypt_if(&token, &cert, pin, wrapped, admit)
                .map(Zeroizing::new)
        })?;
        Ok(envelope.open(&key)?)
    }
}
