//! The SmartPKI adapter's only contact with the service: the three commands, run for a caller
//! whose origin the browser gave, through the service's own admission, PIN source and card
//! operations. Nothing here decides a rule of its own.

use std::time::{Duration, UNIX_EPOCH};

use card_agent_protocol::message::{
    Command, SmartPkiCallArgs, SmartPkiCloseResult, SmartPkiOpenResult, SmartPkiReply,
};
use card_agent_protocol::secret::SecretString;

use super::codes::{ChainError, StepError};
use super::message::{Slot, Step};
use super::pin_unwrap::PortKey;
use super::port::{Chosen, Door, Port, SignShape};
use super::ports::Ports;
use crate::error::{Error, Result};
use crate::policy::Origin;
use crate::service::{Caller, Service, SignRequest};
use crate::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};
use crate::token::{TokenCertificate, TokenInfo};

/// The hash of every SmartPKI signature. SmartPKI's own choice is not published; SHA-256 is
/// what current government verifiers expect.
const HASH: HashAlgorithm = HashAlgorithm::Sha256;

/// `smartpki-open`: admits the page's site (the user is asked in the agent's own dialog when
/// the site is not yet trusted), then makes the port and its key.
pub fn open(service: &Service, caller: &Caller, ports: &Ports) -> Result<SmartPkiOpenResult> {
    let origin = page_origin(caller)?;
    // SmartPKI pages have no /addDomain: their first connect is where the user is asked.
    if !service.is_trusted(caller) && !service.confirm_site(origin, caller.lang, &caller.client)? {
        return Err(Error::SiteNotTrusted {
            origin: origin.to_string(),
        });
    }
    let port = Port::new(PortKey::generate()?);
    let info = port.info();
    let handle = ports.insert(origin.clone(), port)?;
    tracing::info!(site = %origin, "SmartPKI port opened");
    Ok(SmartPkiOpenResult {
        port: handle,
        version: info.version,
        modulus: info.modulus,
    })
}

/// `smartpki-call`: one step on the caller's port. The step's failures are in the reply; an
/// unknown port or a site no longer trusted is an error of the call.
pub fn call(
    service: &Service,
    caller: &Caller,
    ports: &Ports,
    args: SmartPkiCallArgs,
) -> Result<SmartPkiReply> {
    let origin = page_origin(caller)?;
    // The user may have withdrawn the site since the port opened (the service admits every
    // card operation too; this refuses the port's other steps).
    if !service.is_trusted(caller) {
        return Err(Error::SiteNotTrusted {
            origin: origin.to_string(),
        });
    }
    // A port this connection does not hold for this origin (closed, or lost with an agent
    // that restarted): the page is told in SmartPKI's terms, and the extension closes its port.
    let Ok(port) = ports.get(args.port, origin) else {
        return Ok(StepError::from(ChainError::PortClosed).to_reply(caller.lang));
    };
    let mut port = port
        .lock()
        .map_err(|_| Error::Internal("SmartPKI port poisoned".to_owned()))?;
    let door = ServiceDoor { service, caller };
    let outcome = Step::parse(args)
        .map_err(Into::into)
        .and_then(|step| port.step(step, &door));
    Ok(outcome.unwrap_or_else(|e| {
        tracing::info!(site = %origin, error = %e, "SmartPKI step failed");
        e.to_reply(caller.lang)
    }))
}

/// `smartpki-close`: forgets the port, its key and its memory.
pub fn close(caller: &Caller, ports: &Ports, handle: u64) -> Result<SmartPkiCloseResult> {
    let closed = ports.remove(handle, page_origin(caller)?)?;
    Ok(SmartPkiCloseResult { closed })
}

/// SmartPKI ports are for web pages: the origin is the browser's.
fn page_origin(caller: &Caller) -> Result<&Origin> {
    caller
        .site()
        .ok_or_else(|| Error::BadInput("SmartPKI commands need the page's origin".to_owned()))
}

