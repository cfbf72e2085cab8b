//! The bodies of the fuzz targets: one function per target, called by the libFuzzer targets in
//! `fuzz/fuzz_targets/` (nightly, `cargo fuzz run`) and by the stable replay test
//! `tests/tests/fuzz_replay.rs`, which runs every file of `fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/` and (when present) `fuzz/corpus/<target>/` through the same
//! function on every `cargo test`.
//!
//! Each body drives the real code (the agent's own parsers, connection handlers and services,
//! never a copy) and panics when an invariant breaks. A panic is a finding; returning is a pass,
//! whatever the input. Beyond "does not panic" the bodies check what a reviewer asks of each
//! channel: bounded buffering, round trips, a stable error code for every refusal, messages in
//! both languages, no PIN echoed in a response or written to the log.
//!
//! What is real and what stands in: the legacy HTTP API and the daemon's connection handler run
//! over in-memory streams (`tokio::io::duplex`) instead of sockets, with the demo token as the
//! card and no PIN dialog program (a request that needs a dialog fails, as it does on a machine
//! without pinentry). The vpcd target fuzzes our *test* virtual card's frame handling
//! ([`crate::virtual_card`]); the agent itself parses no APDU response: it talks to cards
//! through PKCS#11 modules and parses only the ATR ([`card_agent::reader::atr`]) and reader names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{self, Cursor, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use card_agent::card_core::{CardCore, CoreOptions};
use card_agent::certificate::CertificateInfo;
use card_agent::config::PinEntry;
use card_agent::fuzzing::{self, TbsPackage};
use card_agent::policy::Policy;
use card_agent::reader::{self as atr, reader_for_slot, ReaderState};
use card_agent::service::{Service, Settings};
use card_agent_protocol::frame::{self, FrameDecoder, FrameError, HEADER_LEN, MAX_FRAME};
use card_agent_protocol::message::Response;
use card_agent_protocol::{parse_request, ErrorCode, Language};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every target, by the name of its directory under `fuzz/seeds/` and its file under
/// `fuzz/fuzz_targets/`.
pub const TARGETS: &[&str] = &[
    "frame_decode",
    "request_decode",
    "legacy_tbs",
    "legacy_http",
    "certificate_parse",
    "atr_parse",
    "vpcd_frame",
];

/// The port the legacy API believes it listens on (no socket is bound: only the Host and
/// Origin checks use it). Seeds and the dictionary use it.
pub const LEGACY_PORT: u16 = 61161;

/// Sites the harness's policy trusts (`trusted_sites`), so that seeds can reach the handlers
/// behind the site check.
pub const TRUSTED_PATTERN: &str = "https://*.example.gov.tw";

