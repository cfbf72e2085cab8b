//! The timeout ladder on the daemon's socket: when a request's time is up, its caller hears
//! TIMEOUT, its dialog closes, no card operation starts after that, and a result that still
//! comes is discarded. The real connection code runs on a paused clock (time moves only when
//! the test advances it), so no test waits and none depends on how fast the machine is. The
//! card is the demo token behind a provider that counts (and can hold) what reaches it; the
//! dialog is a stand-in that stays open until its client is gone — no real pinentry can be
//! made to wait for a paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use card_agent_protocol::frame::{encode, FrameDecoder};
use card_agent_protocol::{timeouts, Language};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::card_core::counting::CountingCard;
use crate::card_core::CardCore;
use crate::demo::{DemoToken, DEMO_PIN};
use crate::error::Result;
use crate::pin::Pin;
use crate::pinentry::{Client, PinRequest};
use crate::policy::Policy;
use crate::service::{Dialogs, Service, Settings};

const SITE: &str = "https://www.example.gov.tw";

/// Something happened that the test waits for.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    DialogOpen,
    DialogClosed,
    CardStarted,
}

/// A PIN dialog that stays open until its client is gone, then answers with the PIN anyway:
/// the user typing it just as the page stopped waiting.
struct LateDialog {
    seen: UnboundedSender<Seen>,
    gone: Arc<(Mutex<()>, Condvar)>,
}

impl Dialogs for LateDialog {
    fn ask_pin(&self, client: &Client, _request: &PinRequest<'_>) -> Result<Pin> {
        let _ = self.seen.send(Seen::DialogOpen);
        let (lock, changed) = &*self.gone;
        let mut guard = lock.lock().unwrap();
        while !client.is_gone() {
            guard = changed.wait(guard).unwrap();
        }
        let _ = self.seen.send(Seen::DialogClosed);
        Ok(Pin::new(DEMO_PIN.to_owned()))
    }
    fn confirm_site(&self, _: &Client, _: &str, _: Language) -> Result<bool> {
        Ok(false)
    }
    fn close_client(&self, client: &Client) {
        client.leave();
        let (lock, changed) = &*self.gone;
        let _guard = lock.lock().unwrap();
        changed.notify_all();
    }
    fn close_all(&self) {}
}

struct Setup {
    service: Arc<Service>,
    calls: Arc<AtomicUsize>,
    seen: UnboundedReceiver<Seen>,
    release: std::sync::mpsc::Sender<()>,
    _dir: tempfile::TempDir,
}

fn setup(hold_the_card: bool) -> Setup {
    let (seen_tx, seen) = unbounded_channel();
    let (release, held) = std::sync::mpsc::channel();
    let calls = Arc::new(AtomicUsize::new(0));
    // A watched card: each private-key operation says it started and, on a held card,
    // waits for the test's word before it runs (a slow card).
    let hold = hold_the_card.then(|| Mutex::new(held));
    let started = seen_tx.clone();
    let card = CountingCard::new()
        .unwrap()
        .counting_into(calls.clone())
        .before_operation(move || {
            let _ = started.send(Seen::CardStarted);
            if let Some(hold) = &hold {
                let _ = hold.lock().unwrap().recv();
            }
        });
    let dir = tempfile::tempdir().unwrap();
    let policy =
        Policy::load(&["https://*.example.gov.tw"], dir.path().join("sites.json")).unwrap();
    let dialog = LateDialog {
        seen: seen_tx,
        gone: Arc::default(),
    };
    let service = Service::with_dialogs(
        Arc::new(CardCore::with_providers(vec![card.into_provider()])),
        policy,
        Ok(Box::new(dialog)),
        Settings::default(),
    );
    Setup {
        service: Arc::new(service),
        calls,
        seen,
        release,
        _dir: dir,
    }
}

/// A page's `sign` request (no PIN: the dialog asks), framed.
fn sign_request(certificate: &str) -> Vec<u8> {
    let request = json!({"id": 7, "command": "sign", "origin": SITE, "arguments": {
        "certificate": certificate, "data": "ZGF0YQ==", "hashAlgorithm": "SHA-256",
        "format": "pkcs1"}});
    encode(request.to_string().as_bytes()).unwrap()
}

