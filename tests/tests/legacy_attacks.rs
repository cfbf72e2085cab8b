//! The attacks on the legacy HiPKI API found on the running agent, at the socket level, each a
//! regression test (the page attacks are also run in Chromium, tests/legacy-browser/). The
//! requests carry exactly the headers a browser sends in each case: Chromium adds
//! `Sec-Fetch-*` to every request and `Origin` to every cross-origin or non-GET one; a
//! same-origin GET (the popup bridge's) carries no `Origin`.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use card_agent::config::PinEntry;
use card_agent_testbed::pin_gate::{PinGate, CONTROL_FILE};
use serde_json::{json, Value};

mod legacy_server;
use legacy_server::{form, log_buffer, start, start_custom, LOGIN, TRUSTED, UNTRUSTED_SITE};

/// The popup bridge's request headers for an opener `opener`.
fn popup_headers(opener: &str) -> Vec<String> {
    vec![
        "Sec-Fetch-Site: same-origin".to_owned(),
        "Sec-Fetch-Mode: cors".to_owned(),
        "Sec-Fetch-Dest: empty".to_owned(),
        format!("X-Card-Agent-Opener: {opener}"),
    ]
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn sign_package(pin: &str, tbs: &str) -> Value {
    json!({"func": "MakeSignature", "signatureType": "PKCS7", "tbs": tbs, "tbsEncoding": "NONE",
           "hashAlgorithm": "SHA256", "pin": pin, "withCardSN": "false"})
}

/// Waits for `what` (never a timing assertion: a generous guard against a hang).
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let guard = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < guard, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether this test runs as root (setpriv can then act as another user).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn log_text() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

/// #1: the popup's same-origin GET carries no Origin. It was taken for a local program, and
/// the popup posted every certificate to whatever page opened it.
#[test]
fn a_popup_opened_by_any_page_reads_no_certificate() {
    let s = start("deny");
    let r = s.request(
        "GET",
        "/pkcs11info?withcert=true",
        &refs(&popup_headers("https://evil.example")),
        "",
    );
    let v = r.json();
    assert_eq!(v["ret_code"], UNTRUSTED_SITE, "{v}");
    assert!(v.get("slots").is_none(), "{v}");
    // A trusted opener still reads them.
    let r = s
        .request(
            "GET",
            "/pkcs11info?withcert=true",
            &refs(&popup_headers(TRUSTED)),
            "",
        )
        .json();
    assert!(r["slots"][0]["token"]["certs"].as_array().unwrap().len() >= 2);
    // A navigation to the API (no Origin) is a browser's, never a local program's.
    for headers in [
        vec![
            "Sec-Fetch-Site: cross-site",
            "Sec-Fetch-Mode: navigate",
            "Referer: https://evil.example/",
        ],
        vec!["Sec-Fetch-Dest: iframe"],
        // No Origin and no Sec-Fetch-* at all: not a browser's, and not a page's either.
        vec![],
    ] {
        let v = s
            .request("GET", "/pkcs11info?withcert=true", &headers, "")
            .json();
        assert_eq!(v["ret_code"], UNTRUSTED_SITE, "{headers:?}: {v}");
        assert!(v.get("slots").is_none());
    }
}

/// #2: an opener or Origin that does not parse was taken for local: with a PIN in the page,
/// a signature over the attacker's text came back with no dialog.
#[test]
fn an_origin_that_does_not_parse_never_signs() {
    let s = start("confirm");
    let body = form(&sign_package("123456", "attacker text"));
    for bad in [
        "http://evil.example.:8000",
        "https://under_score.example",
        "http://[2001:db8::1]:8000",
        "null",
        "https://evil.example/path",
    ] {
        let mut headers = popup_headers(bad);
        headers.push("Content-Type: application/x-www-form-urlencoded".to_owned());
        headers.push(format!("Origin: http://localhost:{}", s.port));
        let v = s.request("POST", "/sign", &refs(&headers), &body).json();
        assert_eq!(v["ret_code"], UNTRUSTED_SITE, "opener {bad}: {v}");
        assert!(v.get("signature").is_none());
        let v = s.post("/sign", bad, "", &body).json();
        assert_eq!(v["ret_code"], UNTRUSTED_SITE, "Origin {bad}: {v}");
    }
    assert_eq!(s.dialog_log(), "", "no dialog was opened for any of them");
}

/// #3: the loopback port had no peer check; another user read certificates, opened dialogs
/// on this user's desktop and locked the card. Connections of other users are closed before
/// the request is read.
#[test]
fn another_local_user_is_refused_before_the_request_is_read() {
    if !cfg!(target_os = "linux") || !is_root() {
        eprintln!("needs Linux and root: another user's connection cannot be made here");
        return;
    }
    let s = start("deny");
    let url = format!("http://127.0.0.1:{}/pkcs11info?withcert=true", s.port);
    let own = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&own.stdout), "200");
    // The same request as uid 65534 (nobody): setpriv needs root, which the test bed has.
    let other = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "curl",
            "-s",
            "-S",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(
        !other.status.success() && String::from_utf8_lossy(&other.stdout) == "000",
        "another user got an answer: {} {stderr}",
        String::from_utf8_lossy(&other.stdout)
    );
    // curl's "empty reply from server" (52) or "connection reset" (56): closed unanswered.
    assert!(
        matches!(other.status.code(), Some(52) | Some(56)),
        "{:?} {stderr}",
        other.status
    );
    assert_eq!(s.dialog_log(), "");
}