/// Runs the target `name` on `data`; `false` when there is no such target.
///
/// One input at a time per process: the targets share the demo service and the captured log,
/// and a PIN-like value logged for one input (inside a thumbprint, say) must not be charged to
/// another running on a parallel test thread. libFuzzer calls the bodies from one thread.
pub fn run(name: &str, data: &[u8]) -> bool {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    match name {
        "frame_decode" => frame_decode(data),
        "request_decode" => request_decode(data),
        "legacy_tbs" => legacy_tbs(data),
        "legacy_http" => legacy_http(data),
        "certificate_parse" => certificate_parse(data),
        "atr_parse" => atr_parse(data),
        "vpcd_frame" => vpcd_frame(data),
        _ => return false,
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Native-messaging / IPC framing.

/// `data[0]` picks the decoder's limit (the real [`MAX_FRAME`] or a small one, so that the
/// fuzzer reaches the limit checks), `data[1]` the read size; the rest is the byte stream.
/// Checks: frames are non-empty and within the limit, re-encoding them gives back exactly the
/// bytes consumed, the decoder never holds more than one unfinished frame (header + limit)
/// after draining, an error sticks and frees the buffer, `finish` tells clean from cut, and
/// any chunking decodes the same as one read.
pub fn frame_decode(data: &[u8]) {
    let [limit_byte, chunk_byte, stream @ ..] = data else {
        return;
    };
    let limit = match limit_byte {
        0..=127 => MAX_FRAME,
        n => usize::from(n - 127) * 3,
    };
    let chunk = usize::from(*chunk_byte).max(1);
    let (frames, error, rest) = decode_stream(stream, limit, chunk);
    let (frames_one, error_one, rest_one) = decode_stream(stream, limit, stream.len().max(1));
    assert_eq!(frames, frames_one, "chunking changed the frames");
    assert_eq!(error, error_one, "chunking changed the error");
    assert_eq!(rest, rest_one, "chunking changed what was left");
    let mut rebuilt = Vec::new();
    for f in &frames {
        assert!(
            !f.is_empty() && f.len() <= limit,
            "frame of {} bytes",
            f.len()
        );
        let encoded = if limit == MAX_FRAME {
            frame::encode(f).expect("a decoded frame re-encodes")
        } else {
            let mut e = u32::try_from(f.len()).unwrap().to_ne_bytes().to_vec();
            e.extend_from_slice(f);
            e
        };
        rebuilt.extend(encoded);
    }
    assert_eq!(
        rebuilt,
        stream[..rebuilt.len()],
        "frames do not re-encode to the input"
    );
    match error {
        Some(FrameError::TooLarge {
            announced,
            limit: l,
        }) => {
            assert_eq!(l, limit);
            assert!(announced > limit as u64);
        }
        Some(FrameError::Empty) => {}
        Some(FrameError::Truncated { received, expected }) => {
            assert_eq!(received, stream.len() - rebuilt.len(), "truncation count");
            assert!(
                received < expected,
                "a truncated frame is shorter than expected"
            );
        }
        None => assert_eq!(rebuilt.len(), stream.len(), "clean end left bytes"),
    }
}

/// Decodes `stream` read `chunk` bytes at a time: the frames, the first error (a decoding error
/// or the `finish` error), and the bytes still buffered.
fn decode_stream(
    stream: &[u8],
    limit: usize,
    chunk: usize,
) -> (Vec<Vec<u8>>, Option<FrameError>, usize) {
    let mut decoder = FrameDecoder::with_limit(limit);
    let mut frames = Vec::new();
    for piece in stream.chunks(chunk) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => {
                    // Bounded buffering: after draining, at most one unfinished frame.
                    assert!(
                        decoder.buffered() < HEADER_LEN + limit,
                        "decoder holds {} bytes with a limit of {limit}",
                        decoder.buffered()
                    );
                    break;
                }
                Err(e) => {
                    assert_eq!(decoder.buffered(), 0, "a failed decoder keeps its buffer");
                    assert_eq!(decoder.next_frame(), Err(e.clone()), "the error must stick");
                    assert_eq!(decoder.finish(), Err(e.clone()));
                    return (frames, Some(e), 0);
                }
            }
        }
    }
    let left = decoder.buffered();
    match decoder.finish() {
        Ok(()) => {
            assert_eq!(left, 0);
            (frames, None, 0)
        }
        Err(e) => (frames, Some(e), left),
    }
}

// ---------------------------------------------------------------------------------------------
// Protocol requests: the parser, the native host's relay, the daemon's connection handler.

/// One frame's payload through every reader of requests:
/// 1. [`parse_request`]: an accepted request serialises and re-parses to itself; a refused one
///    answers `BAD_REQUEST` with a message that names no secret value.
/// 2. The native host ([`card_agent::native_host::relay`]) with no daemon: exactly one
///    response, a valid frame within the browser's limit, with the request's id.
/// 3. The daemon ([`fuzzing::serve_daemon_connection`]) over the demo token: every frame it
///    writes is a response or event with a known error code and a message; no PIN in the log.
pub fn request_decode(data: &[u8]) {
    let parsed = parse_request(data);
    match &parsed {
        Ok(request) => {
            let json = request.to_json().expect("an accepted request serialises");
            let again = parse_request(&json).expect("a serialised request parses");
            assert_eq!(&again, request, "request does not round-trip");
        }
        Err(invalid) => {
            let response = invalid.to_response();
            let body = response_error(&response_json(&response));
            assert_eq!(body.0, "BAD_REQUEST");
            assert_no_secret_echo(data, body.1.as_bytes(), "a parse error message");
        }
    }
    if data.is_empty() || data.len() > MAX_FRAME {
        return;
    }
    let wire = frame::encode(data).expect("checked size");
    native_host_path(data, &wire, &parsed);
    daemon_path(data, &wire);
}

