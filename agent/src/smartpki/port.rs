//! One SmartPKI port: its key and the chain of steps a page runs on it (`Initial`,
//! `LoadCertificateByHca`, `LoadContent`, `Sign`, `Output`, `GetAll`, `Close`).
//!
//! The port only keeps state and applies SmartPKI's order of steps; everything that touches a
//! site, a PIN source or a card goes through a [`Door`] (the service, in `glue.rs`).
//!
//! The PIN rule of this channel: one user action sends the PIN up to four times (the sample
//! login sends it with `LoadCertificateByHca`, `Sign`, then `LoadCertificateByHca` and
//! `ReadUserData` again). The page stops its chain at the first failure, so a wrong PIN costs
//! the card one try; and once the card has refused a PIN, the card core answers that PIN
//! `PIN_INCORRECT`, with the tries left as the card says them, without sending it again (the
//! rule holds for every channel: see `card_core::refused`).

use base64::Engine as _;
use card_agent_protocol::message::{SmartPkiCertificate, SmartPkiInfo, SmartPkiReply};
use card_agent_protocol::secret::SecretString;
use zeroize::Zeroizing;

use super::codes::{ChainError, StepError};
use super::message::{OutputFormat, Slot, Step, Style};
use super::pin_unwrap::PortKey;
use super::record::record;
use crate::certificate::CertificateInfo;
use crate::error::Error;

/// The version `info` reports: the lowest SmartPKI module version pages accept on Windows
/// ("6.0.1.0"; macOS pages accept "6.0.0.9"), compared as strings by the page library.
pub const MODULE_VERSION: &str = "6.0.1.0";

/// A certificate chosen for the chain, on a card.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The card's serial (the token serial).
    pub card_serial: String,
    /// The certificate.
    pub info: CertificateInfo,
}

/// What a signature should be.
#[derive(Debug, Clone, Copy)]
pub struct SignShape {
    /// Detached or attached, with or without signed attributes.
    pub style: Style,
    /// The signing time (Unix seconds); `None` for now.
    pub sign_time: Option<i64>,
}

/// What the port needs from the agent: sites, PIN sources, cards. Implemented over the service
/// by `glue.rs`; every call is for the port's own caller.
pub trait Door {
    /// The signing certificate on the card at `slot` (the only one present for [`Slot::Any`]).
    fn signing_certificate(&self, slot: Slot) -> Result<Chosen, Error>;
    /// Checks the PIN on the chosen card: one login.
    fn verify_pin(&self, chosen: &Chosen, pin: Option<SecretString>) -> Result<(), Error>;
    /// Signs `content` with the chosen certificate's key.
    fn sign(
        &self,
        chosen: &Chosen,
        pin: Option<SecretString>,
        content: &[u8],
        shape: SignShape,
    ) -> Result<Vec<u8>, Error>;
}

/// The chain in progress (reset by `Initial` and `Close`).
#[derive(Default)]
struct Chain {
    /// `Initial` ran: its reader and style.
    initial: Option<(Slot, Style)>,
    chosen: Option<Chosen>,
    content: Option<Zeroizing<Vec<u8>>>,
    signature: Option<Vec<u8>>,
}

/// One open port.
pub struct Port {
    key: PortKey,
    chain: Chain,
}

impl Port {
    /// A port with its key.
    pub fn new(key: PortKey) -> Self {
        Port {
            key,
            chain: Chain::default(),
        }
    }

    /// What `info` and `smartpki-open` report.
    pub fn info(&self) -> SmartPkiInfo {
        SmartPkiInfo {
            version: MODULE_VERSION.to_owned(),
            modulus: self.key.modulus_hex().to_owned(),
        }
    }

