//! The legacy API server the legacy test files run in-process on a random loopback port over
//! the demo token, and raw HTTP/1.1 requests to it (as hostile as a test needs).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use card_agent::card_core::{CardCore, CoreOptions};
use card_agent::config::PinEntry;
use card_agent::pinentry::PinDialog;
use card_agent::policy::Policy;
use card_agent::service::{Service, Settings};
use card_agent_testbed::agent::sibling_bin;
use card_agent_testbed::softhsm::der_to_pem;
use serde_json::Value;

pub const TRUSTED: &str = "https://www.example.gov.tw";
pub const UNTRUSTED_SITE: u64 = 0x7600_0031;
pub const LOGIN: u64 = 0x7610_0006;

/// Everything logged by the server in this process, to prove no PIN is ever written.
pub fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        // No timestamps: the tests search this log for PINs, and a clock's digits may spell one
        // (16:14:55.975310 held the wrong PIN 975310 once).
        let _ = tracing_subscriber::fmt()
            .without_time()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);
impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running legacy API over a fresh demo token. The runtime lives as long as the server.
pub struct Server {
    pub port: u16,
    _runtime: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
}

pub fn start(pinentry_action: &str) -> Server {
    start_with(pinentry_action, PinEntry::Auto)
}

/// A server whose dialog answers `pinentry_action` and whose PIN entry is `pin_entry`.
pub fn start_with(pinentry_action: &str, pin_entry: PinEntry) -> Server {
    start_custom(pinentry_action, pin_entry, &[])
}

/// As [`start_with`], with more of fake-pinentry's environment (`FAKE_PINENTRY_CONTROL`, ...);
/// a value `{dir}` is replaced with the server's directory.
pub fn start_custom(pinentry_action: &str, pin_entry: PinEntry, env: &[(&str, &str)]) -> Server {
    log_buffer();
    let dir = tempfile::tempdir().unwrap();
    let core = Arc::new(
        CardCore::open(&CoreOptions {
            demo: true,
            ..CoreOptions::default()
        })
        .unwrap(),
    );
    let policy = Policy::load(
        &["https://*.example.gov.tw"],
        dir.path().join("trusted-sites.json"),
    )
    .unwrap();
    let dialog = PinDialog::new(sibling_bin("fake-pinentry"))
        .with_env("FAKE_PINENTRY_ACTION", pinentry_action)
        .with_env("FAKE_PINENTRY_PIN", "123456")
        .with_env("FAKE_PINENTRY_LOG", dir.path().join("pinentry.log"));
    let dialog = env.iter().fold(dialog, |d, (k, v)| {
        d.with_env(k, v.replace("{dir}", &dir.path().display().to_string()))
    });
    let service = Arc::new(Service::new(
        core,
        policy,
        Ok(dialog),
        Settings {
            pin_entry,
            ..Settings::default()
        },
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listeners = runtime
        .block_on(card_agent::legacy_api::bind("127.0.0.1:0"))
        .unwrap();
    let port = listeners.port();
    runtime.spawn(listeners.serve(service));
    Server {
        port,
        _runtime: runtime,
        dir,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

impl Server {
    pub fn raw(&self, request: &[u8]) -> Reply {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let split = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a full HTTP response");
        let head = String::from_utf8_lossy(&out[..split]).into_owned();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        Reply {
            status,
            headers: head,
            body: out[split + 4..].to_vec(),
        }
    }

    pub fn get(&self, target: &str, origin: Option<&str>) -> Reply {
        let origin = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        self.raw(
            format!(
                "GET {target} HTTP/1.1\r\nHost: localhost:{}\r\n{origin}Connection: close\r\n\r\n",
                self.port
            )
            .as_bytes(),
        )
    }

    pub fn post(&self, target: &str, origin: &str, extra: &str, body: &str) -> Reply {
        self.raw(
            format!(
                "POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nOrigin: {origin}\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                self.port,
                body.len()
            )
            .as_bytes(),
        )
    }

    /// A request with the given header lines (`Name: value`, no CRLF) and body.
    pub fn request(&self, method: &str, target: &str, headers: &[&str], body: &str) -> Reply {
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n",
            self.port
        );
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        if method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        head.push_str(body);
        self.raw(head.as_bytes())
    }

    /// The lines the dialog program was told so far (fake-pinentry's log; never a PIN).
    pub fn dialog_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pinentry.log")).unwrap_or_default()
    }

    /// Posts a tbsPackage as pages do: JSON, `+` pre-escaped, then form-encoded.
    pub fn sign(&self, origin: &str, package: &Value) -> Value {
        self.post("/sign", origin, "", &form(package)).json()
    }

    pub fn chain_pem(&self) -> std::path::PathBuf {
        let info = self.get("/pkcs11info?withcert=true", Some(TRUSTED)).json();
        let certs = info["slots"][0]["token"]["certs"]
            .as_array()
            .unwrap()
            .clone();
        let pem: String = certs
            .iter()
            .filter(|c| c["usage"] == "keyCertSign|cRLSign")
            .map(|c| der_to_pem(&b64(c["certb64"].as_str().unwrap())))
            .collect();
        let p = self.dir.path().join("chain.pem");
        std::fs::write(&p, pem).unwrap();
        p
    }
}

pub fn form(package: &Value) -> String {
    let json = package.to_string().replace('+', "%2B");
    form_urlencoded::Serializer::new(String::new())
        .append_pair("tbsPackage", &json)
        .finish()
}

/// The demo card's encryption certificate (DER), as `pkcs11info` gives it to a trusted page.
pub fn encryption_cert_der(s: &Server) -> Vec<u8> {
    let info = s.get("/pkcs11info?withcert=true", Some(TRUSTED)).json();
    let keyx = info["slots"][0]["token"]["certs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["usage"] == "keyEncipherment|dataEncipherment")
        .unwrap()
        .clone();
    b64(keyx["certb64"].as_str().unwrap())
}

pub fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
