//! The original rows: the frame codec and request parser, the demo token and SoftHSM2 through
//! the agent's library, the real daemon (demo token) through the native host and the legacy
//! HTTP API, and CLI start-up.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use card_agent::card_core::{CardCore, CoreOptions};
use card_agent::pin::Pin;
use card_agent::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};
use card_agent_protocol::frame::{encode, FrameDecoder};

use crate::setup::{free_port, Fixtures};
use crate::stats::{report as report_samples, time};

fn report(name: &str, samples: crate::stats::Samples) {
    report_samples(name, &samples);
}

/// Every original row, in the original order.
pub fn run(fixtures: &Fixtures) -> Result<(), String> {
    crate::stats::table("Operations");
    frame_codec();
    demo_token();
    if let Err(e) = softhsm(fixtures) {
        println!("| SoftHSM2 rows skipped: {e} | | | |");
    }
    daemon_round_trips();
    cli_startup();
    Ok(())
}

fn frame_codec() {
    let payload = serde_json::json!({"id": 1, "command": "sign", "origin": "https://www.example.gov.tw",
        "arguments": {"certificate": "a".repeat(64), "data": "QUJD".repeat(2000), "hashAlgorithm": "SHA-256", "format": "cms"}})
    .to_string();
    let framed = encode(payload.as_bytes()).unwrap();
    report(
        "frame encode + decode, 8 KB sign request",
        time(2000, || {
            let mut d = FrameDecoder::new();
            d.push(&framed);
            d.next_frame().unwrap()
        }),
    );
    report(
        "request parse (strict), 8 KB sign request",
        time(2000, || {
            card_agent_protocol::message::parse_request(payload.as_bytes()).unwrap()
        }),
    );
}

fn sign_all(core: &CardCore, pin: &str, label: &str, runs: usize) {
    let (token, cert) = core.find_certificate(None).unwrap();
    let data = SignInput::Data(vec![b'x'; 4096]);
    for (name, format) in [("pkcs1", SignFormat::Pkcs1), ("cms", SignFormat::Cms)] {
        report(
            &format!("{label}: sign 4 KB, {name}, SHA-256 (login + sign)"),
            time(runs, || {
                core.sign(
                    &token,
                    &cert,
                    &Pin::new(pin.to_owned()),
                    HashAlgorithm::Sha256,
                    &data,
                    format,
                    &CmsOptions::default(),
                )
                .unwrap()
            }),
        );
    }
    report(
        &format!("{label}: list tokens + certificates"),
        time(runs, || card_agent::inventory::collect(core, 0).unwrap()),
    );
}

fn demo_token() {
    report(
        "demo token: create (4 RSA-2048 keys, deterministic)",
        time(5, || card_agent::demo::DemoToken::new().unwrap()),
    );
    let core = CardCore::open(&CoreOptions {
        demo: true,
        ..CoreOptions::default()
    })
    .unwrap();
    sign_all(&core, card_agent::demo::DEMO_PIN, "demo token", 100);
}

fn softhsm(fixtures: &Fixtures) -> Result<(), String> {
    // The run's one token: this process loads SoftHSM once, with that token's configuration.
    fixtures.hsm()?;
    let core = CardCore::open(&CoreOptions {
        command_line_modules: vec![card_agent_testbed::softhsm::SOFTHSM_MODULE.into()],
        ..CoreOptions::default()
    })
    .unwrap();
    sign_all(
        &core,
        card_agent_testbed::softhsm::USER_PIN,
        "SoftHSM2",
        100,
    );
    Ok(())
}

