//! The one service behind every channel. The native host (through the daemon's IPC socket) and
//! the legacy HTTP API are thin adapters that turn their wire format into calls here; every
//! rule — which sites may ask, where PINs come from, which certificate signs — is decided in
//! this module and its children, once.
//!
//! Service calls block (cards and dialogs are slow and synchronous); async transports run them
//! on blocking threads.

mod authenticate;
mod decrypt;
mod pin_source;
mod self_test;
mod sign;
mod site;

use std::sync::{Arc, Mutex};

use card_agent_protocol::message::{
    CertificatesResult, Command, Event, RemoveTrustedSiteResult,
    TokenCertificate as WireCertificate, VerifyPinArgs, VerifyPinResult, VersionResult,
};
use card_agent_protocol::Language;
use serde_json::Value;

use crate::card_core::CardCore;
use crate::config::PinEntry;
use crate::error::{Error, Result};
use crate::inventory;
use crate::pinentry::PinDialog;
use crate::policy::{Origin, Policy};

pub use sign::{SignOutput, SignRequest};

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The page's origin, taken from the browser (never from the page). `None` for local
    /// clients of the same user (CLI, tray, doctor).
    pub origin: Option<Origin>,
    /// The language for dialogs and messages.
    pub lang: Language,
    /// The connection the request came on; [`Service::client_gone`] closes its dialogs.
    pub client: crate::pinentry::Client,
}

impl Caller {
    /// A caller on a connection of its own (the legacy HTTP API's requests): the page's origin
    /// as the browser gave it, or `None` for a local program.
    pub fn new(origin: Option<Origin>, lang: Language) -> Self {
        Caller {
            origin,
            lang,
            client: crate::pinentry::Client::new(),
        }
    }

    /// A local client: no page, no site policy.
    pub fn local(lang: Language) -> Self {
        Caller {
            origin: None,
            lang,
            client: crate::pinentry::Client::new(),
        }
    }
}

/// How the service behaves, from the config file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where PINs are typed.
    pub pin_entry: PinEntry,
    /// How to run the environment check from inside the daemon (`None`: not offered, as in
    /// tests that build a bare service).
    pub environment: Option<crate::doctor::Options>,
}

/// The card-agent service.
pub struct Service {
    core: Arc<CardCore>,
    policy: Mutex<Policy>,
    /// The dialog program, or what was looked for when none was found.
    dialog: std::result::Result<PinDialog, String>,
    settings: Settings,
    /// One dialog on screen at a time: two pages asking at once must not stack PIN prompts
    /// that the user cannot tell apart.
    dialog_turn: Mutex<()>,
    events: tokio::sync::broadcast::Sender<Event>,
    /// Set when the daemon is stopping: work cut short by it is reported as such.
    stopping: std::sync::atomic::AtomicBool,
}

