//! The host's relay and checks, over in-memory streams and a scripted daemon.

use super::*;
use tokio::io::AsyncReadExt;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// Our development extension, as the browser names it to the host.
fn ours() -> BrowserCaller {
    BrowserCaller::Chromium(DEV_EXTENSION_ID.into())
}

#[test]
fn callers_from_browser_arguments() {
    let ours = format!("chrome-extension://{DEV_EXTENSION_ID}/");
    assert_eq!(
        BrowserCaller::from_args(&args(&[&ours])),
        Some(BrowserCaller::Chromium(DEV_EXTENSION_ID.into()))
    );
    assert_eq!(
        BrowserCaller::from_args(&args(&[&ours, "--parent-window=1234"])),
        Some(BrowserCaller::Chromium(DEV_EXTENSION_ID.into()))
    );
    assert_eq!(
        BrowserCaller::from_args(&args(&[
            "/usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json",
            FIREFOX_ADDON_ID
        ])),
        Some(BrowserCaller::Firefox(FIREFOX_ADDON_ID.into()))
    );
    assert_eq!(
        BrowserCaller::from_args(&args(&["chrome-extension://short/"])),
        None
    );
    assert_eq!(BrowserCaller::from_args(&args(&[])), None);
}

/// Reads one frame's payload from `stream`.
async fn read_frame<R: AsyncRead + Unpin>(stream: &mut R) -> Vec<u8> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.expect("frame length");
    let mut payload = vec![0u8; u32::from_ne_bytes(len) as usize];
    stream
        .read_exact(&mut payload)
        .await
        .expect("frame payload");
    payload
}

/// Writes one frame with `payload` to `stream`.
async fn write_frame<W: AsyncWrite + Unpin>(stream: &mut W, payload: &[u8]) {
    stream
        .write_all(&card_agent_protocol::frame::encode(payload).unwrap())
        .await
        .unwrap();
}

/// A relay between an in-memory browser and an in-memory daemon, and the test's ends of both.
struct Wired {
    relay: tokio::task::JoinHandle<Result<()>>,
    browser_in: tokio::io::ReadHalf<tokio::io::DuplexStream>,
    browser_out: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    daemon_in: tokio::io::ReadHalf<tokio::io::DuplexStream>,
    daemon_out: tokio::io::WriteHalf<tokio::io::DuplexStream>,
}

impl Wired {
    fn new() -> Wired {
        let (browser, host_side) = tokio::io::duplex(64 * 1024);
        let (host_in, host_out) = tokio::io::split(host_side);
        let (daemon, host_daemon_side) = tokio::io::duplex(64 * 1024);
        let relay = tokio::spawn(relay(host_in, host_out, Ok(host_daemon_side), ours()));
        let (browser_in, browser_out) = tokio::io::split(browser);
        let (daemon_in, daemon_out) = tokio::io::split(daemon);
        Wired {
            relay,
            browser_in,
            browser_out,
            daemon_in,
            daemon_out,
        }
    }
}

#[tokio::test]
async fn the_host_ends_when_the_daemon_goes_away() {
    let mut wired = Wired::new();

    // A request goes through, and the daemon answers it, then stops.
    let request = br#"{"id":1,"command":"version","origin":"https://example.gov.tw"}"#;
    write_frame(&mut wired.browser_out, request).await;
    assert_eq!(read_frame(&mut wired.daemon_in).await, request.to_vec());
    let answer = br#"{"id":1,"result":{}}"#;
    write_frame(&mut wired.daemon_out, answer).await;
    drop(wired.daemon_out);
    drop(wired.daemon_in);

    // The answer sent before the daemon left still arrives, and the host ends although the
    // browser keeps its side open.
    assert_eq!(read_frame(&mut wired.browser_in).await, answer.to_vec());
    ends_when_the_daemon_has_gone(wired.relay, &mut wired.browser_in).await;
    drop(wired.browser_out);
}

