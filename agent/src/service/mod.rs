//! The one service behind every channel: the only door to the cards.
//!
//! Adapters — the daemon's socket (native protocol), the legacy HTTP API, the command line —
//! turn their wire format into the typed operations here and the results back; they decide
//! nothing. Every operation takes a [`Caller`], decided once in [`caller`] from the facts the
//! adapter saw, and admits it itself: no path reaches a card without admission. Every rule —
//! which sites may ask ([`site`]), where a PIN may come from ([`pin_source`]), which
//! certificate signs (the card core's `choose_certificate`) — is decided here, once.
//!
//! Service calls block (cards and dialogs are slow and synchronous); async transports run them
//! on blocking threads.

mod authenticate;
pub mod caller;
pub mod deadline;
mod decrypt;
pub mod dialog;
pub mod pin_source;
mod self_test;
mod sign;
pub mod site;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use card_agent_protocol::message::Event;
use card_agent_protocol::secret::SecretString;

use crate::card_core::CardCore;
use crate::config::PinEntry;
use crate::error::{Error, Result};
use crate::inventory::{self, Snapshot};
use crate::pinentry::{Client, PinDialog};
use crate::policy::Policy;
use crate::token::{TokenCertificate, TokenInfo};

pub use caller::{Api, Caller, OurExtensions, Who};
pub use decrypt::DecryptRequest;
pub use dialog::Dialogs;
pub use sign::{SignOutput, SignRequest};

/// How the service behaves, from the config file.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Where PINs are typed.
    pub pin_entry: PinEntry,
    /// How to run the environment check from inside the daemon (`None`: not offered, as in
    /// tests that build a bare service).
    pub environment: Option<crate::doctor::Options>,
    /// The browser extensions that are ours (their pages are the user's own tools).
    pub extensions: OurExtensions,
}

