//! `card-agent serve`: the per-user daemon. It owns the cards, watches readers, and answers
//! clients on its local endpoint (see [`crate::ipc`]).

pub(crate) mod connection;
mod dispatch;
#[cfg(test)]
mod ladder_tests;

use std::path::PathBuf;
use std::sync::Arc;

use card_agent_protocol::message::Event;
use card_agent_protocol::Language;
use tokio::sync::Semaphore;

use crate::card_core::{CardCore, CoreOptions};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ipc::{self, Endpoint};
use crate::pinentry::PinDialog;
use crate::policy::Policy;
use crate::reader::{self, ReaderEvent};
use crate::service::{Service, Settings};

/// Most clients served at once; each browser tab shares one native host, so real use needs a
/// handful. Beyond this, a new connection is told so and closed (rather than left waiting,
/// unanswered, for a slot that a stuck client may never free).
const MAX_CONNECTIONS: usize = 64;

/// Pause after a failed accept, which would otherwise fail again at once, forever, at full
/// speed.
#[cfg(unix)]
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// How long, after SIGTERM, requests still running may take to finish. Dialogs are closed at
/// once; this bounds a card operation that does not return.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// What `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Which tokens to serve.
    pub core: CoreOptions,
    /// The configuration.
    pub config: Config,
    /// The language of dialogs and messages.
    pub lang: Language,
    /// The config file named on the command line, if any (the environment check passes it on).
    pub config_path: Option<PathBuf>,
}

/// Runs the daemon until SIGINT or SIGTERM.
pub fn run(options: ServeOptions) -> Result<()> {
    let endpoint = Endpoint::for_current_user();
    // Take the lock before anything slow, so a second daemon is refused at once.
    let lock = endpoint.lock_instance()?;
    let service = Arc::new(build_service(&options)?);
    // Service work waits in the work queue, not on threads; the cap makes the thread count's
    // bound hold whatever happens (see crate::work_queue).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(crate::work_queue::BLOCKING_THREADS)
        .thread_keep_alive(crate::allocator::WORKER_KEEP_ALIVE)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the runtime: {e}")))?;
    let served = runtime.block_on(async {
        let listener = ipc::bind(&endpoint, &lock)?;
        let _watcher = if options.core.demo {
            None
        } else {
            watch_readers(service.clone())
        };
        let _legacy = start_legacy_api(&options.config.http_listen, service.clone()).await;
        let _memory = tokio::spawn(give_back_after_bursts(service.queue().clone()));
        tracing::info!(socket = %endpoint.socket.display(), "card-agent daemon ready");
        eprintln!(
            "card-agent {} listening on {}",
            env!("CARGO_PKG_VERSION"),
            endpoint.socket.display()
        );
        accept_until_shutdown(listener, &endpoint, service.clone(), options.lang).await;
        // A request may be waiting for the user in a dialog, for minutes: end those now.
        service.close_dialogs();
        let _ = std::fs::remove_file(&endpoint.socket);
        Ok(())
    });
    // Dropping the runtime would wait for every blocking task without limit.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    served
}

/// Gives the allocator's free memory back after every burst of service work, for as long as
/// the daemon runs (see [`crate::allocator`]): once per burst, never while nothing comes.
async fn give_back_after_bursts(queue: Arc<crate::work_queue::WorkQueue>) {
    let mut seen = 0;
    loop {
        seen = queue.quiet_after(seen, crate::allocator::QUIET).await;
        crate::allocator::give_back();
    }
}

/// Starts the HiPKI-compatible HTTP API. A taken port (HiPKI itself still installed, say) is
/// reported plainly but does not stop the daemon: the browser extension's channel still works.
/// An empty `http_listen` turns the legacy API off.
async fn start_legacy_api(
    http_listen: &str,
    service: Arc<Service>,
) -> Option<tokio::task::JoinHandle<()>> {
    use crate::legacy_api::{port_owner, set_port_state, PortState};
    if http_listen.trim().is_empty() {
        set_port_state(PortState::Off);
        return None;
    }
    match crate::legacy_api::bind(http_listen).await {
        Ok(listeners) => {
            set_port_state(PortState::Ours);
            for addr in listeners.addresses() {
                eprintln!("card-agent legacy API listening on http://{addr}");
            }
            Some(tokio::spawn(listeners.serve(service)))
        }
        Err(e) => {
            let holder = match &e {
                Error::PortInUse { .. } => http_listen
                    .parse::<std::net::SocketAddr>()
                    .ok()
                    .and_then(|a| port_owner::holder(a.port())),
                _ => None,
            };
            set_port_state(PortState::Taken {
                holder: holder.as_ref().map(|h| h.describe(port_owner::own_uid())),
            });
            eprintln!("card-agent: legacy API not started: {e}");
            tracing::error!(error = %e, "legacy API not started");
            // Another user's program would receive every page's PIN: say so plainly.
            if let Some(h) = holder.filter(|h| h.uid != port_owner::own_uid()) {
                let note = port_owner::foreign_note(http_listen, &h, Language::En);
                eprintln!("card-agent: {note}");
                tracing::error!("{note}");
            }
            None
        }
    }
}