fn native_host_path(
    data: &[u8],
    wire: &[u8],
    parsed: &Result<card_agent_protocol::Request, card_agent_protocol::InvalidRequest>,
) {
    let out = native_host_exchange(wire);
    let responses = frames_of(&out, frame::MAX_BROWSER_MESSAGE);
    assert_eq!(responses.len(), 1, "one request, one response");
    let value = &responses[0];
    let (code, message) = response_error(value);
    // Without a daemon nothing succeeds: a bad request, or the agent is not running.
    assert!(code == "BAD_REQUEST" || code == "INTERNAL", "code {code}");
    assert_no_secret_echo(data, message.as_bytes(), "the native host's answer");
    if let Ok(request) = parsed {
        assert_eq!(
            value.get("id"),
            Some(&serde_json::to_value(&request.id).unwrap())
        );
    }
}

/// What the native host writes to the browser for `stdin` (the browser's side of the pipe),
/// with no daemon to relay to.
pub fn native_host_exchange(stdin: &[u8]) -> Vec<u8> {
    runtime().block_on(async {
        let (host_out, mut browser) = tokio::io::duplex(4 * MAX_FRAME);
        let no_daemon: card_agent::Result<tokio::io::DuplexStream> = Err(
            card_agent::Error::Internal("no daemon in the fuzz harness".to_owned()),
        );
        let ours = card_agent::native_host::BrowserCaller::Chromium(
            card_agent::native_host::DEV_EXTENSION_ID.to_owned(),
        );
        let relay =
            card_agent::native_host::relay(Cursor::new(stdin.to_vec()), host_out, no_daemon, ours);
        tokio::time::timeout(Duration::from_secs(30), relay)
            .await
            .expect("the native host relay hung")
            .expect("the relay itself does not fail");
        let mut out = Vec::new();
        browser.read_to_end(&mut out).await.unwrap();
        out
    })
}

/// What the daemon writes back on one IPC connection to a client that sends `wire` and then
/// closes its sending side, over the harness's demo-token service.
pub fn daemon_exchange(wire: &[u8]) -> Vec<u8> {
    let service = demo_service();
    let wire = wire.to_vec();
    let out = runtime().block_on(async move {
        let (client, server) = tokio::io::duplex(4 * MAX_FRAME);
        let serve = fuzzing::serve_daemon_connection(server, service, Language::En);
        let talk = async move {
            let (mut rx, mut tx) = tokio::io::split(client);
            tx.write_all(&wire).await.unwrap();
            tx.shutdown().await.unwrap();
            let mut out = Vec::new();
            rx.read_to_end(&mut out).await.unwrap();
            out
        };
        let (out, ()) =
            tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(talk, serve) })
                .await
                .expect("the daemon's connection hung");
        out
    });
    reset_if_used(&demo_service());
    out
}

fn daemon_path(data: &[u8], wire: &[u8]) {
    let log_start = log_len();
    let out = daemon_exchange(wire);
    debug_print("daemon", &out);
    for value in frames_of(&out, frame::MAX_BROWSER_MESSAGE) {
        if value.get("error").is_some() {
            let (_, message) = response_error(&value);
            assert_no_secret_echo(data, message.as_bytes(), "the daemon's answer");
        } else {
            assert!(
                value.get("result").is_some() || value.get("event").is_some(),
                "neither a result, an error nor an event: {value}"
            );
        }
    }
    assert_log_has_no_pin(data, log_start);
}