/// The service, for one caller.
struct ServiceDoor<'a> {
    service: &'a Service,
    caller: &'a Caller,
}

impl ServiceDoor<'_> {
    /// Every card with its certificates, as the service gives them to this caller.
    fn cards(&self) -> Result<Vec<(TokenInfo, Vec<TokenCertificate>)>> {
        self.service.certificates(self.caller)
    }
}

impl Door for ServiceDoor<'_> {
    fn signing_certificate(&self, slot: Slot) -> Result<Chosen> {
        let cards = self.cards()?;
        let cards: Vec<_> = match slot {
            Slot::Any => cards,
            Slot::Index(n) => vec![cards
                .into_iter()
                .nth(n)
                .ok_or(Error::NoToken { serial: None })?],
        };
        let mut found: Vec<(String, TokenCertificate)> = cards
            .into_iter()
            .flat_map(|(token, certs)| {
                certs
                    .into_iter()
                    .filter(|c| c.has_private_key && c.info.is_for_signing() && !c.info.is_ca)
                    .map(move |c| (token.serial.clone(), c))
            })
            .collect();
        match found.len() {
            0 => Err(Error::CertNotFound {
                wanted: "a signing certificate".to_owned(),
            }),
            1 => {
                let (card_serial, cert) = found.remove(0);
                Ok(Chosen {
                    card_serial,
                    info: cert.info,
                })
            }
            // Never one of several at random: the page cannot choose, so the user removes a
            // card (or the page names a reader).
            _ => Err(Error::Ambiguous {
                what: "several signing certificates are present".to_owned(),
                choose: crate::error::Choice::Certificate,
            }),
        }
    }

    fn verify_pin(&self, chosen: &Chosen, pin: Option<SecretString>) -> Result<()> {
        self.service
            .verify_pin(self.caller, Some(&chosen.card_serial), pin)
            .map(drop)
    }

    fn sign(
        &self,
        chosen: &Chosen,
        pin: Option<SecretString>,
        content: &[u8],
        shape: SignShape,
    ) -> Result<Vec<u8>> {
        let signing_time = match shape.sign_time {
            None => None,
            Some(t) => Some(
                u64::try_from(t)
                    .ok()
                    .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
                    .ok_or_else(|| Error::BadInput("signTime is out of range".to_owned()))?,
            ),
        };
        let request = SignRequest {
            certificate: Some(chosen.info.sha256.clone()),
            input: SignInput::Data(content.to_vec()),
            hash: HASH,
            format: if shape.style.detached {
                SignFormat::Cms
            } else {
                SignFormat::CmsAttached
            },
            cms: CmsOptions {
                signing_time,
                without_signed_attributes: !shape.style.signed_attributes,
                ..CmsOptions::default()
            },
            pin,
            slot_description: None,
            with_card_serial: false,
            check_validity: false,
        };
        Ok(self.service.sign(self.caller, request)?.signature)
    }
}

/// Runs one of the three SmartPKI commands for the daemon connection that holds `ports`.
pub fn run(
    service: &Service,
    caller: &Caller,
    ports: &Ports,
    command: Command,
) -> Result<serde_json::Value> {
    let value = match command {
        Command::SmartPkiOpen => serde_json::to_value(open(service, caller, ports)?),
        Command::SmartPkiCall(args) => serde_json::to_value(call(service, caller, ports, args)?),
        Command::SmartPkiClose(args) => serde_json::to_value(close(caller, ports, args.port)?),
        other => {
            return Err(Error::Internal(format!(
                "{} is not a SmartPKI command",
                other.name()
            )))
        }
    };
    value.map_err(|e| Error::Internal(format!("encoding a result: {e}")))
}

/// Whether `command` is one of the SmartPKI family, which runs against the connection's ports.
pub fn is_smartpki(command: &Command) -> bool {
    matches!(
        command,
        Command::SmartPkiOpen | Command::SmartPkiCall(_) | Command::SmartPkiClose(_)
    )
}