fn build_service(options: &ServeOptions) -> Result<Service> {
    let core = Arc::new(CardCore::open(&options.core)?);
    for m in core.modules().iter().filter(|m| !m.loaded) {
        eprintln!(
            "card-agent: PKCS#11 module {} not loaded: {}",
            m.path,
            m.error.as_deref().unwrap_or("?")
        );
    }
    let policy = Policy::load(&options.config.trusted_sites, approvals_path())?;
    let dialog = PinDialog::find(options.config.pinentry.as_deref()).map_err(|e| e.to_string());
    if let Err(why) = &dialog {
        eprintln!("card-agent: {why}");
    }
    Ok(Service::new(
        core,
        policy,
        dialog,
        Settings {
            pin_entry: options.config.pin_entry,
            environment: Some(crate::doctor::Options::for_current_user(
                options.lang,
                options.core.demo,
                options.core.clone(),
                options.config.clone(),
                options.config_path.clone(),
            )),
            extensions: crate::service::OurExtensions::new(&options.config.allowed_extensions),
        },
    ))
}

/// The file of sites the user approved: `<per-user state dir>/trusted-sites.json`.
pub fn approvals_path() -> PathBuf {
    crate::config::state_dir().join("trusted-sites.json")
}

/// Where `serve` writes its log (see [`crate::log_file`]): `<per-user state dir>/log`.
pub fn log_dir() -> PathBuf {
    crate::config::state_dir().join("log")
}

/// Starts the PC/SC watcher feeding the service's event channel. Without the smart-card
/// service the daemon still runs (tokens from software modules work); the watcher reports the
/// outage and recovers by itself.
fn watch_readers(service: Arc<Service>) -> Option<reader::Watcher> {
    match reader::Watcher::spawn(move |event| {
        // Any change of cards or readers may change what a slot holds.
        service.card_event(wire_event(event));
    }) {
        Ok(w) => Some(w),
        Err(e) => {
            eprintln!("card-agent: card events unavailable: {e}");
            None
        }
    }
}

/// Reader events as the protocol shows them; service outages are logged, not pushed.
fn wire_event(event: ReaderEvent) -> Option<Event> {
    Some(match event {
        ReaderEvent::CardInserted {
            reader,
            atr,
            family,
        } => Event::CardInserted {
            reader,
            atr: reader::atr_hex(&atr),
            card_family: family.as_str().to_owned(),
        },
        ReaderEvent::CardRemoved { reader } => Event::CardRemoved { reader },
        ReaderEvent::ReaderAdded { name } => Event::ReaderAdded { reader: name },
        ReaderEvent::ReaderRemoved { name } => Event::ReaderRemoved { reader: name },
        other => {
            tracing::warn!(event = ?other, "smart card service state changed");
            return None;
        }
    })
}

/// Serves named-pipe clients until Ctrl-C. Each connected instance is handed to a task and a
/// fresh instance takes its place, as Windows pipes require.
#[cfg(windows)]
async fn accept_until_shutdown(
    mut server: tokio::net::windows::named_pipe::NamedPipeServer,
    endpoint: &Endpoint,
    service: Arc<Service>,
    lang: Language,
) {
    use tokio::net::windows::named_pipe::ServerOptions;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let connected = tokio::select! {
            c = server.connect() => c,
            _ = tokio::signal::ctrl_c() => break,
        };
        if connected.is_err() {
            continue;
        }
        let next = match ServerOptions::new()
            .reject_remote_clients(true)
            .create(&endpoint.socket)
        {
            Ok(n) => n,
            Err(e) => {
                eprintln!("card-agent: cannot create the next pipe instance: {e}");
                break;
            }
        };
        let client = std::mem::replace(&mut server, next);
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let service = service.clone();
        tokio::spawn(async move {
            connection::serve(client, service, lang).await;
            drop(permit);
        });
    }
    tracing::info!("card-agent daemon stopping");
}

#[cfg(unix)]
async fn accept_until_shutdown(
    listener: tokio::net::UnixListener,
    _endpoint: &Endpoint,
    service: Arc<Service>,
    lang: Language,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("card-agent: cannot watch SIGTERM: {e}");
                return;
            }
        };
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: the next accept would fail at once too.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if !ipc::peer_is_current_user(&stream) {
            tracing::warn!("refused a connection from another user");
            continue;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                limit = MAX_CONNECTIONS,
                "refused a connection: too many are open"
            );
            tokio::spawn(connection::refuse(stream, lang));
            continue;
        };
        let service = service.clone();
        tokio::spawn(async move {
            connection::serve(stream, service, lang).await;
            drop(permit);
        });
    }
    tracing::info!("card-agent daemon stopping");
}