impl Service {
    /// A service over `core`. `dialog` is the pinentry program, or (when none was found) what
    /// was looked for; requests that need a dialog then fail with a message saying so.
    pub fn new(
        core: Arc<CardCore>,
        policy: Policy,
        dialog: std::result::Result<PinDialog, String>,
        settings: Settings,
    ) -> Self {
        let (events, _) = tokio::sync::broadcast::channel(64);
        Service {
            core,
            policy: Mutex::new(policy),
            dialog,
            settings,
            dialog_turn: Mutex::new(()),
            events,
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The card core.
    pub fn core(&self) -> &CardCore {
        &self.core
    }

    /// Publishes a card or reader event to every subscriber.
    pub fn publish(&self, event: Event) {
        // No subscriber is not an error: events are only for whoever listens now.
        let _ = self.events.send(event);
    }

    /// Closes every open PIN or site dialog and refuses new ones, for a daemon that is
    /// stopping: the requests waiting for them fail at once instead of holding the shutdown
    /// for minutes.
    pub fn close_dialogs(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(dialog) = &self.dialog {
            dialog.close_all();
        }
    }

    /// The client's connection is gone: its open dialogs close and no new one opens for it
    /// (its requests still running then fail; nobody is waiting for their answers).
    pub fn client_gone(&self, client: &crate::pinentry::Client) {
        if let Ok(dialog) = &self.dialog {
            dialog.close_client(client);
        }
    }

    /// A receiver of card and reader events from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Runs one protocol command (except `subscribe`/`unsubscribe`, which belong to the
    /// connection that asks) and returns its `result` object.
    pub fn handle(&self, caller: &Caller, command: Command) -> Result<Value> {
        let outcome = self.run_command(caller, command);
        // A dialog closed by the shutdown fails as a dialog would; the caller should hear the
        // real reason.
        match outcome {
            Err(_) if self.stopping.load(std::sync::atomic::Ordering::SeqCst) => {
                Err(Error::AgentUnavailable(
                    "card-agent stopped while the request was waiting".to_owned(),
                ))
            }
            other => other,
        }
    }

    fn run_command(&self, caller: &Caller, command: Command) -> Result<Value> {
        match command {
            Command::Version => to_value(&VersionResult::new(env!("CARGO_PKG_VERSION"))),
            Command::Status => {
                self.admit(caller)?;
                to_value(&inventory::collect(&self.core, inventory::now_unix())?)
            }
            Command::GetCertificates => {
                self.admit(caller)?;
                to_value(&self.certificates()?)
            }
            Command::VerifyPin(args) => {
                self.admit(caller)?;
                self.verify_pin(caller, args)?;
                to_value(&VerifyPinResult { verified: true })
            }
            Command::Sign(args) => {
                self.admit(caller)?;
                let request = SignRequest::from_args(args)?;
                to_value(&self.sign(caller, request)?.into_wire())
            }
            Command::Authenticate(args) => {
                self.admit(caller)?;
                to_value(&self.authenticate(caller, args)?)
            }
            Command::EnvironmentCheck => to_value(&self.environment_check(caller)?),
            Command::SelfTestSign(args) => {
                to_value(&self.self_test_sign(caller, args.certificate, args.pin)?)
            }
            Command::TrustedSites => {
                local_only(caller, "trusted-sites")?;
                to_value(&self.trusted_sites()?)
            }
            Command::RemoveTrustedSite(args) => {
                local_only(caller, "remove-trusted-site")?;
                let removed = self.remove_trusted_site(&args.site)?;
                to_value(&RemoveTrustedSiteResult { removed })
            }
            Command::Subscribe
            | Command::Unsubscribe
            | Command::Cancel(_)
            | Command::LegacyRequest(_) => Err(Error::Internal(
                "subscriptions, cancels and legacy requests are handled by the connection"
                    .to_owned(),
            )),
        }
    }

    /// Every certificate on every token, with its token's serial.
    pub fn certificates(&self) -> Result<CertificatesResult> {
        let now = inventory::now_unix();
        let mut certificates = Vec::new();
        for token in self.core.tokens()? {
            for cert in self.core.certificates(token.token_ref)? {
                certificates.push(WireCertificate {
                    token_serial: token.serial.clone(),
                    certificate: inventory::certificate(&cert, now),
                });
            }
        }
        Ok(CertificatesResult { certificates })
    }

    fn verify_pin(&self, caller: &Caller, args: VerifyPinArgs) -> Result<()> {
        let token = self.core.select_token(args.token.as_deref())?;
        let holder = self
            .core
            .certificates(token.token_ref)?
            .into_iter()
            .find(|c| c.has_private_key)
            .map(|c| c.info.holder_name().to_owned())
            .unwrap_or_else(|| token.label.clone());
        let pin = self.obtain_pin(caller, args.pin, &token, &holder)?;
        self.core.verify_pin(&token, &pin)
    }
}

impl Service {
    /// The environment check, run with the daemon's own card core, for the self-test page and
    /// the extension's pages. Local callers only: it describes this computer.
    pub fn environment_check(&self, caller: &Caller) -> Result<crate::doctor::Report> {
        let options = self.environment_options(caller)?;
        Ok(crate::doctor::run_with_core(&options, &self.core))
    }

    /// Applies one of the environment check's fix actions (local callers only).
    pub fn apply_fix(&self, caller: &Caller, action: &str) -> Result<crate::doctor::FixOutcome> {
        let options = self.environment_options(caller)?;
        crate::doctor::apply_fix(action, &options)
    }

    /// The environment check's options for a local caller, in the caller's language, now.
    fn environment_options(&self, caller: &Caller) -> Result<crate::doctor::Options> {
        if let Some(origin) = &caller.origin {
            return Err(Error::SiteNotTrusted {
                origin: origin.to_string(),
            });
        }
        let mut options = self.settings.environment.clone().ok_or_else(|| {
            Error::Internal("the environment check is not available here".to_owned())
        })?;
        options.lang = caller.lang;
        options.now_unix = crate::inventory::now_unix();
        Ok(options)
    }

    /// The dialog program, for `caller`'s connection.
    fn dialog(&self, caller: &Caller) -> Result<PinDialog> {
        self.dialog
            .as_ref()
            .map(|d| d.for_client(&caller.client))
            .map_err(|tried| Error::NoPinDialog {
                tried: tried.clone(),
            })
    }
}

/// Refuses a page: managing trust is for the user's own programs (the tray, the command line),
/// never for a site, whatever channel its request came through.
fn local_only(caller: &Caller, command: &str) -> Result<()> {
    match caller.origin {
        None => Ok(()),
        Some(_) => Err(Error::LocalOnly {
            command: command.to_owned(),
        }),
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(format!("encoding a result: {e}")))
}