/// #4: `/addDomain` flooded the user with dialogs and never remembered a "no".
#[test]
fn add_domain_asks_once_remembers_no_and_its_dialog_dies_with_its_requester() {
    let s = start_custom(
        "deny",
        PinEntry::Auto,
        &[
            ("FAKE_PINENTRY_CONTROL", "{dir}/control"),
            ("FAKE_PINENTRY_PIDS", "{dir}/pids"),
        ],
    );
    let nav = |referer: &str| {
        vec![
            "Sec-Fetch-Site: cross-site".to_owned(),
            "Sec-Fetch-Mode: navigate".to_owned(),
            format!("Referer: {referer}"),
        ]
    };
    let flood = "https://flood.example.net/";
    let answer = |r: &legacy_server::Reply| String::from_utf8_lossy(&r.body).into_owned();
    let first = s.request(
        "GET",
        "/addDomain?domain=flood.example.net",
        &refs(&nav(flood)),
        "",
    );
    assert!(
        answer(&first).contains(&0x7600_0999u32.to_string()),
        "{}",
        answer(&first)
    );
    let dialogs = || s.dialog_log().matches("CONFIRM").count();
    assert_eq!(dialogs(), 1);
    // Asked again (40 times): "no" is remembered, no new dialog.
    for _ in 0..40 {
        let again = s.request(
            "GET",
            "/addDomain?domain=flood.example.net",
            &refs(&nav(flood)),
            "",
        );
        assert!(answer(&again).contains(&0x7600_0999u32.to_string()));
    }
    assert_eq!(dialogs(), 1, "a refusal is remembered");

    // A dialog that hangs; its requester leaves: the dialog is closed, and meanwhile no
    // second question is asked.
    std::fs::write(s.dir.path().join("control"), "action=hang\n").unwrap();
    let mut leaving = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(leaving, "GET /addDomain?domain=x HTTP/1.1\r\nHost: localhost:{}\r\nSec-Fetch-Mode: navigate\r\nReferer: https://leaving.example.net/\r\n\r\n", s.port).unwrap();
    wait_for("the second dialog", || dialogs() == 2);
    let busy = s.request(
        "GET",
        "/addDomain?domain=x",
        &refs(&nav("https://other.example.net/")),
        "",
    );
    assert!(
        answer(&busy).contains(&0x7600_000Du32.to_string()),
        "{}",
        answer(&busy)
    );
    assert_eq!(dialogs(), 2, "one question at a time");
    drop(leaving);
    let pids = std::fs::read_to_string(s.dir.path().join("pids")).unwrap();
    let pid = pids.lines().last().unwrap().trim().to_owned();
    wait_for("the abandoned dialog to close", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    // The turn is free again.
    std::fs::write(s.dir.path().join("control"), "action=deny\n").unwrap();
    let next = s.request(
        "GET",
        "/addDomain?domain=x",
        &refs(&nav("https://other.example.net/")),
        "",
    );
    assert!(
        answer(&next).contains(&0x7600_0999u32.to_string()),
        "{}",
        answer(&next)
    );
}

/// #5: the dialog named whatever `domain=` said. The requester is the Referer's origin.
#[test]
fn add_domain_names_the_requesting_page_not_the_parameter() {
    let s = start("confirm");
    let r = s.request(
        "GET",
        "/addDomain?domain=www.bank.example",
        &[
            "Sec-Fetch-Site: cross-site",
            "Sec-Fetch-Mode: navigate",
            "Referer: https://shop.example.net/cart?id=1",
        ],
        "",
    );
    let page = String::from_utf8_lossy(&r.body).into_owned();
    assert!(
        page.contains("\"https://shop.example.net\""),
        "the answer goes to the requester: {page}"
    );
    assert!(!page.contains("bank"), "{page}");
    assert!(s.dialog_log().contains("shop.example.net") && !s.dialog_log().contains("bank"));
    assert_eq!(
        s.get("/pkcs11info", Some("https://shop.example.net"))
            .json()["ret_code"],
        0
    );
    assert_eq!(
        s.get("/pkcs11info", Some("https://www.bank.example"))
            .json()["ret_code"],
        UNTRUSTED_SITE
    );
    // No Referer: the parameter's https origin may be asked about, and only it is answered.
    let r = s.request(
        "GET",
        "/addDomain?domain=noref.example.net",
        &["Sec-Fetch-Mode: navigate"],
        "",
    );
    assert!(String::from_utf8_lossy(&r.body).contains("\"https://noref.example.net\""));
    // An http:// site only from the Referer, never from the parameter.
    let r = s.request(
        "GET",
        "/addDomain?domain=http://intranet.example",
        &["Sec-Fetch-Mode: navigate"],
        "",
    );
    assert!(String::from_utf8_lossy(&r.body).contains(&0x7600_000Fu32.to_string()));
    let r = s.request(
        "GET",
        "/addDomain?domain=intranet.example",
        &[
            "Sec-Fetch-Mode: navigate",
            "Referer: http://intranet.example/form",
        ],
        "",
    );
    let page = String::from_utf8_lossy(&r.body).into_owned();
    assert!(
        page.contains("\"http://intranet.example\"") && page.contains(r#"\"ret_code\":0"#),
        "{page}"
    );
    let log = s.dialog_log();
    let line = log
        .lines()
        .find(|l| l.contains("intranet.example"))
        .unwrap();
    assert!(
        line.contains("不安全") || line.contains("NOT SECURE"),
        "{line}"
    );
    // Approved, the intranet page may use the popup bridge.
    let v = s
        .request(
            "GET",
            "/pkcs11info",
            &refs(&popup_headers("http://intranet.example")),
            "",
        )
        .json();
    assert_eq!(v["ret_code"], 0, "{v}");
}

/// #6: when the HTTP client goes away its dialog closes and no card operation starts.
#[test]
fn an_abandoned_request_closes_its_dialog_and_never_signs() {
    let control = format!("{{dir}}/{CONTROL_FILE}");
    let s = start_custom(
        "pin",
        PinEntry::Auto,
        &[("FAKE_PINENTRY_CONTROL", control.as_str())],
    );
    let gate = PinGate::in_dir(s.dir.path());
    gate.close();
    let site = "https://abandoned.example.gov.tw";
    let body = form(&sign_package("", "abandoned text"));
    let mut client = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(client, "POST /sign HTTP/1.1\r\nHost: localhost:{}\r\nOrigin: {site}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", s.port, body.len()).unwrap();
    // The dialog is up once its gate opens; then the page goes away, then the "user" types.
    let writer = gate.dialog_up();
    drop(client);
    wait_for("the request to end", || {
        log_text().contains(&format!("went away ({site})"))
    });
    drop(writer);
    let log = log_text();
    assert!(
        !log.lines()
            .any(|l| l.contains("signed") && l.contains(site)),
        "a card operation ran for a page that had left"
    );
}

/// #7: a page-supplied PIN was used on the card's final try; the dialog is required then.
#[test]
fn a_page_pin_is_not_used_on_the_cards_final_try() {
    let s = start("cancel");
    for (wrong, left) in [("000000", 0x8000_0002u64), ("000001", 0x8000_0001)] {
        let v = s.sign(TRUSTED, &sign_package(wrong, "x"));
        assert_eq!(
            (v["ret_code"].as_u64(), v["last_error"].as_u64()),
            (Some(LOGIN), Some(left))
        );
    }
    // One try left: the right PIN from the page is not sent; the dialog asks (and is cancelled).
    let v = s.sign(TRUSTED, &sign_package("123456", "x"));
    assert_eq!(
        v["ret_code"], 0x7600_0999,
        "the page's PIN was used on the final try: {v}"
    );
    assert!(s.dialog_log().contains("GETPIN"));
}

/// #10: the self-test page cannot be framed, and a page cannot flush the log.
#[test]
fn the_self_test_page_forbids_framing_and_refusals_are_logged_sparingly() {
    let s = start("deny");
    for target in ["/selftest/", "/selftest/api/status"] {
        let r = s.get(target, None);
        assert_eq!(
            r.header("content-security-policy").as_deref(),
            Some("frame-ancestors 'none'"),
            "{target}"
        );
        assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    }
    let flooder = "https://flooder.example";
    for _ in 0..60 {
        assert_eq!(
            s.get("/pkcs11info", Some(flooder)).json()["ret_code"],
            UNTRUSTED_SITE
        );
    }
    let records = log_text()
        .lines()
        .filter(|l| l.contains("legacy request failed") && l.contains(flooder))
        .count();
    assert!(
        (1..=5).contains(&records),
        "{records} records for 60 refusals"
    );
}
