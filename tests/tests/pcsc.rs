//! The PC/SC layer against the real pcscd, its vpcd driver and a virtual card.
//!
//! pcscd is started if needed (see `card_agent_testbed::pcscd`). The vpcd readers belong to the
//! whole machine, so every test here holds [`setup`]'s guard. Timeouts are hang guards, not
//! performance assertions: pcscd notices vpcd cards on its presence poll, a fraction of a second.
//!
//! The service-restart test never stops the shared pcscd: it re-runs this binary inside a
//! private mount namespace (`unshare --mount`, root only; skipped with a message otherwise)
//! where a tmpfs over /run/pcscd lets it start and crash a pcscd of its own.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use card_agent::certificate::CardFamily;
use card_agent::reader::{self, ReaderEvent, ReaderState, Watcher, MOICA_GEN1_ATR};
use card_agent::Error;
use card_agent_testbed::pcscd::{self, VirtualReadersLock};
use card_agent_testbed::virtual_card::{VirtualCard, PORT_0, PORT_1, READER_0, READER_1};

/// A Belgian eID card's ATR: well-formed, and not a Taiwan card.
const OTHER_ATR: [u8; 13] = [
    0x3B, 0x98, 0x13, 0x40, 0x0A, 0xA5, 0x03, 0x01, 0x01, 0x01, 0xAD, 0x13, 0x11,
];

const HANG_GUARD: Duration = Duration::from_secs(20);

/// Serialises the tests of this file (the cross-process lock below covers other processes).
static SERIAL: Mutex<()> = Mutex::new(());

struct Setup {
    _readers: VirtualReadersLock,
    _serial: MutexGuard<'static, ()>,
}

fn setup() -> Setup {
    let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    pcscd::ensure_pcscd().expect("pcscd with the vpcd readers");
    let readers = pcscd::lock_virtual_readers().expect("exclusive use of the vpcd readers");
    Setup {
        _readers: readers,
        _serial: serial,
    }
}

