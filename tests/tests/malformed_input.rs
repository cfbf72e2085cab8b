//! Every malformed input we document, on every channel, sent through the real code (the same
//! in-memory drivers as the fuzz harness: the native host's relay, the daemon's connection
//! handler and the legacy API's HTTP connection over the demo token, the certificate and ATR
//! readers, the test virtual card) and its exact answer, compared with the committed table
//! `docs/MALFORMED_INPUT.md`. The table cannot drift from the code: regenerate it with
//! `CARD_AGENT_UPDATE_DOCS=1 cargo test -p card-agent-testbed --test malformed_input`.
//!
//! Messages are the English ones (`Accept-Language: en`, `CARD_AGENT_LANG=en`); every code's
//! zh-TW text comes from the same catalogue key, and the fuzz harness checks both exist.

use std::fmt::Write as _;
use std::path::Path;

use card_agent::certificate::CertificateInfo;
use card_agent_protocol::frame::{encode, FrameDecoder, MAX_FRAME};
use card_agent_protocol::Language;
use card_agent_testbed::fuzz_harness::{
    daemon_exchange, legacy_exchange, native_host_exchange, LEGACY_PORT,
};
use serde_json::Value;
use sha2::Digest as _;

const SITE: &str = "https://www.example.gov.tw";

/// One row: what was sent, and how to describe it.
struct Row {
    channel: &'static str,
    input: String,
    answer: String,
}

fn cell(s: &str) -> String {
    let s = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    if s.chars().count() > 260 {
        format!("{}…", s.chars().take(260).collect::<String>())
    } else {
        s
    }
}

/// Keys whose values depend on the clock (days left; the demo certificates are re-dated every
/// five years, so their bytes, dates and fingerprints too) or on the machine and its processes.
/// The table shows them as `‹key›`: a committed document must read the same on any day and
/// any machine.
const VOLATILE_KEYS: &[&str] = &[
    "daysToExpiry",
    "notBefore",
    "notAfter",
    "derBase64",
    "sha256",
    "sha1",
    "checkedAt",
    "utcTime",
    "path",
    "pid",
];

/// `answer` with every [`VOLATILE_KEYS`] value replaced by a placeholder naming the key.
fn steady(mut answer: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if VOLATILE_KEYS.contains(&key.as_str()) && !value.is_null() {
                        *value = Value::String(format!("‹{key}›"));
                    } else {
                        walk(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut answer);
    answer
}

/// The protocol answers in a stream of frames, as `CODE: message` (or `result`), one per line.
fn protocol_answers(out: &[u8]) -> String {
    let mut decoder = FrameDecoder::new();
    decoder.push(out);
    let mut answers = Vec::new();
    while let Ok(Some(frame)) = decoder.next_frame() {
        let v: Value = serde_json::from_slice(&frame).unwrap();
        answers.push(match v.get("error") {
            Some(e) => format!(
                "`{}`{}: {}",
                e["code"].as_str().unwrap_or("?"),
                e.get("field")
                    .and_then(Value::as_str)
                    .map(|f| format!(" (field `{f}`)"))
                    .unwrap_or_default(),
                e["message"].as_str().unwrap_or("")
            ),
            None => format!("result: {}", steady(v["result"].clone())),
        });
    }
    if answers.is_empty() {
        "(no answer; the connection ends)".to_owned()
    } else {
        answers.join("<br>")
    }
}

fn legacy_answer(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return if out.is_empty() {
            "(connection closed without an answer)".to_owned()
        } else {
            format!("(not HTTP: {text})")
        };
    };
    let status = head
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("HTTP/1.1 ");
    let cors = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("access-control-allow-origin")
        })
        .map(|l| format!(", CORS `{}`", l.split_once(':').unwrap().1.trim()))
        .unwrap_or_default();
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("ret_code").is_some() => format!(
            "{status}{cors}; `ret_code` {:#X}, `last_error` {:#X}: {}",
            v["ret_code"].as_u64().unwrap_or(0),
            v["last_error"].as_u64().unwrap_or(0),
            v["message"].as_str().unwrap_or("(no message: success)")
        ),
        Ok(v) if v.get("error").is_some() => format!(
            "{status}; `{}`: {}",
            v["error"]["code"].as_str().unwrap_or("?"),
            v["error"]["message"].as_str().unwrap_or("")
        ),
        _ => {
            let first = body.lines().next().unwrap_or("").trim();
            if first.is_empty() {
                status.to_owned()
            } else {
                format!("{status}: {first}")
            }
        }
    }
}