/// With `CARD_AGENT_FUZZ_DEBUG` set, shows what a channel answered (for writing seeds and
/// reading findings).
fn debug_print(channel: &str, out: &[u8]) {
    if std::env::var_os("CARD_AGENT_FUZZ_DEBUG").is_some() {
        eprintln!("--- {channel} answered:\n{}", String::from_utf8_lossy(out));
    }
}

/// The JSON of a response, as it goes on the wire.
fn response_json(response: &Response) -> Value {
    serde_json::from_slice(&response.to_json().expect("a response serialises")).unwrap()
}

/// `(code, message)` of an error response, checking the code is a stable one and that the
/// code's own message exists in both languages.
fn response_error(value: &Value) -> (String, String) {
    let error = value
        .get("error")
        .unwrap_or_else(|| panic!("not an error response: {value}"));
    let code = error["code"].as_str().expect("error.code is a string");
    let parsed = ErrorCode::from_wire(code).unwrap_or_else(|| panic!("unknown code {code}"));
    for lang in [Language::En, Language::ZhTw] {
        let text = parsed.message(lang);
        assert!(
            !text.is_empty() && !text.starts_with("error."),
            "no {lang:?} text for {code}"
        );
    }
    let message = error["message"]
        .as_str()
        .expect("error.message is a string");
    assert!(!message.is_empty(), "an empty message for {code}");
    (code.to_owned(), message.to_owned())
}

/// Every frame in `bytes`, each checked to be within `limit` and to hold a JSON object; the
/// stream must end cleanly.
fn frames_of(bytes: &[u8], limit: usize) -> Vec<Value> {
    let mut decoder = FrameDecoder::with_limit(limit);
    decoder.push(bytes);
    let mut out = Vec::new();
    while let Some(payload) = decoder.next_frame().expect("the agent wrote a bad frame") {
        let value: Value = serde_json::from_slice(&payload).expect("the agent wrote bad JSON");
        assert!(value.is_object(), "not an object: {value}");
        out.push(value);
    }
    decoder
        .finish()
        .expect("the agent's output ended mid-frame");
    out
}

/// The PIN-like values of a request: every string or number under a key named like a PIN
/// (`pin`, `userPin`, ...), anywhere in the JSON (leniently parsed), or, for a form or a
/// tbsPackage, in its percent-decoded text.
fn pins_in(data: &[u8]) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if k.to_ascii_lowercase().contains("pin") {
                        match v {
                            Value::String(s) => out.push(s.clone()),
                            Value::Number(n) => out.push(n.to_string()),
                            _ => {}
                        }
                    }
                    walk(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let mut texts = vec![String::from_utf8_lossy(data).into_owned()];
    for (_, v) in form_urlencoded::parse(data) {
        texts.push(v.into_owned());
    }
    for text in texts {
        for start in text.match_indices('{').map(|(i, _)| i).take(8) {
            if let Ok(v) = serde_json::from_str::<Value>(&text[start..]) {
                walk(&v, &mut out);
            } else if let Ok(v) = serde_json::Deserializer::from_str(&text[start..])
                .into_iter::<Value>()
                .next()
                .unwrap_or(Ok(Value::Null))
            {
                walk(&v, &mut out);
            }
        }
    }
    let decoded: Vec<String> = out
        .iter()
        .filter_map(|p| fuzzing::percent_decode(p))
        .collect();
    out.extend(decoded);
    // Short or digit-free values are too likely to occur by chance in any text ("1", "true"):
    // a PIN on these cards is 6 to 8 digits.
    out.retain(|p| p.len() >= 6 && p.bytes().filter(u8::is_ascii_digit).count() >= 4);
    out.sort();
    out.dedup();
    out
}

/// The PIN-like values of a request worth looking for in answers and logs: those that occur
/// in the request only once. A value that also appears elsewhere in it (inside a certificate
/// thumbprint an error names, say) may legitimately be echoed or logged as part of that.
fn pins_to_check(request: &[u8]) -> Vec<String> {
    pins_in(request)
        .into_iter()
        .filter(|pin| {
            request
                .windows(pin.len())
                .filter(|w| *w == pin.as_bytes())
                .count()
                <= 1
        })
        .collect()
}

