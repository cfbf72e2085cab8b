//! Where the command line's requests go. Through the user's own daemon when one of this
//! version runs (its socket in the user's runtime directory): the card then keeps one queue
//! for every program, browsers included. Otherwise through the same service, run in this
//! process. `--demo` and an explicit `--pkcs11-module` always run in this process: they name
//! tokens the daemon does not serve. Either way the caller is this program, a local program
//! of the user, and the service decides everything.

use base64::Engine as _;
use card_agent_protocol::message::{
    self, Command, ResponseBody, ServerMessage, SignArgs, SignatureFormat, VerifyPinArgs,
};
use card_agent_protocol::types::{Inventory, Token};
use card_agent_protocol::SecretString;

use super::{caller, open_service, Cli};
use crate::card_core::CertificateWanted;
use crate::certificate::CertificateInfo;
use crate::error::{Error, Result};
use crate::inventory;
use crate::service::{Service, SignRequest};
use crate::signer::{HashAlgorithm, SignFormat, SignInput};
use crate::token::TokenCertificate;

/// The way to the cards for one command.
pub(super) enum Door {
    /// The user's daemon.
    #[cfg(unix)]
    Daemon(Daemon),
    /// The same service, in this process.
    Local(Box<Service>),
}

/// A signature and whose it is.
pub(super) struct Signed {
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// The certificate holder's name.
    pub holder: String,
    /// The token's serial.
    pub serial: String,
}

impl Door {
    /// The daemon when one of this version answers and the options allow, else the service
    /// in this process.
    pub(super) fn open(cli: &Cli, demo: bool) -> Result<Door> {
        #[cfg(unix)]
        if !demo && cli.pkcs11_module.is_empty() {
            if let Some(daemon) = Daemon::connect() {
                return Ok(Door::Daemon(daemon));
            }
        }
        Ok(Door::Local(Box::new(open_service(cli, demo)?)))
    }

    /// Readers, tokens and certificates.
    pub(super) fn inventory(&mut self, cli: &Cli) -> Result<Inventory> {
        match self {
            #[cfg(unix)]
            Door::Daemon(d) => from_value(d.call(Command::Status)?),
            Door::Local(s) => Ok(inventory::to_wire(
                &s.inventory(&caller(cli))?,
                inventory::now_unix(),
            )),
        }
    }

    /// One login; returns the checked token's label and serial.
    pub(super) fn verify_pin(
        &mut self,
        cli: &Cli,
        token: Option<&str>,
        pin: Option<SecretString>,
    ) -> Result<(String, String)> {
        match self {
            #[cfg(unix)]
            Door::Daemon(d) => {
                let args = VerifyPinArgs {
                    token: token.map(str::to_owned),
                    pin,
                };
                d.call(Command::VerifyPin(args))?;
                // The daemon checked the token it chose; name it as it lists it.
                let tokens = from_value::<Inventory>(d.call(Command::Status)?)?.tokens;
                let checked = match token {
                    Some(serial) => tokens.into_iter().find(|t| t.serial == serial),
                    None => only(tokens),
                };
                Ok(checked.map(|t| (t.label, t.serial)).unwrap_or_default())
            }
            Door::Local(s) => {
                let t = s.verify_pin(&caller(cli), token, pin)?;
                Ok((t.label, t.serial))
            }
        }
    }

    /// Signs.
    pub(super) fn sign(&mut self, cli: &Cli, request: SignRequest) -> Result<Signed> {
        match self {
            #[cfg(unix)]
            Door::Daemon(d) => d.sign(request),
            Door::Local(s) => {
                let out = s.sign(&caller(cli), request)?;
                Ok(Signed {
                    holder: out.certificate.info.holder_name().to_owned(),
                    serial: out.token.serial,
                    signature: out.signature,
                })
            }
        }
    }
}

fn only(mut tokens: Vec<Token>) -> Option<Token> {
    (tokens.len() == 1).then(|| tokens.pop()).flatten()
}

fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value)
        .map_err(|e| Error::AgentUnavailable(format!("an answer card-agent could not read: {e}")))
}

/// A connection to the user's daemon, speaking the native protocol as a local program.
#[cfg(unix)]
pub(super) struct Daemon {
    stream: std::os::unix::net::UnixStream,
    next_id: i64,
}

