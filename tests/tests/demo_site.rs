//! The demo e-government site's rules, without a browser: nonces and sessions, the POST origin
//! check, and login tokens made with the demo token's key exactly as the agent makes them. The
//! browser end-to-end tests (tests/browser) drive the same site through the extension.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use card_agent::card_core::CardCore;
use card_agent::demo::{DemoToken, DEMO_PIN};
use card_agent::pin::Pin;
use card_agent::signer::{CmsOptions, HashAlgorithm, SignFormat, SignInput};
use card_agent_protocol::auth::{auth_signed_message, AuthAlgorithm, AuthToken};
use card_agent_testbed::agent::sibling_bin;
use card_agent_testbed::softhsm::der_to_pem;
use serde_json::Value;

/// The demo site on two origins, trusting the demo token's CA.
struct Site {
    child: Child,
    origins: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Site {
    fn start(demo: &DemoToken) -> Site {
        let dir = tempfile::tempdir().expect("temporary directory");
        let trust = dir.path().join("demo-ca.pem");
        let pem = format!(
            "{}{}",
            der_to_pem(demo.root_der()),
            der_to_pem(demo.issuer_der())
        );
        std::fs::write(&trust, pem).expect("write trust file");
        let mut child = Command::new(sibling_bin("demo-site"))
            .arg("--trust")
            .arg(&trust)
            .args(["--port", "0", "--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start demo-site");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("demo-site says it is ready");
        let ready: Value = serde_json::from_str(&line).expect("a line of JSON");
        let origins = ready["sites"]
            .as_array()
            .expect("sites")
            .iter()
            .map(|o| o.as_str().expect("origin").to_owned())
            .collect();
        Site {
            child,
            origins,
            _dir: dir,
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn http(origin: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let host = origin.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("connect to the site");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A browser's session on one site: its cookie.
struct Session<'a> {
    origin: &'a str,
    cookie: String,
}

impl<'a> Session<'a> {
    /// Asks for a challenge, which also opens the session.
    fn open(origin: &'a str) -> (Session<'a>, String) {
        let answer = http(origin, "GET", "/login/challenge", &[], "");
        assert_eq!(answer.status, 200, "{}", answer.body);
        let set_cookie = answer.header("set-cookie").expect("a session cookie");
        let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
        let nonce = answer.json()["challengeNonce"]
            .as_str()
            .expect("nonce")
            .to_owned();
        (Session { origin, cookie }, nonce)
    }

    fn challenge(&self) -> String {
        let answer = http(
            self.origin,
            "GET",
            "/login/challenge",
            &[("Cookie", &self.cookie)],
            "",
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()["challengeNonce"]
            .as_str()
            .expect("nonce")
            .to_owned()
    }

    fn post_login(&self, body: &str) -> Answer {
        http(
            self.origin,
            "POST",
            "/login",
            &[
                ("Cookie", &self.cookie),
                ("Origin", self.origin),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    }
}

/// What the agent returns to a page on `origin` for `nonce`.
fn token(core: &CardCore, origin: &str, nonce: &str) -> String {
    let (token, certificate) = core.find_certificate(None).expect("the demo certificate");
    let signature = core
        .sign(
            &token,
            &certificate,
            &Pin::new(DEMO_PIN.to_owned()),
            HashAlgorithm::Sha256,
            &SignInput::Data(auth_signed_message(origin, nonce)),
            SignFormat::Pkcs1,
            &CmsOptions::default(),
        )
        .expect("sign");
    serde_json::to_string(&AuthToken::new(
        &certificate.info.der,
        AuthAlgorithm::Rs256,
        &signature,
        "test",
    ))
    .expect("token JSON")
}

#[test]
fn nonces_sessions_and_login_tokens() {
    let demo = DemoToken::new().expect("demo token");
    let site = Site::start(&demo);
    let core = CardCore::with_demo(demo);
    let (a, b) = (&site.origins[0], &site.origins[1]);
    assert_ne!(a, b);

    // Nonces: 256 bits, base64, fresh every time; the cookie is the session's and is private.
    let first = http(a, "GET", "/login/challenge", &[], "");
    let cookie = first.header("set-cookie").expect("cookie");
    let port = a.rsplit(':').next().expect("port");
    assert!(
        cookie.starts_with(&format!("demo_session_{port}=")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let (mut session, nonce) = Session::open(a);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&nonce)
        .expect("base64");
    assert_eq!(bytes.len(), 32);
    let again = session.challenge();
    assert_ne!(again, nonce);

    // A good login, once.
    let good = token(&core, a, &again);
    let accepted = session.post_login(&good);
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.json()["name"], "DEMO 示範用戶");
    assert_eq!(accepted.json()["cardFamily"], "MOICA");
    // The login starts a new session; the one known before it is not logged in.
    let logged_in = accepted
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a new session cookie")
        .to_owned();
    assert_ne!(logged_in, session.cookie);
    let home = http(a, "GET", "/", &[("Cookie", &logged_in)], "");
    assert!(home.body.contains("DEMO 示範用戶"), "{}", home.body);
    let before = http(a, "GET", "/", &[("Cookie", &session.cookie)], "");
    assert!(!before.body.contains("DEMO 示範用戶"), "{}", before.body);
    session.cookie = logged_in;
    let replayed = session.post_login(&good);
    assert_eq!(replayed.status, 401);
    assert_eq!(replayed.json()["reason"], "no-challenge");

    // Signed on B for A's nonce: refused by A.
    let nonce = session.challenge();
    let refused = session.post_login(&token(&core, b, &nonce));
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["reason"], "signature-invalid");

    // An earlier nonce, replaced by a later challenge: refused.
    let earlier = session.challenge();
    session.challenge();
    let refused = session.post_login(&token(&core, a, &earlier));
    assert_eq!(refused.json()["reason"], "signature-invalid");

    // A malformed token still uses up the challenge.
    session.challenge();
    let malformed = session.post_login("{\"format\": 1}");
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["reason"], "malformed-token");
    assert_eq!(session.post_login(&good).json()["reason"], "no-challenge");
}

#[test]
fn posts_from_other_origins_are_refused_and_pages_carry_a_strict_policy() {
    let demo = DemoToken::new().expect("demo token");
    let site = Site::start(&demo);
    let (a, b) = (&site.origins[0], &site.origins[1]);
    for origin in [None, Some(b.as_str()), Some("null")] {
        let headers: Vec<(&str, &str)> = origin.iter().map(|o| ("Origin", *o)).collect();
        let answer = http(a, "POST", "/login", &headers, "{}");
        assert_eq!(answer.status, 403, "{origin:?}");
        assert_eq!(answer.json()["reason"], "cross-origin");
    }
    let page = http(a, "GET", "/", &[], "");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let library = http(a, "GET", "/js/card-agent.js", &[], "");
    assert_eq!(library.status, 200);
    assert!(library
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/javascript")));
    assert!(library.body.contains("export function createCardAgent"));
}