fn assert_no_secret_echo(request: &[u8], answer: &[u8], what: &str) {
    for pin in pins_to_check(request) {
        assert!(
            !contains(answer, pin.as_bytes()),
            "{what} echoes the PIN-like value {pin:?}"
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// The shared runtime, the demo service and the captured log.

/// Longest (virtual) time the legacy API may keep a connection whose client went quiet: the
/// header-read and body timeouts must close it well before.
const IDLE_LIMIT: Duration = Duration::from_secs(3600);

/// A runtime whose clock starts paused: time advances only when every task waits, straight to
/// the next timer, so the server's own timeouts end idle connections at once and
/// deterministically. Blocking work (card operations) holds the clock while it runs.
fn paused_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a tokio runtime")
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// What the agent logged during this process (the harness installs a subscriber that writes
/// here), so that every target can check that no PIN reached the log.
fn log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            // No timestamps: the fuzzer once sent today's date and time as the PIN, and the
            // log's own timestamp then "held the PIN". The check is about what the agent logs.
            .without_time()
            .with_writer(|| LogWriter)
            .try_init();
        Mutex::new(Vec::new())
    })
}

struct LogWriter;
impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let mut log = log().lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: a long fuzzing run must not grow the log without end.
        if log.len() > 8 * 1024 * 1024 {
            log.clear();
        }
        log.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn log_len() -> usize {
    log().lock().unwrap_or_else(|p| p.into_inner()).len()
}

fn assert_log_has_no_pin(request: &[u8], since: usize) {
    let log = log().lock().unwrap_or_else(|p| p.into_inner());
    let new = log.get(since..).unwrap_or(&log[..]);
    for pin in pins_to_check(request) {
        assert!(
            !contains(new, pin.as_bytes()),
            "the log holds the PIN-like value {pin:?}"
        );
    }
}

/// The demo-token service every request-handling target talks to: `trusted_sites` is
/// [`TRUSTED_PATTERN`], PINs come from the request (`pin_entry = "auto"`), and there is no
/// dialog program, so no dialog ever opens (a request needing one fails as without pinentry).
fn demo_service() -> Arc<Service> {
    let mut slot = service_slot().lock().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert_with(new_demo_service).clone()
}

fn service_slot() -> &'static Mutex<Option<Arc<Service>>> {
    static SERVICE: OnceLock<Mutex<Option<Arc<Service>>>> = OnceLock::new();
    log();
    SERVICE.get_or_init(|| Mutex::new(None))
}

fn new_demo_service() -> Arc<Service> {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir"));
    let core = CardCore::open(&CoreOptions {
        demo: true,
        ..CoreOptions::default()
    })
    .expect("the demo token");
    let approvals = dir.path().join("trusted-sites.json");
    // Approvals a previous input made (none can: there is no dialog) would leak state.
    let _ = std::fs::remove_file(&approvals);
    let policy = Policy::load(&[TRUSTED_PATTERN], approvals).expect("the policy");
    Arc::new(Service::new(
        Arc::new(core),
        policy,
        Err("no dialog program in the fuzz harness".to_owned()),
        Settings {
            pin_entry: PinEntry::Auto,
            ..Settings::default()
        },
    ))
}