#[cfg(unix)]
impl Daemon {
    /// The user's daemon, when one answers on its socket and is this version.
    fn connect() -> Option<Daemon> {
        let socket = crate::ipc::Endpoint::for_current_user().socket;
        let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
        // The ladder: this program waits longer than the daemon's largest budget.
        let wait = card_agent_protocol::timeouts::EXTENSION_INTERACTIVE;
        stream.set_read_timeout(Some(wait)).ok()?;
        stream.set_write_timeout(Some(wait)).ok()?;
        let mut daemon = Daemon { stream, next_id: 0 };
        let version = daemon.call(Command::Version).ok()?;
        let same = version["version"].as_str() == Some(Service::version());
        if !same {
            tracing::info!(
                ?version,
                "another version of card-agent runs; working in this process"
            );
        }
        same.then_some(daemon)
    }

    /// Sends one request and waits for its response (events are not subscribed to).
    fn call(&mut self, command: Command) -> Result<serde_json::Value> {
        use std::io::{Read, Write};
        self.next_id += 1;
        let id = message::RequestId::from(self.next_id);
        let json = message::Request::new(id.clone(), command)
            .to_json()
            .map_err(|e| Error::Internal(format!("encoding a request: {e}")))?;
        let frame = card_agent_protocol::frame::encode(&json).map_err(|e| {
            Error::BadInput(format!("the request is too large for card-agent: {e}"))
        })?;
        let unreachable = |e: std::io::Error| Error::AgentUnavailable(e.to_string());
        self.stream.write_all(&frame).map_err(unreachable)?;
        let mut decoder = card_agent_protocol::frame::FrameDecoder::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(payload) = decoder
                .next_frame()
                .map_err(|e| Error::AgentUnavailable(e.to_string()))?
            {
                let Ok(ServerMessage::Response(response)) = ServerMessage::parse(&payload) else {
                    continue;
                };
                if response.id.as_ref() != Some(&id) {
                    continue;
                }
                return match response.body {
                    ResponseBody::Result(value) => Ok(value),
                    ResponseBody::Error(body) => Err(Error::Agent(Box::new(body))),
                };
            }
            let n = self.stream.read(&mut buf).map_err(unreachable)?;
            if n == 0 {
                return Err(Error::AgentUnavailable(
                    "card-agent closed the connection before it answered".to_owned(),
                ));
            }
            decoder.push(&buf[..n]);
        }
    }

    /// Signs through the daemon. The certificate is chosen by the card core's one rule over
    /// the daemon's list, then named by its thumbprint (the daemon checks it is the card's);
    /// a detached signature sends only the digest.
    fn sign(&mut self, request: SignRequest) -> Result<Signed> {
        let listed = from_value::<Inventory>(self.call(Command::Status)?)?.tokens;
        if listed.is_empty() {
            return Err(Error::NoCard);
        }
        let candidates = listed.iter().flat_map(|token| {
            token.certificates.iter().filter_map(move |c| {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(&c.der_base64)
                    .ok()?;
                let certificate = TokenCertificate {
                    info: CertificateInfo::parse(&der).ok()?,
                    id: hex::decode(&c.pkcs11_id).unwrap_or_default(),
                    label: c.pkcs11_label.clone(),
                    has_private_key: c.has_private_key,
                };
                Some((token.serial.clone(), certificate))
            })
        });
        let (serial, certificate) = CertificateWanted {
            sha256: request.certificate.as_deref(),
            ..CertificateWanted::default()
        }
        .pick(candidates)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let (hash, data) = match (&request.input, request.format) {
            (SignInput::Hash(h), _) => (Some(b64.encode(h)), None),
            (SignInput::Data(d), SignFormat::CmsAttached) => (None, Some(b64.encode(d))),
            (SignInput::Data(d), _) => (Some(b64.encode(request.hash.digest(d))), None),
        };
        let args = SignArgs {
            certificate: certificate.info.sha256.clone(),
            hash,
            data,
            hash_algorithm: match request.hash {
                HashAlgorithm::Sha1 => message::HashAlgorithm::Sha1,
                HashAlgorithm::Sha256 => message::HashAlgorithm::Sha256,
                HashAlgorithm::Sha384 => message::HashAlgorithm::Sha384,
                HashAlgorithm::Sha512 => message::HashAlgorithm::Sha512,
            },
            format: match request.format {
                SignFormat::Pkcs1 => SignatureFormat::Pkcs1,
                SignFormat::Cms => SignatureFormat::Cms,
                SignFormat::CmsAttached => SignatureFormat::CmsAttached,
            },
            nonce: request.cms.nonce.as_deref().map(|n| b64.encode(n)),
            pin: request.pin,
        };
        let result = self.call(Command::Sign(args))?;
        let signature = result["signature"]
            .as_str()
            .and_then(|s| b64.decode(s).ok())
            .ok_or_else(|| {
                Error::AgentUnavailable("a signature card-agent could not read".to_owned())
            })?;
        Ok(Signed {
            signature,
            holder: certificate.info.holder_name().to_owned(),
            serial,
        })
    }
}