fn demo_thumbprint() -> String {
    let demo = DemoToken::new().unwrap();
    demo.certificates()
        .unwrap()
        .into_iter()
        .find(|c| c.id == b"SIGN")
        .unwrap()
        .info
        .sha256
}

/// Every frame the daemon sent, until it closed the connection.
async fn responses(mut stream: tokio::io::DuplexStream) -> Vec<Value> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let mut decoder = FrameDecoder::new();
    decoder.push(&bytes);
    let mut frames = Vec::new();
    while let Ok(Some(frame)) = decoder.next_frame() {
        frames.push(serde_json::from_slice(&frame).unwrap());
    }
    frames
}

/// The interactive budget for a page of the new API: what the daemon waits before TIMEOUT.
fn budget() -> Duration {
    timeouts::daemon_budget(timeouts::Kind::Interactive, true)
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn time_up_with_the_pin_dialog_open_closes_it_and_its_late_pin_never_reaches_the_card() {
    let mut setup = setup(false);
    let runtime = paused_runtime();
    let service = setup.service.clone();
    let frames = runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let serve = tokio::spawn(super::connection::serve(server, service, Language::En));
        client
            .write_all(&sign_request(&demo_thumbprint()))
            .await
            .unwrap();
        assert_eq!(setup.seen.recv().await, Some(Seen::DialogOpen));
        // The page's wait is longer than the daemon's, which is longer than the dialog's: the
        // daemon's deadline is what ends it.
        tokio::time::advance(budget() + Duration::from_secs(1)).await;
        // The dialog is closed for the request (the stand-in's user types the PIN just then).
        assert_eq!(setup.seen.recv().await, Some(Seen::DialogClosed));
        client.shutdown().await.unwrap();
        let frames = responses(client).await;
        serve.await.unwrap();
        frames
    });
    // Wait for the request's blocking thread: the runtime's drop joins it.
    drop(runtime);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["id"], 7);
    assert_eq!(frames[0]["error"]["code"], "TIMEOUT", "{frames:?}");
    assert_eq!(
        setup.calls.load(Ordering::SeqCst),
        0,
        "the PIN typed after the deadline was not sent to the card"
    );
}

#[test]
fn time_up_during_the_card_operation_discards_its_result() {
    let mut setup = setup(true);
    let runtime = paused_runtime();
    let service = setup.service.clone();
    let release = setup.release.clone();
    let frames = runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let serve = tokio::spawn(super::connection::serve(server, service, Language::En));
        // A local program's request with its own PIN: no dialog, straight to the card, which
        // is slow this time.
        let request = json!({"id": 8, "command": "sign", "arguments": {
            "certificate": demo_thumbprint(), "data": "ZGF0YQ==", "hashAlgorithm": "SHA-256",
            "format": "pkcs1", "pin": DEMO_PIN}});
        client
            .write_all(&encode(request.to_string().as_bytes()).unwrap())
            .await
            .unwrap();
        assert_eq!(setup.seen.recv().await, Some(Seen::CardStarted));
        tokio::time::advance(
            timeouts::daemon_budget(timeouts::Kind::Interactive, false) + Duration::from_secs(1),
        )
        .await;
        // The caller has its TIMEOUT; only now does the card finish.
        let mut decoder = FrameDecoder::new();
        let mut buf = vec![0u8; 4096];
        let first = loop {
            let n = client.read(&mut buf).await.unwrap();
            decoder.push(&buf[..n]);
            if let Ok(Some(frame)) = decoder.next_frame() {
                break serde_json::from_slice::<Value>(&frame).unwrap();
            }
        };
        release.send(()).unwrap();
        client.shutdown().await.unwrap();
        let mut rest = responses(client).await;
        serve.await.unwrap();
        rest.insert(0, first);
        rest
    });
    drop(runtime);
    assert_eq!(
        setup.calls.load(Ordering::SeqCst),
        1,
        "the card operation ran"
    );
    // One answer, the TIMEOUT: the signature that finished after it went to nobody.
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["id"], 8);
    assert_eq!(frames[0]["error"]["code"], "TIMEOUT", "{frames:?}");
}
