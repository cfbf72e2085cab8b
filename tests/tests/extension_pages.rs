//! The extension's own pages, as the daemon recognises them (issue 13): the self-test page
//! receives live card events (it was refused them, taken for an untrusted site), and only our
//! extension's pages are ours — a foreign extension's origin is refused by the native host and
//! by the daemon. Real native host, real daemon, pcscd + vpcd with our virtual card; the
//! browser is played by the test (the extension sets a request's origin from the browser's
//! sender, which the test sends as the extension would).

mod support;

use card_agent::native_host::{DEV_EXTENSION_ID, FIREFOX_ADDON_ID};
use card_agent::reader::MOICA_GEN1_ATR;
use card_agent_testbed::daemon::{Host, Sandbox};
use card_agent_testbed::pcscd;
use card_agent_testbed::softhsm::{Options, SoftHsm};
use card_agent_testbed::virtual_card::{VirtualCard, PORT_0, READER_0};
use serde_json::{json, Value};
use support::*;

/// A page of another extension (any 32 letters a–p).
const FOREIGN_PAGE: &str = "chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// An extension page's origin in Firefox: a per-profile UUID.
const FIREFOX_PAGE: &str = "moz-extension://0f6c6b2e-8d6a-4a3e-9c1f-2b7d5e4a9c31";

fn our_page() -> String {
    format!("chrome-extension://{DEV_EXTENSION_ID}")
}

/// The next event about `reader`, skipping others (the other vpcd reader, say).
fn next_event_for(host: &mut Host, reader: &str) -> Value {
    loop {
        let event = host.next_event();
        if event["event"]["reader"] == reader {
            return event["event"].clone();
        }
    }
}

#[test]
fn the_self_test_page_receives_live_card_events() {
    pcscd::ensure_pcscd().expect("pcscd with the vpcd readers");
    let _readers = pcscd::lock_virtual_readers().expect("exclusive use of the vpcd readers");
    // A software token (the demo token has no reader, so a daemon serving it watches none).
    let hsm = SoftHsm::new(Options::default());
    let mut sandbox = Sandbox::new();
    // No site is trusted: the page gets its events as the user's own page, not as a site.
    sandbox.config("").softhsm(&hsm);
    let daemon = sandbox.serve(&[]);
    let mut host = sandbox.host();
    host.set_origin(Some(&our_page()));
    let reply = host.call("subscribe", json!({}));
    assert_eq!(result(&reply)["subscribed"], true, "{reply}");
    let card = VirtualCard::insert(PORT_0, &MOICA_GEN1_ATR).expect("insert the virtual card");
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "card-inserted");
    drop(card);
    assert_eq!(next_event_for(&mut host, READER_0)["type"], "card-removed");
    // The self-test's other commands work for it too, without any site question.
    result(&host.call("status", json!({})));
    assert_eq!(sandbox.pinentry_log(), "", "no dialog for our own page");
    assert!(host.wait().success());
    assert!(daemon.stop().success());
}

#[test]
fn only_our_extensions_pages_are_ours() {
    let mut sandbox = Sandbox::new();
    sandbox.config("");
    let daemon = sandbox.serve(&["--demo"]);

    // Through the native host Chrome started for our extension: another extension's origin
    // (which our extension would never send) is refused before it reaches the daemon.
    let mut host = sandbox.host();
    for origin in [FOREIGN_PAGE, FIREFOX_PAGE] {
        let reply = host.call_from(Some(origin), "status", json!({}));
        assert_eq!(error_code(&reply), "SITE_NOT_TRUSTED", "{origin}: {reply}");
    }
    // Our own page is.
    result(&host.call_from(Some(&our_page()), "status", json!({})));
    assert!(host.wait().success());

    // Firefox names only the add-on: a moz-extension page passes through the host it started
    // for our add-on, and is our page.
    let mut firefox = sandbox.host_as(&[
        "/usr/lib/mozilla/native-messaging-hosts/tw.card_agent.json",
        FIREFOX_ADDON_ID,
    ]);
    let reply = firefox.call_from(Some(FIREFOX_PAGE), "subscribe", json!({}));
    assert_eq!(result(&reply)["subscribed"], true, "{reply}");
    let reply = firefox.call_from(Some(&our_page()), "status", json!({}));
    assert_eq!(error_code(&reply), "SITE_NOT_TRUSTED", "{reply}");
    assert!(firefox.wait().success());

    // Straight to the daemon's socket (a local program posing as a page): a foreign
    // extension's origin is still nobody we know, never a local program.
    let mut direct = std::os::unix::net::UnixStream::connect(sandbox.socket()).expect("connect");
    direct
        .set_read_timeout(Some(card_agent_testbed::daemon::HANG_GUARD))
        .expect("timeout");
    let request = format!(r#"{{"id":1,"command":"trusted-sites","origin":"{FOREIGN_PAGE}"}}"#);
    let reply = socket_call(&mut direct, request.as_bytes()).expect("reply");
    assert_eq!(error_code(&reply), "SITE_NOT_TRUSTED", "{reply}");
    assert_eq!(sandbox.pinentry_log(), "");
    assert!(daemon.stop().success());
}
