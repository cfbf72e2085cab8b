//! The session against a scripted daemon on an in-memory stream: what it asks, when it asks
//! again, what it publishes, and how it reconnects.

// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use card_agent_protocol::frame;
use card_agent_protocol::message::{parse_request, Event, Response, TrustedSite};
use serde_json::json;
use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

use super::*;
use crate::tray::state::TrayIcon;

const NOW: i64 = 1_861_920_000;

fn now() -> i64 {
    NOW
}

/// The daemon's end of one connection.
struct FakeDaemon {
    frames: FrameReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
}

impl FakeDaemon {
    async fn expect(&mut self, command: &str) -> Request {
        let payload = tokio::time::timeout(Duration::from_secs(5), self.frames.read_frame())
            .await
            .unwrap_or_else(|_| panic!("no {command} request"))
            .unwrap()
            .unwrap();
        let request = parse_request(payload).unwrap();
        assert_eq!(request.command.name(), command, "{request:?}");
        assert_eq!(request.origin, None, "the tray is a local client");
        request
    }

    async fn reply(&mut self, request: &Request, result: serde_json::Value) {
        self.send(Response::ok(request.id.clone(), result).frame())
            .await;
    }

    async fn event(&mut self, event: Event) {
        let json = event.into_message().to_json().unwrap();
        self.send(frame::encode(&json).unwrap()).await;
    }

    async fn send(&mut self, framed: Vec<u8>) {
        self.writer.write_all(&framed).await.unwrap();
    }

    /// The first three requests of every connection, answered.
    async fn handshake(&mut self, inventory: serde_json::Value, sites: serde_json::Value) {
        let subscribe = self.expect("subscribe").await;
        let status = self.expect("status").await;
        let trusted = self.expect("trusted-sites").await;
        self.reply(&subscribe, json!({"subscribed": true})).await;
        self.reply(&status, inventory).await;
        self.reply(&trusted, sites).await;
    }
}

/// A connector handing out prepared connections, then failing.
fn connector(
    count: usize,
) -> (
    impl FnMut() -> std::future::Ready<crate::Result<DuplexStream>>,
    Vec<FakeDaemon>,
) {
    let mut ours = VecDeque::new();
    let mut daemons = Vec::new();
    for _ in 0..count {
        let (tray_end, daemon_end) = tokio::io::duplex(64 * 1024);
        let (r, w) = tokio::io::split(daemon_end);
        ours.push_back(tray_end);
        daemons.push(FakeDaemon {
            frames: FrameReader::new(r),
            writer: w,
        });
    }
    let ours = Arc::new(Mutex::new(ours));
    let connect = move || {
        std::future::ready(
            ours.lock()
                .unwrap()
                .pop_front()
                .ok_or_else(|| crate::Error::AgentUnavailable("no daemon in this test".to_owned())),
        )
    };
    (connect, daemons)
}

fn card_inventory() -> serde_json::Value {
    json!({
        "readers": [{"name": "Reader 00 00", "cardPresent": true}],
        "tokens": [{
            "label": "HiCOS", "manufacturer": "CHT", "model": "T", "serial": "TP01",
            "slotDescription": "Reader 00 00", "slotId": 0, "module": "/x.so",
            "minPinLength": 6, "maxPinLength": 8, "pinStatus": "ok", "demo": false,
            "certificates": [{
                "subject": "CN=王小明", "subjectCn": "王小明", "issuer": "OU=內政部憑證管理中心",
                "serial": "01", "notBefore": "2020-01-01T00:00:00Z",
                "notAfter": "2032-01-01T00:00:00Z", "daysToExpiry": 1000,
                "keyUsage": ["digitalSignature"], "keyAlgorithm": "RSA-2048", "sha1": "",
                "sha256": "", "pkcs11Id": "01", "pkcs11Label": "", "cardFamily": "MOICA",
                "hasPrivateKey": true, "derBase64": ""
            }]
        }],
        "modules": []
    })
}

fn empty_reader() -> serde_json::Value {
    json!({"readers": [{"name": "Reader 00 00", "cardPresent": false}], "tokens": [], "modules": []})
}

fn sites(origins: &[&str]) -> serde_json::Value {
    let sites: Vec<TrustedSite> = origins
        .iter()
        .map(|o| TrustedSite {
            origin: (*o).to_owned(),
            approved_at: "2025-01-31T08:00:00Z".to_owned(),
        })
        .collect();
    json!({"sites": sites, "configured": ["https://*.gov.tw"]})
}

async fn wait_for(
    rx: &mut watch::Receiver<Snapshot>,
    what: &str,
    ok: impl FnMut(&Snapshot) -> bool,
) -> Snapshot {
    let found = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(ok))
        .await
        .map(|r| r.unwrap().clone());
    found.unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", rx.borrow()))
}

fn start(
    connections: usize,
) -> (
    Vec<FakeDaemon>,
    mpsc::UnboundedSender<UiRequest>,
    watch::Receiver<Snapshot>,
    tokio::task::JoinHandle<()>,
) {
    let (connect, daemons) = connector(connections);
    let (ui, requests) = mpsc::unbounded_channel();
    let initial = Snapshot {
        state: tray_state(Err(""), NOW, Language::En),
        sites: None,
    };
    let (out, snapshots) = watch::channel(initial);
    let task = tokio::spawn(run(Language::En, now, connect, requests, out));
    (daemons, ui, snapshots, task)
}