/// Starts the next input on a fresh demo token when this one's PIN counter moved (a wrong PIN
/// costs a try; three lock it for good), so that each input sees the same card.
fn reset_if_used(service: &Arc<Service>) {
    let pristine = card_agent::fuzzing::pin_counters_untouched(service);
    if !pristine {
        *service_slot().lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

// ---------------------------------------------------------------------------------------------
// The legacy API: tbsPackage and form decoding, and whole HTTP requests.

/// HiPKI field names read from a package.
const TBS_FIELDS: &[&str] = &[
    "func",
    "tbs",
    "tbsEncoding",
    "hashAlgorithm",
    "signatureType",
    "nonce",
    "pin",
    "slotDescription",
    "withCardSN",
    "checkValidity",
    "withSigningTime",
    "cipher",
    "cipherText",
    "ciphertext",
    "encData",
];

/// The input as a tbsPackage (JSON text) and as a form body, through every reader of a
/// package: no value reads back as absent-but-present (`""`, `__NotExistedTag__`), a secret
/// is taken once, and `percent_decode` is decodeURIComponent: it accepts exactly `%XX` with two
/// hex digits, never grows its input, and inverts percent-encoding.
pub fn legacy_tbs(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(package) = TbsPackage::parse(text) {
            assert!(
                text.len() <= fuzzing::MAX_PACKAGE,
                "an over-long package accepted"
            );
            check_package(package);
        }
        check_percent_decode(text);
    }
    if let Some(Ok(package)) = TbsPackage::from_body(data) {
        check_package(package);
    }
}

fn check_package(mut package: TbsPackage) {
    for key in TBS_FIELDS {
        if let Some(v) = package.text(key) {
            assert!(
                !v.is_empty() && v != fuzzing::NOT_EXISTED,
                "{key} read as {v:?}"
            );
        }
        let _ = package.flag(key);
    }
    let _ = package.func();
    if let Some(pin) = package.take_secret("pin") {
        assert!(!pin.expose().is_empty() && pin.expose() != fuzzing::NOT_EXISTED);
    }
    assert!(
        package.take_secret("pin").is_none(),
        "a secret is taken once"
    );
    assert!(package.text("pin").is_none(), "the package keeps no copy");
}

fn check_percent_decode(text: &str) {
    if let Some(decoded) = fuzzing::percent_decode(text) {
        assert!(decoded.len() <= text.len(), "decoding grew the text");
        // Every '%' starts an escape of exactly two hex digits, as in decodeURIComponent.
        let b = text.as_bytes();
        for (i, _) in text.match_indices('%') {
            assert!(
                b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit),
                "percent_decode accepted {:?}",
                String::from_utf8_lossy(&b[i..(i + 3).min(b.len())])
            );
        }
    }
    let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
    assert_eq!(
        fuzzing::percent_decode(&encoded).as_deref(),
        Some(text),
        "percent-encoding does not round-trip"
    );
}

/// A whole HTTP/1.1 exchange: the input is what a client writes on the connection (one or
/// more requests), served by the legacy API's real connection handler
/// ([`fuzzing::serve_legacy_connection`]: hyper, the Host and Origin guard, the router, the
/// handlers, the self-test page's API) over the demo token. Checks on every response: a valid
/// HTTP response, JSON bodies are objects with a `func` and a `ret_code` from the API's table,
/// CORS headers only ever echo a trusted origin, no PIN in a JSON body or in the log.
pub fn legacy_http(data: &[u8]) {
    let log_start = log_len();
    let out = legacy_exchange(data);
    debug_print("legacy_http", &out);
    check_http_responses(data, &out);
    assert_log_has_no_pin(data, log_start);
}

/// What the legacy API answers a client that writes `data` on a connection and waits until
/// the server closes it.
pub fn legacy_exchange(data: &[u8]) -> Vec<u8> {
    let service = demo_service();
    let input = data.to_vec();
    let out = paused_runtime().block_on(async move {
        let (client, server) = tokio::io::duplex(1 << 20);
        let server_task = tokio::spawn(fuzzing::serve_legacy_connection(
            server,
            service,
            LEGACY_PORT,
        ));
        let (mut rx, mut tx) = tokio::io::split(client);
        // The client never half-closes (browsers do not, and hyper drops a connection whose
        // client does); it keeps its side open until the server closes: after a
        // `Connection: close` response, on an error, or when the header-read or body timeout
        // fires on a connection left waiting. The clock is paused and jumps to the next timer
        // whenever everything waits, so those timeouts cost no real time.
        let write = async move {
            // The server may answer and close before reading everything: not an error.
            let _ = tx.write_all(&input).await;
            tx
        };
        let read = async move {
            let mut out = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match rx.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
                // An event stream never ends by itself; a browser would hang up.
                if contains(&out, b"text/event-stream") {
                    break;
                }
            }
            out
        };
        let started = tokio::time::Instant::now();
        let (_tx, out) = tokio::time::timeout(IDLE_LIMIT, async { tokio::join!(write, read) })
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the legacy API kept a connection open for {:?} of (virtual) time",
                    started.elapsed()
                )
            });
        server_task.abort();
        out
    });
    reset_if_used(&demo_service());
    out
}