fn http(method: &str, target: &str, headers: &str, body: &str) -> Vec<u8> {
    let length = if body.is_empty() && method == "GET" {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost:{LEGACY_PORT}\r\nAccept-Language: en\r\n{headers}{length}Connection: close\r\n\r\n{body}"
    )
    .into_bytes()
}

fn sign_form(package: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("tbsPackage", package)
        .finish()
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let mut frames = |channel: &'static str, run: fn(&[u8]) -> Vec<u8>| {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("zero-length frame", 0u32.to_ne_bytes().to_vec()),
            (
                "length prefix 0xFFFFFFFF (4 GiB)",
                u32::MAX.to_ne_bytes().to_vec(),
            ),
            (
                "length prefix 1 MiB + 1",
                (MAX_FRAME as u32 + 1).to_ne_bytes().to_vec(),
            ),
            (
                "input ends inside a frame (prefix 10, 3 bytes)",
                [&10u32.to_ne_bytes()[..], b"{\"i"].concat(),
            ),
            ("input ends inside the prefix (2 bytes)", vec![1, 0]),
        ];
        for (what, wire) in cases {
            rows.push(Row {
                channel,
                input: what.to_owned(),
                answer: protocol_answers(&run(&wire)),
            });
        }
    };
    frames(
        "native messaging (browser → native host)",
        native_host_exchange,
    );
    frames("IPC socket (client → daemon)", daemon_exchange);

    let o = format!(r#""origin":"{SITE}""#);
    let json_cases: Vec<(String, String)> = vec![
        (
            "not UTF-8".into(),
            "{\"id\":1,\"command\":\"v\u{FFFD}\"}".into(),
        ),
        ("not JSON".into(), "{id:1}".into()),
        ("a JSON array".into(), "[1,2]".into()),
        (
            "a repeated key".into(),
            r#"{"id":1,"id":2,"command":"version"}"#.into(),
        ),
        ("no `id`".into(), r#"{"command":"version"}"#.into()),
        (
            "`id` 1.5".into(),
            r#"{"id":1.5,"command":"version"}"#.into(),
        ),
        (
            "`id` of 129 characters".into(),
            format!(r#"{{"id":"{}","command":"version"}}"#, "x".repeat(129)),
        ),
        (
            "unknown top-level field".into(),
            r#"{"id":1,"command":"version","x":1}"#.into(),
        ),
        (
            "unknown command".into(),
            r#"{"id":1,"command":"format-disk"}"#.into(),
        ),
        (
            "`command` a number".into(),
            r#"{"id":1,"command":3}"#.into(),
        ),
        (
            "`origin` with a space".into(),
            r#"{"id":1,"command":"status","origin":"https://a b"}"#.into(),
        ),
        (
            "no `origin` (a page request must have one)".into(),
            r#"{"id":1,"command":"status"}"#.into(),
        ),
        (
            "`arguments` an array".into(),
            format!(r#"{{"id":1,"command":"status",{o},"arguments":[]}}"#),
        ),
        (
            "unknown argument".into(),
            format!(r#"{{"id":1,"command":"verify-pin",{o},"arguments":{{"pim":"123456"}}}}"#),
        ),
        (
            "PIN as a number".into(),
            format!(r#"{{"id":1,"command":"verify-pin",{o},"arguments":{{"pin":987654}}}}"#),
        ),
        (
            "PIN of 65 characters".into(),
            format!(
                r#"{{"id":1,"command":"verify-pin",{o},"arguments":{{"pin":"{}"}}}}"#,
                "9".repeat(65)
            ),
        ),
        (
            "a web page's PIN (pages never send one)".into(),
            format!(r#"{{"id":1,"command":"verify-pin",{o},"arguments":{{"pin":"123456"}}}}"#),
        ),
        (
            "no PIN and no PIN dialog program".into(),
            format!(r#"{{"id":1,"command":"verify-pin",{o},"arguments":{{}}}}"#),
        ),
        (
            "`sign` with a malformed thumbprint".into(),
            format!(
                r#"{{"id":1,"command":"sign",{o},"arguments":{{"certificate":"abc","data":"aGk="}}}}"#
            ),
        ),
        (
            "`sign` of an unknown certificate".into(),
            format!(
                r#"{{"id":1,"command":"sign",{o},"arguments":{{"certificate":"{}","data":"aGk=","hashAlgorithm":"SHA-256","format":"cms","pin":"123456"}}}}"#,
                "0".repeat(64)
            ),
        ),
        (
            "`sign` with both `hash` and `data`".into(),
            format!(
                r#"{{"id":1,"command":"sign",{o},"arguments":{{"certificate":"{}","data":"aGk=","hash":"aGk=","hashAlgorithm":"SHA-256","format":"cms"}}}}"#,
                "0".repeat(64)
            ),
        ),
        (
            "`sign` with `data` not base64".into(),
            format!(
                r#"{{"id":1,"command":"sign",{o},"arguments":{{"certificate":"{}","data":"***","hashAlgorithm":"SHA-256","format":"cms"}}}}"#,
                "0".repeat(64)
            ),
        ),
        (
            "`sign` with hashAlgorithm MD5".into(),
            format!(
                r#"{{"id":1,"command":"sign",{o},"arguments":{{"certificate":"{}","data":"aGk=","hashAlgorithm":"MD5","format":"cms"}}}}"#,
                "0".repeat(64)
            ),
        ),
        (
            "`authenticate` with a short nonce".into(),
            format!(
                r#"{{"id":1,"command":"authenticate",{o},"arguments":{{"challengeNonce":"aGk="}}}}"#
            ),
        ),
        (
            "untrusted site (no dialog to ask)".into(),
            r#"{"id":1,"command":"status","origin":"https://evil.example"}"#.into(),
        ),
        (
            "insecure site (http)".into(),
            r#"{"id":1,"command":"status","origin":"http://www.example.gov.tw"}"#.into(),
        ),
        (
            "`trusted-sites` from a page".into(),
            format!(r#"{{"id":1,"command":"trusted-sites",{o}}}"#),
        ),
        (
            "`legacy-request` with method PUT".into(),
            format!(
                r#"{{"id":1,"command":"legacy-request",{o},"arguments":{{"method":"PUT","path":"/"}}}}"#
            ),
        ),
        (
            "`legacy-request` without origin".into(),
            r#"{"id":1,"command":"legacy-request","arguments":{"method":"GET","path":"/"}}"#.into(),
        ),
    ];
    for (what, payload) in &json_cases {
        let mut payload = payload.clone().into_bytes();
        if what == "not UTF-8" {
            payload = br#"{"id":1,"command":"v"#.to_vec();
            payload.extend([0xFF, 0xFE]);
            payload.extend(br#""}"#);
        }
        let wire = encode(&payload).unwrap();
        // The native host checks the frame, the JSON and the origin, then relays to the
        // daemon; here there is none behind it, so a request it passes on gets `INTERNAL`
        // ("agent not running") and the daemon's row shows the real answer.
        let host = protocol_answers(&native_host_exchange(&wire));
        if !host.starts_with("`INTERNAL`") {
            rows.push(Row {
                channel: "protocol JSON via native host",
                input: format!("{what}: `{}`", String::from_utf8_lossy(&payload)),
                answer: host,
            });
        }
        rows.push(Row {
            channel: "protocol JSON via daemon",
            input: format!("{what}: `{}`", String::from_utf8_lossy(&payload)),
            answer: protocol_answers(&daemon_exchange(&wire)),
        });
    }

    let site = format!("Origin: {SITE}\r\n");
    let raw = |s: &str| s.as_bytes().to_vec();
    let legacy: Vec<(String, Vec<u8>)> = vec![
        ("no Host header".into(), raw("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")),
        ("Host evil.example:61161 (DNS rebinding)".into(), raw("GET / HTTP/1.1\r\nHost: evil.example:61161\r\nConnection: close\r\n\r\n")),
        ("Host localhost without the port".into(), raw("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")),
        ("Host with another port".into(), raw("GET / HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n\r\n")),
        ("not HTTP".into(), raw("HELLO\r\n\r\n")),
        ("method PUT".into(), http("PUT", "/sign", &site, "")),
        ("unknown path".into(), http("GET", "/etc/passwd", &site, "")),
        ("path traversal".into(), http("GET", "/selftest/../../etc/passwd", "", "")),
        ("header of 100 KB".into(), http("GET", "/", &format!("X-Big: {}\r\n", "a".repeat(100_000)), "")),
        ("Origin: null".into(), http("GET", "/pkcs11info", "Origin: null\r\n", "")),
        ("Origin of an untrusted site".into(), http("GET", "/pkcs11info", "Origin: https://evil.example\r\n", "")),
        ("Origin with http (insecure)".into(), http("GET", "/pkcs11info", "Origin: http://www.example.gov.tw\r\n", "")),
        ("Origin with a path".into(), http("GET", "/pkcs11info", "Origin: https://www.example.gov.tw/x\r\n", "")),
        ("opener header from a foreign page".into(), http("GET", "/pkcs11info", "Origin: https://evil.example\r\nX-Card-Agent-Opener: https://www.example.gov.tw\r\n", "")),
        ("preflight from an untrusted site".into(), http("OPTIONS", "/sign", "Origin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n", "")),
        ("self-test API from a web page".into(), http("GET", "/selftest/api/status", &site, "")),
        ("body of 2 MiB + 1 byte".into(), http("POST", "/sign", &site, &"a".repeat(2 * 1024 * 1024 + 1))),
        ("body shorter than Content-Length (client stalls)".into(), raw(&format!("POST /sign HTTP/1.1\r\nHost: localhost:{LEGACY_PORT}\r\n{site}Content-Length: 100\r\n\r\ntbs"))),
        ("POST /sign without tbsPackage".into(), http("POST", "/sign", &site, "x=1")),
        ("tbsPackage not JSON".into(), http("POST", "/sign", &site, &sign_form("{not json"))),
        ("tbsPackage a JSON array".into(), http("POST", "/sign", &site, &sign_form("[1]"))),
        ("tbsPackage with a bad %-escape".into(), http("POST", "/sign", &site, "tbsPackage=%7B%ZZ")),
        ("tbsPackage: unknown func".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"FormatCard"}"#))),
        ("tbsPackage: no tbs".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","pin":"123456"}"#))),
        ("tbsPackage: tbsEncoding base64, tbs not base64".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","tbs":"***","tbsEncoding":"base64","pin":"123456"}"#))),
        ("tbsPackage: tbsEncoding hex".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","tbs":"00","tbsEncoding":"hex","pin":"123456"}"#))),
        ("tbsPackage: hashAlgorithm MD5".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","tbs":"a","hashAlgorithm":"MD5","pin":"123456"}"#))),
        ("tbsPackage: signatureType XML".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","tbs":"a","signatureType":"XML","pin":"123456"}"#))),
        ("tbsPackage: PIN with letters".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","tbs":"a","pin":"12ab56"}"#))),
        ("tbsPackage: PIN of 5 digits".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","tbs":"a","pin":"12345"}"#))),
        ("tbsPackage: PIN `%+1%+2%+3` (not a %XX escape)".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","tbs":"a","pin":"%+1%+2%+3%+4%+5%+6"}"#))),
        ("tbsPackage: wrong PIN (demo card: 3 tries)".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","tbs":"a","pin":"654321"}"#))),
        ("tbsPackage: no PIN, no dialog program".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","tbs":"a"}"#))),
        ("tbsPackage: PIN `__NotExistedTag__`".into(), http("POST", "/sign", &site, &sign_form(r#"{"func":"MakeSignature","tbs":"a","pin":"__NotExistedTag__"}"#))),
        ("DecryptData without ciphertext".into(), http("POST", "/decrypt", &site, &sign_form(r#"{"func":"DecryptData","pin":"123456"}"#))),
        ("DecryptData, ciphertext not base64".into(), http("POST", "/decrypt", &site, &sign_form(r#"{"func":"DecryptData","cipher":"***","pin":"123456"}"#))),
        ("DecryptData PKCS1, ciphertext not for this key".into(), http("POST", "/decrypt", &site, &sign_form(r#"{"func":"DecryptData","cipherType":"PKCS1","cipher":"AAAA","pin":"123456"}"#))),
        ("DecryptData PKCS7, not an EnvelopedData".into(), http("POST", "/decrypt", &site, &sign_form(r#"{"func":"DecryptData","cipher":"AAAA","pin":"123456"}"#))),
        ("DecryptData, cipherType XML".into(), http("POST", "/decrypt", &site, &sign_form(r#"{"func":"DecryptData","cipherType":"XML","cipher":"AAAA","pin":"123456"}"#))),
        ("raw JSON body, not JSON".into(), http("POST", "/sign", &format!("{site}Content-Type: text/plain\r\n"), "{not json")),
        ("popup request (no Origin) whose opener does not parse".into(), http("GET", "/pkcs11info?withcert=true", "Sec-Fetch-Site: same-origin\r\nX-Card-Agent-Opener: http://evil.example.:8000\r\n", "")),
        ("browser navigation to the API (no Origin)".into(), http("GET", "/pkcs11info?withcert=true", "Sec-Fetch-Mode: navigate\r\nReferer: https://evil.example/\r\n", "")),
        ("umakeSig PIN neither digits nor base64 of digits".into(), http("POST", "/umakeSig", &site, &sign_form(r#"{"func":"umakeSig","tbs":"a","pin":"YWJjZGVm"}"#))),
        ("/sign from an untrusted site".into(), http("POST", "/sign", "Origin: https://evil.example\r\n", &sign_form(r#"{"func":"MakeSignature","tbs":"a","pin":"123456"}"#))),
        ("/addDomain with an http site".into(), http("GET", "/addDomain?domain=http://evil.example", "", "")),
        ("/addDomain with no domain".into(), http("GET", "/addDomain", "", "")),
        ("card management (change PIN)".into(), http("POST", "/CardManagement/sendCardCommand", &site, &sign_form(r#"{"func":"ChangeUserPin"}"#))),
    ];
    for (what, request) in legacy {
        rows.push(Row {
            channel: "legacy HTTP (127.0.0.1:61161)",
            input: what,
            answer: legacy_answer(&legacy_exchange(&request)),
        });
    }

    let demo = card_agent::demo::DemoToken::new().unwrap();
    let good = demo.certificates().unwrap()[0].info.der.clone();
    let certs: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("random bytes", b"not a certificate".to_vec()),
        ("cut in half", good[..good.len() / 2].to_vec()),
        ("a bare SEQUENCE", vec![0x30, 0x00]),
        (
            "length of 2^32 announced",
            vec![0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
        ),
    ];
    for (what, der) in certs {
        let answer = match CertificateInfo::parse(&der) {
            Ok(_) => "accepted".to_owned(),
            Err(e) => format!("`{}`: {}", e.code(), e.user_message(Language::En)),
        };
        rows.push(Row {
            channel: "certificate from a card",
            input: what.to_owned(),
            answer,
        });
    }
    let mut trailing = good.clone();
    trailing.extend(b"trailing");
    rows.push(Row {
        channel: "certificate from a card",
        input: "valid certificate + trailing bytes".into(),
        answer: match CertificateInfo::parse(&trailing) {
            // The demo certificate's own bytes change every five years: say what holds, not
            // which digest it was today.
            Ok(c) if c.sha256 == hex::encode(sha2::Sha256::digest(&trailing)) => {
                "accepted; fingerprints are of all the bytes given".to_owned()
            }
            Ok(_) => "accepted; fingerprints are of the certificate alone".to_owned(),
            Err(e) => format!("`{}`: {}", e.code(), e.user_message(Language::En)),
        },
    });

    for (what, atr) in [
        ("empty ATR (mute card)", vec![]),
        ("1 byte", vec![0x3B]),
        (
            "T0 announces 15 historical bytes, none present",
            vec![0x3B, 0x0F],
        ),
        (
            "TD chain running past the end",
            vec![0x3B, 0x80, 0x80, 0x80],
        ),
        (
            "MOICA ATR cut after 10 bytes",
            card_agent::reader::MOICA_GEN1_ATR[..10].to_vec(),
        ),
    ] {
        rows.push(Row {
            channel: "ATR from PC/SC",
            input: format!("{what}: `{}`", hex::encode_upper(&atr)),
            answer: format!(
                "family {:?}, historical bytes {}",
                card_agent::reader::family_from_atr(&atr),
                card_agent::reader::historical_bytes(&atr)
                    .map(|h| format!("`{}`", hex::encode_upper(h)))
                    .unwrap_or_else(|| "none".into())
            ),
        });
    }
    rows
}

#[test]
fn malformed_input_table_matches_the_code() {
    let mut text = String::from(
        "# Malformed input: what each channel answers\n\n\
         Generated by `tests/tests/malformed_input.rs`, which sends each input through the real\n\
         code and fails when this file differs from what the code answers. Regenerate with\n\
         `CARD_AGENT_UPDATE_DOCS=1 cargo test -p card-agent-testbed --test malformed_input`.\n\n\
         How each channel is driven (in memory, no sockets): the native host's relay with no\n\
         daemon behind it; the daemon's connection handler over the DEMO token, with\n\
         `trusted_sites = [\"https://*.example.gov.tw\"]`, PINs taken from the request and no PIN\n\
         dialog program; the legacy API's HTTP connection (hyper, Host/Origin guard, handlers)\n\
         over the same service, the client keeping its side open until the server closes. The\n\
         protocol answers are `CODE: message`; the legacy API answers HiPKI's `ret_code` and\n\
         `last_error`. Messages are English; each code's zh-TW text is the same catalogue key.\n\
         Values that depend on the day or the machine (days left, the demo certificates' dates,\n\
         bytes and fingerprints, paths) are shown as `‹name›`, so the table holds on any day.\n\
         The fuzzing behind these rows is in [FUZZING.md](FUZZING.md).\n\n\
         How the legacy API reads a `tbsPackage` (the rule, in the terms of the HiPKI\n\
         reference): each layer of encoding the page applied is undone exactly once. The body is\n\
         the package itself when it starts with `{` (a raw JSON body, `text/plain`); else the\n\
         `tbsPackage` field: taken as it is when it starts with `{` (the JSON posted unencoded, as\n\
         most pages do, `+` pre-escaped as `%2B`), form-decoded once when it does not (the popup\n\
         bridge, `URLSearchParams`, `encodeURIComponent(json)`). Then each value (`tbs`, `pin`,\n\
         `cipher`, ...) has its `%XX` escapes decoded once, as `encodeURIComponent` made them; a\n\
         `%` not followed by two hex digits stays `%`, `+` stays `+`, and a value whose decoded\n\
         bytes are not UTF-8 is taken as it came. So `literal%20%2541` is signed as `literal %41`\n\
         whichever way the package was posted (tests: `agent/src/legacy_api/tbs.rs`,\n\
         `tests/tests/legacy_contract.rs`).\n\n\
         | Channel | Input | Answer |\n|---|---|---|\n",
    );
    for row in rows() {
        writeln!(
            text,
            "| {} | {} | {} |",
            row.channel,
            cell(&row.input),
            cell(&row.answer)
        )
        .unwrap();
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/MALFORMED_INPUT.md");
    if std::env::var_os("CARD_AGENT_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "docs/MALFORMED_INPUT.md is out of date; regenerate it with CARD_AGENT_UPDATE_DOCS=1 \
         cargo test -p card-agent-testbed --test malformed_input"
    );
}
