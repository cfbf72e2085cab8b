//! Signing for a caller: the certificate the caller expects, a PIN from the allowed source,
//! and the card core's signature.

use card_agent_protocol::secret::SecretString;

use super::{Caller, Service};
use crate::card_core::CertificateWanted;
use crate::error::{Error, Result};
use crate::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};
use crate::token::{TokenCertificate, TokenInfo};

/// A signature request, from any channel.
#[derive(Debug)]
pub struct SignRequest {
    /// SHA-256 thumbprint (hex) of the certificate the caller expects; `None` lets the agent use
    /// the only signing certificate present (legacy pages do not name one).
    pub certificate: Option<String>,
    /// The data or its hash.
    pub input: SignInput,
    /// Hash algorithm.
    pub hash: HashAlgorithm,
    /// Output format.
    pub format: SignFormat,
    /// CMS signed attributes.
    pub cms: CmsOptions,
    /// The PIN, when the request carries one.
    pub pin: Option<SecretString>,
    /// Only a token whose slot description contains this (legacy `slotDescription`).
    pub slot_description: Option<String>,
    /// Add the card's serial number as a signed attribute (legacy `withCardSN`).
    pub with_card_serial: bool,
    /// Refuse a certificate outside its validity period (legacy `checkValidity`).
    pub check_validity: bool,
}

/// A signature and what made it.
#[derive(Debug)]
pub struct SignOutput {
    /// The signature bytes (DER for CMS).
    pub signature: Vec<u8>,
    /// The format.
    pub format: SignFormat,
    /// The signer's token.
    pub token: TokenInfo,
    /// The signer's certificate.
    pub certificate: TokenCertificate,
}

impl Service {
    /// Signs for `caller`, after admitting it. The agent refuses when the card does not hold
    /// the certificate the caller expects, so a page never gets a signature from someone
    /// else's card.
    pub fn sign(&self, caller: &Caller, request: SignRequest) -> Result<SignOutput> {
        self.admit(caller)?;
        let (token, certificate) = self.core.choose_certificate(&CertificateWanted {
            sha256: request.certificate.as_deref(),
            slot_description: request.slot_description.as_deref(),
            ..CertificateWanted::default()
        })?;
        if request.check_validity {
            let now = crate::inventory::now_unix();
            if now > certificate.info.not_after {
                return Err(Error::CertificateNotValid { expired: true });
            }
            if now < certificate.info.not_before {
                return Err(Error::CertificateNotValid { expired: false });
            }
        }
        let mut cms = request.cms;
        if request.with_card_serial {
            cms.card_serial = Some(token.serial.clone());
        }
        let holder = certificate.info.holder_name();
        let signature =
            self.with_pin(caller, request.pin, &token, holder, "sign", |pin, admit| {
                self.core.sign_if(
                    &token,
                    &certificate,
                    pin,
                    request.hash,
                    &request.input,
                    request.format,
                    &cms,
                    admit,
                )
            })?;
        tracing::info!(
            caller = caller.log_name(),
            token = %token.serial,
            format = ?request.format,
            "signed"
        );
        Ok(SignOutput {
            signature,
            format: request.format,
            token,
            certificate,
        })
    }
}