fn check_http_responses(request: &[u8], out: &[u8]) {
    let mut rest = out;
    while !rest.is_empty() {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            panic!(
                "an incomplete response head: {:?}",
                String::from_utf8_lossy(rest)
            );
        };
        let head = std::str::from_utf8(&rest[..end]).expect("a response head is ASCII");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, &str)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
            .collect();
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        if header("content-type") == Some("text/event-stream") {
            return;
        }
        if let Some(origin) = header("access-control-allow-origin") {
            assert_ne!(origin, "*", "CORS for everyone");
            let parsed = card_agent::policy::Origin::parse(origin)
                .unwrap_or_else(|_| panic!("CORS names a non-origin {origin:?}"));
            // Any page may read the image's refusal (0x76000031, to offer /addDomain); only a
            // trusted one gets anything else.
            let trusted = parsed.host().ends_with(".example.gov.tw") && parsed.scheme() == "https";
            assert!(
                trusted || header("content-type") == Some("image/bmp"),
                "CORS for the untrusted origin {origin:?}"
            );
        }
        let length: usize = match header("content-length") {
            Some(v) => v.parse().expect("a numeric content-length"),
            None if header("transfer-encoding").is_some() => {
                panic!("a chunked response from a fixed-body server")
            }
            None => 0,
        };
        let body_start = end + 4;
        let body = rest
            .get(body_start..body_start + length)
            .unwrap_or_else(|| panic!("a response body cut short ({status})"));
        if header("content-type").is_some_and(|t| t.starts_with("application/json")) {
            let value: Value = serde_json::from_slice(body).expect("a JSON body parses");
            if let Some(ret) = value.get("ret_code") {
                let ret = ret.as_u64().expect("ret_code is a number");
                assert!(
                    fuzzing::LEGACY_RET_CODES.contains(&u32::try_from(ret).unwrap_or(u32::MAX)),
                    "unknown ret_code {ret:#x}"
                );
                assert!(value["func"].is_string(), "no func: {value}");
            }
            // Signatures and certificates are base64 and the codes decimal numbers, where six
            // digits in a row occur by chance; the PIN must not be in any other field.
            let mut value = value;
            if let Some(map) = value.as_object_mut() {
                for key in ["signature", "certb64", "plain", "ret_code", "last_error"] {
                    map.remove(key);
                }
            }
            assert_no_secret_echo(
                request,
                value.to_string().as_bytes(),
                "a legacy JSON response",
            );
        }
        rest = &rest[body_start + length..];
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates, ATRs and reader names, vpcd frames.

/// DER from a card through the certificate reader: an error maps to a stable code with both
/// languages' message; an accepted certificate's fingerprints are of the input, and every
/// derived field (the wire form included) is computed without panicking.
pub fn certificate_parse(data: &[u8]) {
    // The agent reads certificates on tokio's blocking threads, whose stacks are 2 MiB: run
    // the parser on such a stack, so that deep recursion fails here as it would there.
    let input = data.to_vec();
    let outcome = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || CertificateInfo::parse(&input))
        .expect("a thread")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    match outcome {
        Ok(info) => {
            use sha2::Digest as _;
            assert_eq!(info.sha256, hex::encode(sha2::Sha256::digest(data)));
            assert_eq!(info.der, data);
            let _ = info.days_to_expiry(0);
            let _ = info.days_to_expiry(i64::from(i32::MAX));
            let _ = info.is_for_signing();
            let _ = info.holder_name();
            let _ = info.key_algorithm.name();
            if let Some(last4) = &info.id_last4 {
                let _ = last4.len();
            }
            let token_cert = card_agent::token::TokenCertificate {
                id: vec![1],
                label: String::new(),
                has_private_key: true,
                info,
            };
            let wire = card_agent::inventory::certificate(&token_cert, 1_767_225_600);
            serde_json::to_string(&wire).expect("the wire certificate serialises");
        }
        Err(e) => {
            let code = e.code();
            assert!(ErrorCode::ALL.contains(&code));
            for lang in [Language::En, Language::ZhTw] {
                assert!(!e.user_message(lang).is_empty());
            }
        }
    }
}