    /// Runs one step. A failure ends nothing here: the page decides (it stops its chain).
    pub fn step(&mut self, step: Step, door: &dyn Door) -> Result<SmartPkiReply, StepError> {
        let (slot, style) = match (&step, self.chain.initial) {
            (Step::Info, _) => {
                let mut reply = SmartPkiReply::ok();
                reply.info = Some(self.info());
                return Ok(reply);
            }
            (Step::Initial { slot, style }, _) => {
                self.chain = Chain {
                    initial: Some((*slot, *style)),
                    ..Chain::default()
                };
                return Ok(SmartPkiReply::ok());
            }
            (Step::Close, _) => {
                self.chain = Chain::default();
                return Ok(SmartPkiReply::ok());
            }
            (_, None) => return Err(ChainError::NotInitialised.into()),
            (_, Some(initial)) => initial,
        };
        match step {
            Step::Info | Step::Initial { .. } | Step::Close => Ok(SmartPkiReply::ok()),
            Step::LoadCertificate => self.certificate_reply(door, slot),
            Step::LoadCertificateByHca { pin } => {
                let chosen = self.chosen(door, slot)?;
                let pin = self.page_pin(pin)?;
                door.verify_pin(&chosen, Some(pin))?;
                self.certificate_reply(door, slot)
            }
            Step::LoadContent { content } => {
                self.chain.content = Some(Zeroizing::new(content.into_bytes()));
                self.chain.signature = None;
                Ok(SmartPkiReply::ok())
            }
            Step::LoadPkcs7 => Err(ChainError::Pkcs7Unsupported.into()),
            Step::Sign { pin, sign_time } => {
                let content = match &self.chain.content {
                    Some(c) if !c.is_empty() => c.clone(),
                    _ => return Err(ChainError::NoContent.into()),
                };
                let chosen = self.chosen(door, slot)?;
                let pin = self.page_pin(pin)?;
                let shape = SignShape { style, sign_time };
                let signature = door.sign(&chosen, Some(pin), &content, shape)?;
                self.chain.signature = Some(signature);
                Ok(SmartPkiReply::ok())
            }
            Step::Output { format } => {
                let signature = self
                    .chain
                    .signature
                    .as_ref()
                    .ok_or(ChainError::NoSignature)?;
                let b64 = base64::engine::general_purpose::STANDARD.encode(signature);
                let mut reply = SmartPkiReply::ok();
                reply.return_value = Some(match format {
                    OutputFormat::Base64 => b64,
                    OutputFormat::Pem => pem(&b64),
                });
                Ok(reply)
            }
            // The attached card's authorisation data has no published format: answering
            // anything but this error would be inventing it. The PIN is not used (and wiped).
            Step::ReadUserData => Err(ChainError::UserDataUnsupported.into()),
            Step::GetAll => self.certificate_reply(door, slot),
        }
    }

    /// The chain's certificate, chosen once per chain.
    fn chosen(&mut self, door: &dyn Door, slot: Slot) -> Result<Chosen, StepError> {
        if let Some(chosen) = &self.chain.chosen {
            return Ok(chosen.clone());
        }
        let chosen = door.signing_certificate(slot)?;
        self.chain.chosen = Some(chosen.clone());
        Ok(chosen)
    }

    fn certificate_reply(
        &mut self,
        door: &dyn Door,
        slot: Slot,
    ) -> Result<SmartPkiReply, StepError> {
        let chosen = self.chosen(door, slot)?;
        let record: SmartPkiCertificate = record(&chosen.info, &chosen.card_serial);
        let mut reply = SmartPkiReply::ok();
        reply.certificate = Some(record);
        Ok(reply)
    }

    /// The PIN the page sent, decrypted with the port's key, as the service takes it (the
    /// decrypted copy is wiped here).
    fn page_pin(&self, sent: Option<SecretString>) -> Result<SecretString, StepError> {
        let sent = sent.filter(|p| !p.is_empty()).ok_or(ChainError::NoPin)?;
        let pin = self.key.unwrap_pin(sent)?;
        Ok(SecretString::new(pin.expose().to_owned()))
    }
}

/// A PKCS#7 in PEM, 64 characters a line.
fn pem(b64: &str) -> String {
    let mut out = String::from("-----BEGIN PKCS7-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PKCS7-----\n");
    out
}
