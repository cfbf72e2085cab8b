//! The tray as a client of the daemon: connect (starting the daemon when none runs), ask
//! `status` and `trusted-sites`, `subscribe`, and ask `status` again on every card or reader
//! event. Cards are never polled. When the daemon goes away the tray says so and reconnects
//! with backoff; once an hour the state is recomputed from the last status (not asked again),
//! so expiry countdowns stay right in a tray left running for days.
//!
//! What the tray should show is published as a [`Snapshot`] on a `watch` channel; the
//! platform UI renders it and sends [`UiRequest`]s back.

use std::time::Duration;

use card_agent_protocol::message::{
    Command, RemoveTrustedSiteArgs, Request, RequestId, ResponseBody, ServerMessage,
    TrustedSitesResult,
};
use card_agent_protocol::types::Inventory;
use card_agent_protocol::Language;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};

use super::state::{tray_state, TrayState};
use super::strings::Text;
use crate::framed::{FrameReader, FrameWriter};

/// First wait before reconnecting; it doubles up to [`MAX_BACKOFF`] while the daemon stays
/// unreachable, and starts over once a status was received.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the state is recomputed from the last status, for expiry countdowns.
const RECOMPUTE_EVERY: Duration = Duration::from_secs(3600);

/// Everything the UI shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The icon, tooltip and cards.
    pub state: TrayState,
    /// The trusted sites, when the daemon told them.
    pub sites: Option<TrustedSitesResult>,
}

/// What the UI asks of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiRequest {
    /// Ask the daemon for the trusted sites again (the menu is about to open).
    RefreshSites,
    /// Withdraw the approval of this site.
    RemoveSite(String),
}

/// How a session with one daemon connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The UI is gone (the user chose Quit): stop.
    Quit,
    /// The connection was lost, with the reason to show.
    Lost(String),
}

/// What the session remembers between messages.
struct Model {
    lang: Language,
    now: fn() -> i64,
    inventory: Result<Inventory, String>,
    sites: Option<TrustedSitesResult>,
}

impl Model {
    fn publish(&self, out: &watch::Sender<Snapshot>) {
        let state = tray_state(
            self.inventory.as_ref().map_err(String::as_str),
            (self.now)(),
            self.lang,
        );
        out.send_replace(Snapshot {
            state,
            sites: self.sites.clone(),
        });
    }
}