#[tokio::test]
async fn asks_status_and_sites_then_again_on_each_event_and_removes_sites() {
    let (mut daemons, ui, mut snapshots, task) = start(1);
    let daemon = &mut daemons[0];
    daemon
        .handshake(
            card_inventory(),
            sites(&["https://a.gov.tw", "https://b.gov.tw"]),
        )
        .await;
    let s = wait_for(&mut snapshots, "card ready with sites", |s| {
        s.state.icon == TrayIcon::CardReady && s.sites.is_some()
    })
    .await;
    assert_eq!(s.state.cards[0].holder, "王小明");
    assert_eq!(s.sites.unwrap().sites.len(), 2);

    // The card is removed: the daemon pushes an event, the tray asks again.
    daemon
        .event(Event::CardRemoved {
            reader: "Reader 00 00".into(),
        })
        .await;
    let status = daemon.expect("status").await;
    daemon.reply(&status, empty_reader()).await;
    wait_for(&mut snapshots, "no card", |s| {
        s.state.icon == TrayIcon::NoCard
    })
    .await;

    // Remove a site from the menu: the daemon is asked, then the list is fetched again.
    ui.send(UiRequest::RemoveSite("https://a.gov.tw".into()))
        .unwrap();
    let remove = daemon.expect("remove-trusted-site").await;
    assert_eq!(
        remove.command,
        Command::RemoveTrustedSite(RemoveTrustedSiteArgs {
            site: "https://a.gov.tw".into()
        })
    );
    daemon.reply(&remove, json!({"removed": true})).await;
    let list = daemon.expect("trusted-sites").await;
    daemon.reply(&list, sites(&["https://b.gov.tw"])).await;
    let s = wait_for(&mut snapshots, "one site left", |s| {
        s.sites.as_ref().is_some_and(|l| l.sites.len() == 1)
    })
    .await;
    assert_eq!(s.sites.unwrap().sites[0].origin, "https://b.gov.tw");

    // The menu opens: the list is asked for again.
    ui.send(UiRequest::RefreshSites).unwrap();
    daemon.expect("trusted-sites").await;

    // Quit: the UI drops its sender and the session ends.
    drop(ui);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_burst_of_events_costs_at_most_one_more_status() {
    let (mut daemons, _ui, mut snapshots, _task) = start(1);
    let daemon = &mut daemons[0];
    daemon.handshake(empty_reader(), sites(&[])).await;
    wait_for(&mut snapshots, "no card", |s| {
        s.state.icon == TrayIcon::NoCard
    })
    .await;
    for _ in 0..5 {
        daemon
            .event(Event::ReaderAdded {
                reader: "Reader 00 00".into(),
            })
            .await;
    }
    let first = daemon.expect("status").await;
    // While the first is unanswered, the other four events are folded into one more request.
    daemon.reply(&first, empty_reader()).await;
    let second = daemon.expect("status").await;
    daemon.reply(&second, card_inventory()).await;
    wait_for(&mut snapshots, "card ready", |s| {
        s.state.icon == TrayIcon::CardReady
    })
    .await;
    let nothing_more =
        tokio::time::timeout(Duration::from_millis(300), daemon.frames.read_frame()).await;
    assert!(nothing_more.is_err(), "a third status was asked");
}

#[tokio::test]
async fn a_lost_daemon_is_shown_then_reconnected() {
    let (mut daemons, _ui, mut snapshots, _task) = start(2);
    let mut second = daemons.pop().unwrap();
    let mut first = daemons.pop().unwrap();
    first.handshake(card_inventory(), sites(&[])).await;
    wait_for(&mut snapshots, "card ready", |s| {
        s.state.icon == TrayIcon::CardReady
    })
    .await;

    drop(first);
    let s = wait_for(&mut snapshots, "agent error", |s| {
        s.state.icon == TrayIcon::AgentError
    })
    .await;
    assert!(
        s.state
            .tooltip
            .starts_with("The connection to the service was lost."),
        "{}",
        s.state.tooltip
    );
    assert_eq!(s.sites, None, "no stale list while disconnected");

    second.handshake(empty_reader(), sites(&[])).await;
    wait_for(&mut snapshots, "reconnected", |s| {
        s.state.icon == TrayIcon::NoCard
    })
    .await;
}

#[tokio::test]
async fn a_daemon_that_cannot_be_started_is_an_agent_error_and_quit_still_works() {
    let (_daemons, ui, mut snapshots, task) = start(0);
    let s = wait_for(&mut snapshots, "agent error", |s| {
        s.state.icon == TrayIcon::AgentError && s.state.tooltip.contains("no daemon")
    })
    .await;
    assert!(
        s.state.tooltip.contains("no daemon in this test"),
        "{}",
        s.state.tooltip
    );
    ui.send(UiRequest::RefreshSites).unwrap();
    drop(ui);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