/// The real daemon on the demo token, through the native host (as a browser talks to it) and
/// through the legacy HTTP API (as an old page does).
fn daemon_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "trusted_sites = [\"https://*.example.gov.tw\"]\nhttp_listen = \"127.0.0.1:{port}\"\n"
        ),
    )
    .unwrap();
    let agent = card_agent_testbed::agent::agent_bin();
    let env = |c: &mut Command| {
        c.env("XDG_RUNTIME_DIR", dir.path())
            .env("XDG_STATE_HOME", dir.path())
            .env("HOME", dir.path());
    };
    let mut serve = Command::new(&agent);
    serve
        .args(["--config", config.to_str().unwrap(), "serve", "--demo"])
        .stderr(Stdio::null());
    env(&mut serve);
    let mut daemon = serve.spawn().unwrap();
    let socket = dir.path().join("card-agent/agent.sock");
    let start = Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    while TcpStream::connect(("127.0.0.1", port)).is_err()
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut host = Command::new(&agent);
    host.args([
        "native-host",
        "chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig/",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped());
    env(&mut host);
    let mut host = host.spawn().unwrap();
    let (mut stdin, mut stdout) = (host.stdin.take().unwrap(), host.stdout.take().unwrap());
    let mut ask = |request: serde_json::Value| {
        stdin
            .write_all(&encode(request.to_string().as_bytes()).unwrap())
            .unwrap();
        let mut len = [0u8; 4];
        stdout.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
        stdout.read_exact(&mut body).unwrap();
        // Timing an error would measure nothing worth knowing.
        assert!(
            body.windows(9).any(|w| w == b"\"result\":"),
            "{}",
            String::from_utf8_lossy(&body)
        );
        body
    };
    let origin = "https://www.example.gov.tw";
    report(
        "native host → daemon: version",
        time(200, || {
            ask(serde_json::json!({"id": 1, "command": "version", "origin": origin}))
        }),
    );
    report(
        "native host → daemon: status (demo)",
        time(100, || {
            ask(serde_json::json!({"id": 2, "command": "status", "origin": origin}))
        }),
    );
    let thumb = {
        let certs: serde_json::Value = serde_json::from_slice(&ask(
            serde_json::json!({"id": 3, "command": "get-certificates", "origin": origin}),
        ))
        .unwrap();
        certs["result"]["certificates"][0]["sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    drop(stdin);
    let _ = host.wait();
    // A page may not send the PIN (the agent's dialog asks, which would time a person): the
    // PIN travels in a local program's request, straight to the daemon's socket.
    let data_b64 = card_agent_protocol::encoding::encode_base64(&[b'x'; 4096]);
    let mut ipc = crate::setup::IpcClient::connect(&socket).unwrap();
    report(
        "IPC → daemon: sign 4 KB, cms (demo, local program, PIN in request)",
        time(100, || {
            let reply = ipc
                .call(&serde_json::json!({"id": 4, "command": "sign", "arguments": {
            "certificate": thumb, "data": data_b64, "hashAlgorithm": "SHA-256", "format": "cms", "pin": "123456"}}))
                .unwrap();
            assert!(reply.get("result").is_some(), "{reply}");
        }),
    );

    let package = serde_json::json!({"func": "MakeSignature", "signatureType": "PKCS7", "tbs": "x".repeat(4096), "tbsEncoding": "NONE", "hashAlgorithm": "SHA256", "pin": "123456"}).to_string();
    let body = format!(
        "tbsPackage={}",
        form_urlencoded::byte_serialize(package.as_bytes()).collect::<String>()
    );
    let http = |request: String| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert!(
            out.windows(12).any(|w| w == b"\"ret_code\":0"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        out
    };
    report(
        "legacy HTTP: GET /pkcs11info?withcert=true (demo)",
        time(100, || {
            http(format!("GET /pkcs11info?withcert=true HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"))
        }),
    );
    report(
        "legacy HTTP: POST /sign 4 KB PKCS7 (demo)",
        time(100, || {
            http(format!("POST /sign HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: {origin}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()))
        }),
    );
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
}

fn cli_startup() {
    let agent = Arc::new(card_agent_testbed::agent::agent_bin());
    report(
        "CLI: card-agent --version (process start)",
        time(20, || {
            Command::new(agent.as_ref())
                .arg("--version")
                .output()
                .unwrap()
        }),
    );
    report(
        "CLI: card-agent list --demo --json",
        time(10, || {
            Command::new(agent.as_ref())
                .args(["list", "--demo", "--json"])
                .output()
                .unwrap()
        }),
    );
}
