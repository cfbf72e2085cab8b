//! Decryption with the card's encryption key (legacy `DecryptData`).

use super::{Caller, Service};
use crate::error::{Error, Result};
use crate::token::{TokenCertificate, TokenInfo};

impl Service {
    /// Decrypts `ciphertext` (PKCS#1 v1.5) with the key of the token's encryption certificate
    /// (`keyEncipherment`), in the slot named by `slot_description` when given.
    pub fn decrypt(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        pin: Option<card_agent_protocol::secret::SecretString>,
        slot_description: Option<&str>,
    ) -> Result<Vec<u8>> {
        if ciphertext.is_empty() {
            return Err(Error::BadInput(
                "there is no ciphertext to decrypt".to_owned(),
            ));
        }
        let (token, cert) = self.encryption_certificate(slot_description)?;
        let pin = self.obtain_pin(caller, pin, &token, cert.info.holder_name())?;
        self.core.decrypt(&token, &cert, &pin, ciphertext)
    }

    /// Opens a CMS EnvelopedData made for the token's encryption certificate: the card
    /// unwraps the content key (PKCS#1 v1.5), then the content is decrypted with it. An
    /// envelope made for another certificate is refused before any PIN is asked for.
    pub fn decrypt_envelope(
        &self,
        caller: &Caller,
        envelope: &crate::envelope::Envelope,
        pin: Option<card_agent_protocol::secret::SecretString>,
        slot_description: Option<&str>,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let (token, cert) = self.encryption_certificate(slot_description)?;
        let Some(wrapped) = envelope.encrypted_key(&cert.info.der) else {
            return Err(Error::CertNotFound {
                wanted: "the certificate the data was encrypted for".to_owned(),
            });
        };
        let pin = self.obtain_pin(caller, pin, &token, cert.info.holder_name())?;
        let key = zeroize::Zeroizing::new(self.core.decrypt(&token, &cert, &pin, wrapped)?);
        Ok(envelope.open(&key)?)
    }

    fn encryption_certificate(
        &self,
        slot_description: Option<&str>,
    ) -> Result<(TokenInfo, TokenCertificate)> {
        let mut found = Vec::new();
        for token in self.core.tokens()? {
            if slot_description
                .is_some_and(|s| !s.is_empty() && !token.slot_description.contains(s))
            {
                continue;
            }
            for cert in self.core.certificates(token.token_ref)? {
                if cert.has_private_key && cert.info.key_usage.contains(&"keyEncipherment") {
                    found.push((token.clone(), cert));
                }
            }
        }
        match found.len() {
            0 => Err(Error::CertNotFound {
                wanted: "an encryption certificate".to_owned(),
            }),
            1 => found.pop().ok_or(Error::NoCard),
            _ => Err(Error::Ambiguous {
                what: "several encryption certificates are present".to_owned(),
                choose: crate::error::Choice::Token,
            }),
        }
    }
}
