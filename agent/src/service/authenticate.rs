//! Authentication that cannot be replayed on another site: the card signs
//! `SHA-256(origin) || SHA-256(nonce)`, so the token is bound to the page's origin (from the
//! browser) and the server's single-use nonce.

use card_agent_protocol::auth::{auth_signed_message, check_nonce, AuthAlgorithm, AuthToken};
use card_agent_protocol::secret::SecretString;

use super::{Caller, Service};
use crate::card_core::CertificateWanted;
use crate::certificate::KeyAlgorithm;
use crate::error::{Error, Result};
use crate::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};

impl Service {
    /// Signs an authentication token for the caller's origin, after admitting it, over the
    /// server's `challenge_nonce`, with the certificate whose thumbprint is `certificate` (or
    /// the only signing one). Only a site can authenticate: a token is meaningful only for one.
    pub fn authenticate(
        &self,
        caller: &Caller,
        challenge_nonce: &str,
        certificate: Option<&str>,
        pin: Option<SecretString>,
    ) -> Result<AuthToken> {
        let origin = caller
            .site()
            .ok_or_else(|| Error::BadInput("authenticate needs the page's origin".to_owned()))?;
        self.admit(caller)?;
        check_nonce(challenge_nonce)
            .map_err(|e| Error::BadInput(format!("challengeNonce: {e}")))?;
        let (token, certificate) = self.core.choose_certificate(&CertificateWanted {
            sha256: certificate,
            ..CertificateWanted::default()
        })?;
        let (algorithm, hash) = match certificate.info.key_algorithm {
            KeyAlgorithm::Rsa { .. } => (AuthAlgorithm::Rs256, HashAlgorithm::Sha256),
            KeyAlgorithm::Ec { bits: 256 } => (AuthAlgorithm::Es256, HashAlgorithm::Sha256),
            KeyAlgorithm::Ec { bits: 384 } => (AuthAlgorithm::Es384, HashAlgorithm::Sha384),
            other => {
                return Err(Error::Unsupported(format!(
                    "authentication with a {} key",
                    other.name()
                )))
            }
        };
        let message = SignInput::Data(auth_signed_message(origin.as_str(), challenge_nonce));
        let holder = certificate.info.holder_name();
        let signature =
            self.with_pin(caller, pin, &token, holder, "authenticate", |pin, admit| {
                self.core.sign_if(
                    &token,
                    &certificate,
                    pin,
                    hash,
                    &message,
                    SignFormat::Pkcs1,
                    &CmsOptions::default(),
                    admit,
                )
            })?;
        tracing::info!(site = %origin, token = %token.serial, "authenticated");
        Ok(AuthToken::new(
            &certificate.info.der,
            algorithm,
            &signature,
            env!("CARGO_PKG_VERSION"),
        ))
    }
}