/// An ATR (and reader names, after a `0xFF` separator) as PC/SC reports them: the historical
/// bytes are a slice of the ATR, the hex form round-trips, and a slot description finds only a
/// reader that was offered.
pub fn atr_parse(data: &[u8]) {
    let (atr_bytes, names) = match data.iter().position(|b| *b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let _ = atr::family_from_atr(atr_bytes);
    if let Some(hist) = atr::historical_bytes(atr_bytes) {
        let base = atr_bytes.as_ptr() as usize;
        let start = hist.as_ptr() as usize;
        assert!(start >= base && start + hist.len() <= base + atr_bytes.len());
        assert!(hist.len() <= 15, "K is four bits");
    }
    assert_eq!(
        hex::decode(atr::atr_hex(atr_bytes)).unwrap(),
        atr_bytes,
        "atr_hex round trip"
    );
    let text = String::from_utf8_lossy(names);
    let mut parts = text.split('\n');
    let wanted = parts.next().unwrap_or_default();
    let readers: Vec<ReaderState> = parts
        .map(|name| ReaderState {
            name: name.to_owned(),
            card_present: true,
            atr: Some(atr_bytes.to_vec()),
            family: Some(atr::family_from_atr(atr_bytes)),
        })
        .collect();
    if let Some(found) = reader_for_slot(wanted, &readers) {
        assert!(readers.iter().any(|r| std::ptr::eq(r, found)));
        assert!(!wanted.trim().is_empty());
    }
}

/// What vpcd sends our test virtual card (frames of a 2-byte big-endian length): every control
/// message and APDU is answered as documented (the ATR for 0x04, data + SW1 SW2 for an APDU,
/// nothing for other 1-byte messages), the answers are well-formed frames, and the input ends
/// either cleanly or as an unexpected end of stream.
pub fn vpcd_frame(data: &[u8]) {
    const ATR: &[u8] = &atr::MOICA_GEN1_ATR;
    let mut stream = MemStream {
        input: Cursor::new(data.to_vec()),
        output: Vec::new(),
    };
    let outcome = crate::virtual_card::serve(&mut stream, ATR, crate::virtual_card::respond);
    if let Err(e) = &outcome {
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    }
    // What the card should have answered, from the frames it received.
    let mut input = Cursor::new(data);
    let mut expected = Vec::new();
    while let Ok(Some(frame)) = crate::virtual_card::read_frame(&mut input) {
        match frame.as_slice() {
            [crate::virtual_card::CTRL_ATR] => expected.push(ATR.to_vec()),
            [] | [_] => {}
            apdu => expected.push(crate::virtual_card::respond(apdu)),
        }
    }
    let mut output = Cursor::new(stream.output);
    let mut answered = Vec::new();
    while let Some(frame) = crate::virtual_card::read_frame(&mut output).expect("a whole frame") {
        answered.push(frame);
    }
    assert_eq!(answered, expected);
    for answer in &answered {
        assert!(answer.len() >= 2, "an answer without a status word");
    }
}

struct MemStream {
    input: Cursor<Vec<u8>>,
    output: Vec<u8>,
}

impl Read for &mut MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut self.input, buf)
    }
}

impl Write for &mut MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut self.output, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