/// Waits until `reader` is listed and satisfies `wanted`; returns that state.
fn wait_for(reader: &str, what: &str, wanted: impl Fn(&ReaderState) -> bool) -> ReaderState {
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let readers = reader::list().expect("list readers");
        if let Some(state) = readers.iter().find(|r| r.name == reader && wanted(r)) {
            return state.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{reader} never became {what}: {readers:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn wait_until_empty(reader: &str) -> ReaderState {
    wait_for(reader, "empty", |r| !r.card_present)
}

/// The next event about `reader`, skipping events about other readers.
fn next_event_for(events: &Receiver<ReaderEvent>, reader: &str) -> ReaderEvent {
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no event for {reader} within {HANG_GUARD:?}: {e}"));
        let about = match &event {
            ReaderEvent::CardInserted { reader, .. } | ReaderEvent::CardRemoved { reader } => {
                reader
            }
            ReaderEvent::ReaderAdded { name } | ReaderEvent::ReaderRemoved { name } => name,
            other => panic!("unexpected event {other:?}"),
        };
        if about == reader {
            return event;
        }
    }
}

fn stop_promptly(watcher: Watcher) {
    let started = Instant::now();
    watcher.stop();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
}

#[test]
fn both_virtual_readers_are_listed_and_empty() {
    let _setup = setup();
    for name in [READER_0, READER_1] {
        let state = wait_until_empty(name);
        assert_eq!((state.atr, state.family), (None, None), "{name}");
    }
}

#[test]
fn a_moica_card_is_present_and_recognised() {
    let _setup = setup();
    wait_until_empty(READER_0);
    let card = VirtualCard::insert(PORT_0, &MOICA_GEN1_ATR).expect("insert");
    let state = wait_for(READER_0, "holding a card", |r| r.card_present);
    assert_eq!(state.atr.as_deref(), Some(&MOICA_GEN1_ATR[..]));
    assert_eq!(state.family, Some(CardFamily::Moica));

    // A PKCS#11 module on this reader would describe its slot like this.
    let readers = reader::list().expect("list");
    let padded = format!("{READER_0:<64}");
    let found = reader::reader_for_slot(&padded, &readers).expect("slot's reader");
    assert_eq!(found.name, READER_0);
    assert!(found.card_present);

    card.remove();
    wait_until_empty(READER_0);
}

#[test]
fn an_unknown_card_is_present_with_family_unknown() {
    let _setup = setup();
    wait_until_empty(READER_0);
    let card = VirtualCard::insert(PORT_0, &OTHER_ATR).expect("insert");
    let state = wait_for(READER_0, "holding a card", |r| r.card_present);
    assert_eq!(state.atr.as_deref(), Some(&OTHER_ATR[..]));
    assert_eq!(state.family, Some(CardFamily::Unknown));
    drop(card);
    wait_until_empty(READER_0);
}

#[test]
fn the_virtual_card_answers_apdus_through_pcscd() {
    use pcsc::{Context, Protocols, Scope, ShareMode};

    let _setup = setup();
    wait_until_empty(READER_0);
    let card = VirtualCard::insert(PORT_0, &MOICA_GEN1_ATR).expect("insert");
    wait_for(READER_0, "holding a card", |r| r.card_present);

    let context = Context::establish(Scope::User).expect("context");
    let name = std::ffi::CString::new(READER_0).expect("reader name");
    let connection = context
        .connect(&name, ShareMode::Shared, Protocols::ANY)
        .expect("connect to the card");
    let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE];
    let select_mf = [0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00];
    assert_eq!(
        connection
            .transmit(&select_mf, &mut buffer)
            .expect("SELECT"),
        [0x90, 0x00]
    );
    let get_challenge = [0x00, 0x84, 0x00, 0x00, 0x08];
    assert_eq!(
        connection
            .transmit(&get_challenge, &mut buffer)
            .expect("INS 84"),
        [0x6D, 0x00]
    );
    drop(connection);

    card.remove();
    wait_until_empty(READER_0);
}

#[test]
fn the_watcher_reports_a_card_coming_and_going() {
    let _setup = setup();
    wait_until_empty(READER_1);

    let (tx, events) = mpsc::channel();
    let watcher = Watcher::spawn(move |event| {
        let _ = tx.send(event);
    })
    .expect("spawn the watcher");
    let baseline = watcher
        .initial()
        .iter()
        .find(|r| r.name == READER_1)
        .expect("baseline");
    assert!(!baseline.card_present, "{baseline:?}");

    let card = VirtualCard::insert(PORT_1, &MOICA_GEN1_ATR).expect("insert");
    assert_eq!(
        next_event_for(&events, READER_1),
        ReaderEvent::CardInserted {
            reader: READER_1.to_owned(),
            atr: MOICA_GEN1_ATR.to_vec(),
            family: CardFamily::Moica,
        }
    );

    card.remove();
    assert_eq!(
        next_event_for(&events, READER_1),
        ReaderEvent::CardRemoved {
            reader: READER_1.to_owned()
        }
    );

    stop_promptly(watcher);
    // The thread has ended: it dropped the callback and with it the sender.
    assert_eq!(
        events.recv_timeout(HANG_GUARD),
        Err(RecvTimeoutError::Disconnected)
    );
}

#[test]
fn the_watcher_starts_from_cards_already_present() {
    let _setup = setup();
    wait_until_empty(READER_1);
    let card = VirtualCard::insert(PORT_1, &OTHER_ATR).expect("insert");
    wait_for(READER_1, "holding a card", |r| r.card_present);

    let (tx, events) = mpsc::channel();
    let watcher = Watcher::spawn(move |event| {
        let _ = tx.send(event);
    })
    .expect("spawn the watcher");
    let baseline = watcher
        .initial()
        .iter()
        .find(|r| r.name == READER_1)
        .expect("baseline");
    assert_eq!(baseline.family, Some(CardFamily::Unknown));
    assert_eq!(baseline.atr.as_deref(), Some(&OTHER_ATR[..]));

    // The card already there is the baseline, not an event; its removal is.
    card.remove();
    assert_eq!(
        next_event_for(&events, READER_1),
        ReaderEvent::CardRemoved {
            reader: READER_1.to_owned()
        }
    );
    stop_promptly(watcher);
}

#[test]
fn the_watcher_stops_promptly_even_right_after_spawning() {
    let _setup = setup();
    for _ in 0..5 {
        stop_promptly(Watcher::spawn(|_| {}).expect("spawn the watcher"));
    }
    let watcher = Watcher::spawn(|_| {}).expect("spawn the watcher");
    thread::sleep(Duration::from_millis(200));
    stop_promptly(watcher);
    // Dropping stops it too.
    drop(Watcher::spawn(|_| {}).expect("spawn the watcher"));
}

/// Set for the child process that runs [`private_pcscd_scenario`].
const PRIVATE_NAMESPACE_ENV: &str = "CARD_AGENT_TEST_PRIVATE_PCSCD";

/// vpcd ports of the private pcscd (the shared one uses 35963 and 35964).
const PRIVATE_PORT: u16 = 35965;

#[test]
fn the_watcher_survives_the_service_going_away_and_coming_back() {
    // The shared pcscd must not be stopped: the scenario runs in a child process with a private
    // mount namespace, where a tmpfs over /run/pcscd gives it a pcscd of its own.
    let _setup = setup();
    let unshare_works = Command::new("unshare")
        .args(["--mount", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !unshare_works {
        eprintln!("SKIPPED: `unshare --mount` is not available or not permitted (needs root)");
        return;
    }
    let test_binary = std::env::current_exe().expect("test binary path");
    let status = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(test_binary)
        .args([
            "--exact",
            "private_pcscd_scenario",
            "--ignored",
            "--nocapture",
        ])
        .env(PRIVATE_NAMESPACE_ENV, "1")
        .status()
        .expect("run the scenario in a private mount namespace");
    assert!(
        status.success(),
        "the private pcscd scenario failed: {status}"
    );
}

/// A pcscd of this process's own, in its private mount namespace.
struct PrivatePcscd(Child);

impl PrivatePcscd {
    fn start(config_dir: &Path, log: &Path) -> PrivatePcscd {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log");
        let child = pcscd::command()
            .args(["-f", "-d", "-c"])
            .arg(config_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the private pcscd");
        let deadline = Instant::now() + HANG_GUARD;
        while !pcscd::is_running() {
            assert!(
                Instant::now() < deadline,
                "the private pcscd never answered"
            );
            thread::sleep(Duration::from_millis(50));
        }
        PrivatePcscd(child)
    }

    /// Kills it the hard way, as a crash would.
    fn crash(mut self) {
        self.0.kill().expect("kill the private pcscd");
        self.0.wait().expect("reap the private pcscd");
    }
}

impl Drop for PrivatePcscd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn next_event(events: &Receiver<ReaderEvent>) -> ReaderEvent {
    events
        .recv_timeout(HANG_GUARD)
        .expect("an event within the hang guard")
}

fn expect_events(events: &Receiver<ReaderEvent>, expected: &[ReaderEvent]) {
    for want in expected {
        assert_eq!(&next_event(events), want);
    }
}

fn expect_service_unavailable(events: &Receiver<ReaderEvent>) {
    match next_event(events) {
        ReaderEvent::ServiceUnavailable { reason } => assert!(!reason.is_empty()),
        other => panic!("expected ServiceUnavailable, got {other:?}"),
    }
}

#[test]
#[ignore = "runs in a private mount namespace, started by \
            the_watcher_survives_the_service_going_away_and_coming_back"]
fn private_pcscd_scenario() {
    assert!(
        std::env::var_os(PRIVATE_NAMESPACE_ENV).is_some(),
        "run through the_watcher_survives_the_service_going_away_and_coming_back"
    );
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "card-agent-test", "/run/pcscd"])
        .status()
        .expect("run mount");
    assert!(mounted.success(), "cannot mount a private /run/pcscd");
    assert!(!pcscd::is_running(), "the shared pcscd is still visible");

    let dir = tempfile::tempdir().expect("temp dir");
    let config_dir = dir.path().join("reader.conf.d");
    std::fs::create_dir(&config_dir).expect("config dir");
    // One vpcd entry gives two readers, "Virtual PCD 00 00" on the port and "00 01" on the next.
    let config = format!(
        "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:0x{PRIVATE_PORT:04X}\n\
         LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID 0x{PRIVATE_PORT:04X}\n"
    );
    std::fs::write(config_dir.join("vpcd"), config).expect("vpcd config");
    let log = dir.path().join("pcscd.log");
    eprintln!("private pcscd log: {}", log.display());

    // No service: list() says so, and the watcher starts anyway and says so once.
    let listed = reader::list();
    assert!(matches!(listed, Err(Error::PcscService(_))), "{listed:?}");
    let (tx, events) = mpsc::channel();
    let watcher = Watcher::spawn(move |event| {
        let _ = tx.send(event);
    })
    .expect("spawn without a service");
    assert!(watcher.initial().is_empty());
    expect_service_unavailable(&events);

    let added = |name: &str| ReaderEvent::ReaderAdded {
        name: name.to_owned(),
    };
    let removed = |name: &str| ReaderEvent::ReaderRemoved {
        name: name.to_owned(),
    };

    // The service comes: its readers appear, then a card.
    let daemon = PrivatePcscd::start(&config_dir, &log);
    expect_events(
        &events,
        &[
            ReaderEvent::ServiceRestored,
            added(READER_0),
            added(READER_1),
        ],
    );
    let card = VirtualCard::insert(PRIVATE_PORT, &MOICA_GEN1_ATR).expect("insert");
    expect_events(
        &events,
        &[ReaderEvent::CardInserted {
            reader: READER_0.to_owned(),
            atr: MOICA_GEN1_ATR.to_vec(),
            family: CardFamily::Moica,
        }],
    );

    // The service dies under the blocking call: reported once, every card and reader goes.
    daemon.crash();
    expect_service_unavailable(&events);
    expect_events(
        &events,
        &[
            ReaderEvent::CardRemoved {
                reader: READER_0.to_owned(),
            },
            removed(READER_0),
            removed(READER_1),
        ],
    );
    card.remove();

    // It comes back, and goes again.
    let daemon = PrivatePcscd::start(&config_dir, &log);
    expect_events(
        &events,
        &[
            ReaderEvent::ServiceRestored,
            added(READER_0),
            added(READER_1),
        ],
    );
    assert_eq!(reader::list().expect("list").len(), 2);
    daemon.crash();
    expect_service_unavailable(&events);
    expect_events(&events, &[removed(READER_0), removed(READER_1)]);

    // Stopping while it waits for the service does not wait out the retry pause.
    stop_promptly(watcher);
    assert_eq!(
        events.recv_timeout(HANG_GUARD),
        Err(RecvTimeoutError::Disconnected)
    );
}
