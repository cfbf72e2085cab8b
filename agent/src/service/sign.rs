//! Signing for a caller: the certificate the caller expects, a PIN from the allowed source,
//! and the card core's signature.

use base64::Engine as _;
use card_agent_protocol::message::{self, SignArgs, SignResult, SignatureFormat};
use card_agent_protocol::secret::SecretString;

use super::{Caller, Service};
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

impl SignRequest {
    /// From the native protocol's arguments.
    pub fn from_args(args: SignArgs) -> Result<Self> {
        let input = match args.input().map_err(|e| Error::BadInput(e.to_string()))? {
            message::SignInput::Data(d) => SignInput::Data(d),
            message::SignInput::Hash(h) => SignInput::Hash(h),
        };
        let nonce = args
            .nonce
            .as_deref()
            .map(|n| {
                card_agent_protocol::encoding::decode_base64(n)
                    .map_err(|_| Error::BadInput("nonce is not base64".to_owned()))
            })
            .transpose()?;
        Ok(SignRequest {
            certificate: Some(args.certificate),
            input,
            hash: hash_from_wire(args.hash_algorithm),
            format: match args.format {
                SignatureFormat::Pkcs1 => SignFormat::Pkcs1,
                SignatureFormat::Cms => SignFormat::Cms,
                SignatureFormat::CmsAttached => SignFormat::CmsAttached,
            },
            cms: CmsOptions {
                nonce,
                ..CmsOptions::default()
            },
            pin: args.pin,
            slot_description: None,
            with_card_serial: false,
            check_validity: false,
        })
    }
}

impl SignOutput {
    /// The native protocol's result.
    pub fn into_wire(self) -> SignResult {
        let b64 = base64::engine::general_purpose::STANDARD;
        SignResult {
            signature: b64.encode(&self.signature),
            format: match self.format {
                SignFormat::Pkcs1 => SignatureFormat::Pkcs1,
                SignFormat::Cms => SignatureFormat::Cms,
                SignFormat::CmsAttached => SignatureFormat::CmsAttached,
            },
            certificate: b64.encode(&self.certificate.info.der),
        }
    }
}

/// The protocol's hash names mapped to the signer's.
pub(super) fn hash_from_wire(h: message::HashAlgorithm) -> HashAlgorithm {
    match h {
        message::HashAlgorithm::Sha1 => HashAlgorithm::Sha1,
        message::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
        message::HashAlgorithm::Sha384 => HashAlgorithm::Sha384,
        message::HashAlgorithm::Sha512 => HashAlgorithm::Sha512,
    }
}

impl Service {
    /// Signs for `caller` (already admitted). The agent refuses when the card does not hold the
    /// certificate the caller expects, so a page never gets a signature from someone else's card.
    pub fn sign(&self, caller: &Caller, request: SignRequest) -> Result<SignOutput> {
        let (token, certificate) = self.signing_certificate(
            request.certificate.as_deref(),
            request.slot_description.as_deref(),
        )?;
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
        let pin = self.obtain_pin(caller, request.pin, &token, certificate.info.holder_name())?;
        let signature = self.core.sign(
            &token,
            &certificate,
            &pin,
            request.hash,
            &request.input,
            request.format,
            &cms,
        )?;
        tracing::info!(
            site = caller.origin.as_ref().map(|o| o.as_str()).unwrap_or("local"),
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

    /// The certificate to sign with: the one named, else the only signing certificate (in the
    /// named slot, when one is named).
    pub(super) fn signing_certificate(
        &self,
        sha256: Option<&str>,
        slot_description: Option<&str>,
    ) -> Result<(TokenInfo, TokenCertificate)> {
        match slot_description.filter(|s| !s.is_empty()) {
            None => self.core.find_certificate(sha256),
            Some(slot) => {
                let token = self
                    .core
                    .tokens()?
                    .into_iter()
                    .find(|t| t.slot_description.contains(slot))
                    .ok_or(Error::NoCard)?;
                let cert = self
                    .core
                    .certificates(token.token_ref)?
                    .into_iter()
                    .find(|c| match sha256 {
                        Some(h) => c.info.sha256.eq_ignore_ascii_case(h),
                        None => c.has_private_key && c.info.is_for_signing() && !c.info.is_ca,
                    })
                    .ok_or_else(|| Error::CertNotFound {
                        wanted: sha256.unwrap_or("a signing certificate").to_owned(),
                    })?;
                Ok((token, cert))
            }
        }
    }
}