/// The card-agent service.
pub struct Service {
    core: Arc<CardCore>,
    policy: Mutex<Policy>,
    /// The dialogs, or (when no dialog program was found) what was looked for.
    dialogs: std::result::Result<Box<dyn Dialogs>, String>,
    settings: Settings,
    /// One dialog on screen at a time: two pages asking at once must not stack PIN prompts
    /// that the user cannot tell apart. First come, first served, so that one tab's many
    /// requests do not keep another tab's dialog waiting.
    dialog_turn: crate::card_core::Turn,
    events: tokio::sync::broadcast::Sender<Event>,
    /// Set when the daemon is stopping: work cut short by it is reported as such.
    stopping: AtomicBool,
    /// Where every channel's blocking work waits for a worker (see [`crate::work_queue`]).
    queue: Arc<crate::work_queue::WorkQueue>,
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
        let dialogs = dialog.map(|d| Box::new(d) as Box<dyn Dialogs>);
        Self::with_dialogs(core, policy, dialogs, settings)
    }

    /// A service whose dialogs are `dialogs` (the seam the unit tests use).
    pub fn with_dialogs(
        core: Arc<CardCore>,
        policy: Policy,
        dialogs: std::result::Result<Box<dyn Dialogs>, String>,
        settings: Settings,
    ) -> Self {
        let (events, _) = tokio::sync::broadcast::channel(64);
        Service {
            core,
            policy: Mutex::new(policy),
            dialogs,
            settings,
            dialog_turn: crate::card_core::Turn::default(),
            events,
            stopping: AtomicBool::new(false),
            queue: crate::work_queue::WorkQueue::new(),
        }
    }

    /// The queue every channel runs its blocking service calls through.
    pub fn queue(&self) -> &Arc<crate::work_queue::WorkQueue> {
        &self.queue
    }

    /// The agent's version.
    pub fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// The extensions whose pages are the user's own (for the adapters' caller facts).
    pub fn extensions(&self) -> &OurExtensions {
        &self.settings.extensions
    }

    /// Readers, tokens, certificates and modules (`status`, the legacy `pkcs11info`).
    pub fn inventory(&self, caller: &Caller) -> Result<Snapshot> {
        self.admit(caller)?;
        inventory::gather(&self.core)
    }

    /// Every token with its certificates (`get-certificates`). Unlike [`Service::inventory`]
    /// it fails when a token's certificates cannot be read.
    pub fn certificates(&self, caller: &Caller) -> Result<Vec<(TokenInfo, Vec<TokenCertificate>)>> {
        self.admit(caller)?;
        self.core
            .tokens()?
            .into_iter()
            .map(|token| Ok((token.clone(), self.core.certificates(token.token_ref)?)))
            .collect()
    }

    /// Checks a PIN against the card: the token with serial `token`, or the only one. Returns
    /// the token checked.
    pub fn verify_pin(
        &self,
        caller: &Caller,
        token: Option<&str>,
        pin: Option<SecretString>,
    ) -> Result<TokenInfo> {
        self.admit(caller)?;
        let token = self.core.select_token(token)?;
        let holder = self
            .core
            .certificates(token.token_ref)?
            .into_iter()
            .find(|c| c.has_private_key)
            .map(|c| c.info.holder_name().to_owned())
            .unwrap_or_else(|| token.label.clone());
        self.with_pin(caller, pin, &token, &holder, "verify-pin", |pin, admit| {
            self.core.verify_pin_if(&token, pin, admit)
        })?;
        Ok(token)
    }

    /// Card and reader events from now on, for callers that may see them: trusted sites (never
    /// asked: a subscription opens no dialog), our own pages and local programs.
    pub fn subscribe(&self, caller: &Caller) -> Result<tokio::sync::broadcast::Receiver<Event>> {
        self.admit_without_asking(caller)?;
        Ok(self.events.subscribe())
    }

    /// A card or reader changed: remembered certificates are forgotten (a slot may hold
    /// another card now), and the PINs cards refused once a card has left its reader (see
    /// [`CardCore::card_left`]); `event`, if any, goes to every subscriber.
    pub fn card_event(&self, event: Option<Event>) {
        match &event {
            Some(Event::CardRemoved { .. } | Event::ReaderRemoved { .. }) => self.core.card_left(),
            _ => self.core.cards_changed(),
        }
        if let Some(event) = event {
            // No subscriber is not an error: events are only for whoever listens now.
            let _ = self.events.send(event);
        }
    }

    /// Closes every open PIN or site dialog and refuses new ones, for a daemon that is
    /// stopping: the requests waiting for them fail at once instead of holding the shutdown
    /// for minutes.
    pub fn close_dialogs(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Ok(dialogs) = &self.dialogs {
            dialogs.close_all();
        }
    }

    /// The client is gone (its connection closed, or its caller stopped waiting): its open
    /// dialogs close, no new one opens for it, and no card operation starts for it.
    pub fn client_gone(&self, client: &Client) {
        client.leave();
        if let Ok(dialogs) = &self.dialogs {
            dialogs.close_client(client);
        }
    }

    /// An operation's outcome as its caller should hear it: a failure caused by the daemon
    /// stopping (its dialog was closed) says so.
    pub fn explain<T>(&self, outcome: Result<T>) -> Result<T> {
        match outcome {
            Err(_) if self.stopping.load(Ordering::SeqCst) => Err(Error::AgentUnavailable(
                "card-agent stopped while the request was waiting".to_owned(),
            )),
            other => other,
        }
    }

    /// The environment check, run with the service's own card core, for the self-test page
    /// and the extension's pages. The user's own callers only: it describes this computer.
    pub fn environment_check(&self, caller: &Caller) -> Result<crate::doctor::Report> {
        let options = self.environment_options(caller)?;
        Ok(crate::doctor::run_with_core(&options, &self.core))
    }

    /// Applies one of the environment check's fix actions (the user's own callers only).
    pub fn apply_fix(&self, caller: &Caller, action: &str) -> Result<crate::doctor::FixOutcome> {
        let options = self.environment_options(caller)?;
        crate::doctor::apply_fix(action, &options)
    }

    /// The environment check's options for the user's own caller, in its language, now.
    fn environment_options(&self, caller: &Caller) -> Result<crate::doctor::Options> {
        caller.require_own()?;
        let mut options = self.settings.environment.clone().ok_or_else(|| {
            Error::Internal("the environment check is not available here".to_owned())
        })?;
        options.lang = caller.lang;
        options.now_unix = inventory::now_unix();
        Ok(options)
    }

    /// Whether every token still has all its PIN tries (the fuzz harness starts each input on
    /// an unused token).
    pub(crate) fn pin_counters_untouched(&self) -> bool {
        self.core
            .tokens()
            .map(|tokens| tokens.iter().all(|t| t.known_tries_left() == Some(3)))
            .unwrap_or(false)
    }

    /// The dialogs, or what was looked for when there are none.
    fn dialogs(&self) -> Result<&dyn Dialogs> {
        self.dialogs
            .as_ref()
            .map(|d| d.as_ref())
            .map_err(|tried| Error::NoPinDialog {
                tried: tried.clone(),
            })
    }
}

/// Whether a card operation for `caller` may still start: not when the caller stopped
/// waiting (its connection closed, or its deadline passed) — nobody would receive the result.
fn still_wanted(caller: &Caller, what: &str) -> bool {
    let wanted = !caller.client.is_gone();
    if !wanted {
        tracing::info!(
            caller = caller.log_name(),
            what,
            "not started: the caller stopped waiting"
        );
    }
    wanted
}

/// A card operation's outcome, unless its caller stopped waiting meanwhile: a result that
/// finished in that race is discarded (and logged), never delivered late.
fn discard_if_gone<T>(caller: &Caller, what: &str, outcome: Result<T>) -> Result<T> {
    if caller.client.is_gone() {
        if outcome.is_ok() {
            tracing::warn!(
                caller = caller.log_name(),
                what,
                "finished after the caller stopped waiting: result discarded"
            );
        }
        return Err(Error::CallerGone);
    }
    outcome
}

#[cfg(test)]
mod tests;