/// Runs the tray's side of the daemon connection until the UI drops its request sender.
/// `connect` opens a connection (starting the daemon when needed); it is called again, with
/// backoff, whenever the connection is lost or cannot be made.
pub async fn run<S, F, Fut>(
    lang: Language,
    now: fn() -> i64,
    mut connect: F,
    mut requests: mpsc::UnboundedReceiver<UiRequest>,
    out: watch::Sender<Snapshot>,
) where
    S: AsyncRead + AsyncWrite,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<S>>,
{
    let mut model = Model {
        lang,
        now,
        inventory: Err(String::new()),
        sites: None,
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let reason = match connect().await {
            Ok(stream) => {
                match session(stream, &mut model, &mut requests, &out, &mut backoff).await {
                    Ended::Quit => return,
                    Ended::Lost(reason) => reason,
                }
            }
            // The reason as it is (the wire message would call it an internal error).
            Err(e) => e.to_string(),
        };
        tracing::warn!(%reason, "card-agent service unavailable; retrying in {backoff:?}");
        model.inventory = Err(reason);
        model.sites = None;
        model.publish(&out);
        let retry = tokio::time::sleep(backoff);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                _ = &mut retry => break,
                request = requests.recv() => match request {
                    // Nothing to ask while disconnected; the list is fetched on reconnecting.
                    Some(_) => continue,
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: subscribe, ask, and answer events and UI requests until it ends.
async fn session<S: AsyncRead + AsyncWrite>(
    stream: S,
    model: &mut Model,
    requests: &mut mpsc::UnboundedReceiver<UiRequest>,
    out: &watch::Sender<Snapshot>,
    backoff: &mut Duration,
) -> Ended {
    let (reader, writer) = tokio::io::split(stream);
    let mut frames = FrameReader::new(reader);
    let mut client = Client {
        writer: FrameWriter::new(writer),
        next_id: 0,
        status: None,
        status_again: false,
        sites: None,
    };
    let lost = |lang| Ended::Lost(Text::ConnectionLost.get(lang).to_owned());
    let lang = model.lang;
    if client.send(Command::Subscribe).await.is_err()
        || client.ask_status().await.is_err()
        || client.ask_sites().await.is_err()
    {
        return lost(lang);
    }
    let mut recompute = tokio::time::interval(RECOMPUTE_EVERY);
    recompute.tick().await;
    loop {
        tokio::select! {
            read = frames.read_frame() => {
                let Ok(Some(payload)) = read else { return lost(lang) };
                let Ok(message) = ServerMessage::parse(payload) else {
                    tracing::warn!("unreadable message from the daemon");
                    continue;
                };
                if client.on_message(message, model, out, backoff).await.is_err() {
                    return lost(lang);
                }
            }
            request = requests.recv() => {
                let sent = match request {
                    None => return Ended::Quit,
                    Some(UiRequest::RefreshSites) => client.ask_sites().await,
                    Some(UiRequest::RemoveSite(site)) => client
                        .send(Command::RemoveTrustedSite(RemoveTrustedSiteArgs { site }))
                        .await
                        .map(|_| ()),
                };
                if sent.is_err() {
                    return lost(lang);
                }
            }
            _ = recompute.tick() => model.publish(out),
        }
    }
}

/// The writing half and what is waiting for an answer.
struct Client<W> {
    writer: FrameWriter<W>,
    next_id: i64,
    /// The `status` request waiting for its answer.
    status: Option<RequestId>,
    /// An event arrived while a status was on its way: ask again when it is answered, so a
    /// burst of events costs at most two status requests.
    status_again: bool,
    /// The `trusted-sites` request waiting for its answer.
    sites: Option<RequestId>,
}

impl<W: AsyncWrite + Unpin> Client<W> {
    async fn send(&mut self, command: Command) -> std::io::Result<RequestId> {
        self.next_id += 1;
        let id = RequestId::Number(self.next_id);
        let json = Request::new(id.clone(), command)
            .to_json()
            .map_err(std::io::Error::other)?;
        self.writer.write_frame(&json).await?;
        Ok(id)
    }

    async fn ask_status(&mut self) -> std::io::Result<()> {
        if self.status.is_some() {
            self.status_again = true;
            return Ok(());
        }
        self.status = Some(self.send(Command::Status).await?);
        Ok(())
    }

    async fn ask_sites(&mut self) -> std::io::Result<()> {
        if self.sites.is_none() {
            self.sites = Some(self.send(Command::TrustedSites).await?);
        }
        Ok(())
    }

    async fn on_message(
        &mut self,
        message: ServerMessage,
        model: &mut Model,
        out: &watch::Sender<Snapshot>,
        backoff: &mut Duration,
    ) -> std::io::Result<()> {
        let response = match message {
            ServerMessage::Event(event) => {
                tracing::debug!(kind = event.kind(), reader = event.reader(), "card event");
                return self.ask_status().await;
            }
            ServerMessage::Response(r) => r,
        };
        let id = response.id.clone();
        if id.is_some() && id == self.status {
            self.status = None;
            model.inventory = match response.body {
                ResponseBody::Result(v) => serde_json::from_value::<Inventory>(v)
                    .map_err(|e| format!("unreadable status from the daemon: {e}")),
                ResponseBody::Error(e) => Err(e.message),
            };
            if model.inventory.is_ok() {
                *backoff = FIRST_BACKOFF;
            }
            model.publish(out);
            if std::mem::take(&mut self.status_again) {
                self.ask_status().await?;
            }
        } else if id.is_some() && id == self.sites {
            self.sites = None;
            model.sites = match response.body {
                ResponseBody::Result(v) => serde_json::from_value(v).ok(),
                ResponseBody::Error(e) => {
                    tracing::warn!(error = %e.message, "cannot list trusted sites");
                    None
                }
            };
            model.publish(out);
        } else if let ResponseBody::Error(e) = response.body {
            // A refused removal (or subscribe): the list shown stays the daemon's.
            tracing::warn!(code = %e.code, error = %e.message, "the daemon refused a request");
            self.ask_sites().await?;
        } else {
            // A removal (or the subscription) succeeded: show the list as it is now.
            self.ask_sites().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