#[tokio::test]
async fn requests_the_daemon_never_answered_get_an_error_when_it_goes_away() {
    let mut wired = Wired::new();

    // Three requests reach the daemon; it answers the second and dies (SIGKILL: no word).
    for id in [r#"7"#, r#""seven""#, r#"7"#] {
        let request =
            format!(r#"{{"id":{id},"command":"status","origin":"https://example.gov.tw"}}"#);
        write_frame(&mut wired.browser_out, request.as_bytes()).await;
        read_frame(&mut wired.daemon_in).await;
    }
    let answer = br#"{"id":"seven","result":{}}"#;
    write_frame(&mut wired.daemon_out, answer).await;
    drop(wired.daemon_out);
    drop(wired.daemon_in);

    assert_eq!(read_frame(&mut wired.browser_in).await, answer.to_vec());
    // Both requests with id 7 (ids may repeat) hear that the agent went away.
    for _ in 0..2 {
        let frame: serde_json::Value =
            serde_json::from_slice(&read_frame(&mut wired.browser_in).await).unwrap();
        assert_eq!(frame["id"], 7, "{frame}");
        assert_eq!(frame["error"]["code"], "INTERNAL", "{frame}");
        assert!(
            frame["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("card-agent stopped")),
            "{frame}"
        );
    }
    ends_when_the_daemon_has_gone(wired.relay, &mut wired.browser_in).await;
    drop(wired.browser_out);
}

#[tokio::test]
async fn without_a_daemon_every_request_is_answered_with_an_error() {
    let (browser, host_side) = tokio::io::duplex(64 * 1024);
    let (host_in, host_out) = tokio::io::split(host_side);
    let relay = tokio::spawn(relay(
        host_in,
        host_out,
        Err::<tokio::io::DuplexStream, _>(Error::AgentUnavailable("test".into())),
        ours(),
    ));
    let (mut browser_in, mut browser_out) = tokio::io::split(browser);
    let request = br#"{"id":7,"command":"status","origin":"https://example.gov.tw"}"#;
    write_frame(&mut browser_out, request).await;
    let answer: serde_json::Value =
        serde_json::from_slice(&read_frame(&mut browser_in).await).unwrap();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["error"]["code"], "INTERNAL");
    browser_out.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), relay)
        .await
        .expect("the relay ends when the browser closes")
        .unwrap()
        .unwrap();
}

#[test]
fn only_our_extensions_and_configured_ones_are_allowed() {
    assert!(BrowserCaller::Chromium(DEV_EXTENSION_ID.into()).is_allowed(&[]));
    assert!(BrowserCaller::Firefox(FIREFOX_ADDON_ID.into()).is_allowed(&[]));
    let other = "abcdefghijklmnopabcdefghijklmnop".to_owned();
    assert!(!BrowserCaller::Chromium(other.clone()).is_allowed(&[]));
    assert!(BrowserCaller::Chromium(other.clone())
        .is_allowed(&[format!("chrome-extension://{other}/")]));
    assert!(!BrowserCaller::Firefox("evil@example.com".into()).is_allowed(&[]));
}

#[test]
fn visits_are_recorded_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state/card-agent");
    assert_eq!(last_seen(&state), None);
    let caller = BrowserCaller::Chromium(DEV_EXTENSION_ID.into());
    record_visit(&state, &caller, 1_800_000_000).unwrap();
    let seen = last_seen(&state).unwrap();
    assert_eq!(seen.unix, 1_800_000_000);
    assert_eq!(
        seen.caller,
        format!("chrome-extension://{DEV_EXTENSION_ID}/")
    );
    let text = std::fs::read_to_string(state.join(LAST_SEEN_FILE)).unwrap();
    assert!(text.contains("2027-01-15T08:00:00Z"), "{text}");
    std::fs::write(state.join(LAST_SEEN_FILE), "garbage").unwrap();
    assert_eq!(last_seen(&state), None);
}

/// The development ID is the one extension/manifest.json's key yields, so the host and the
/// extension cannot drift apart.
#[test]
fn dev_id_matches_the_manifest_key() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let manifest = include_str!("../../../extension/manifest.json");
    let json: serde_json::Value = serde_json::from_str(manifest).unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(json["key"].as_str().unwrap())
        .unwrap();
    let id: String = hex::encode(sha2::Sha256::digest(der))[..32]
        .chars()
        .map(|c| (b'a' + c.to_digit(16).unwrap() as u8) as char)
        .collect();
    assert_eq!(id, DEV_EXTENSION_ID);
}

/// The relay ends by itself once the daemon has gone, and the browser hears nothing after the
/// answers the test already read (one answer per request).
async fn ends_when_the_daemon_has_gone(
    relay: tokio::task::JoinHandle<Result<()>>,
    browser_in: &mut (impl tokio::io::AsyncRead + Unpin),
) {
    tokio::time::timeout(Duration::from_secs(10), relay)
        .await
        .expect("the relay ends when the daemon has gone")
        .unwrap()
        .unwrap();
    let mut rest = Vec::new();
    browser_in.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "nothing after the last answer: {rest:?}");
}
