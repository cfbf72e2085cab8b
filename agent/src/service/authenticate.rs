//! Authentication that cannot be replayed on another site: the card signs
//! `SHA-256(origin) || SHA-256(nonce)`, so the token is bound to the page's origin (from the
//! browser) and the server's single-use nonce.

use card_agent_protocol::auth::{auth_signed_message, check_nonce, AuthAlgorithm, AuthToken};
use card_agent_protocol::message::AuthenticateArgs;

use super::{Caller, Service};
use crate::certificate::KeyAlgorithm;
use crate::error::{Error, Result};
use crate::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};

impl Service {
    /// Signs an authentication token for the caller's origin. Local callers have no origin and
    /// cannot authenticate: a token is only meaningful for a site.
    pub fn authenticate(&self, caller: &Caller, args: AuthenticateArgs) -> Result<AuthToken> {
        let origin = caller
            .origin
            .as_ref()
            .ok_or_else(|| Error::BadInput("authenticate needs the page's origin".to_owned()))?;
        check_nonce(&args.challenge_nonce)
            .map_err(|e| Error::BadInput(format!("challengeNonce: {e}")))?;
        let (token, certificate) = self.signing_certificate(args.certificate.as_deref(), None)?;
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
        let pin = self.obtain_pin(caller, args.pin, &token, certificate.info.holder_name())?;
        let message = auth_signed_message(origin.as_str(), &args.challenge_nonce);
        let signature = self.core.sign(
            &token,
            &certificate,
            &pin,
            hash,
            &SignInput::Data(message),
            SignFormat::Pkcs1,
            &CmsOptions::default(),
        )?;
        tracing::info!(site = %origin, token = %token.serial, "authenticated");
        Ok(AuthToken::new(
            &certificate.info.der,
            algorithm,
            &signature,
            env!("CARGO_PKG_VERSION"),
        ))
    }
}
