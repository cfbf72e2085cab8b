//! Logging in with a card: sessions, single-use nonces, and the token check. This is the part of
//! the site a relying party copies; it follows protocol/README.md's "Nonces" rules:
//!
//! - a nonce is 256 bits from the operating system's CSPRNG, base64;
//! - it is kept server-side for the session that asked, never taken from the login request;
//! - it lives five minutes;
//! - it is removed on first use, before the token is checked, whatever the outcome.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use card_agent_protocol::auth::AuthToken;
use card_agent_protocol::verifier::{verify, VerifiedIdentity, VerifyError, VerifyOptions};
use hyper::header::{self, HeaderMap};
use hyper::StatusCode;
use rand::RngCore as _;
use serde_json::{json, Value};

use crate::trust::Trust;

/// How long a challenge may be answered.
const NONCE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// How long an idle session is kept.
const SESSION_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Sessions kept at most; past this, idle ones are dropped first.
const MAX_SESSIONS: usize = 10_000;

/// Who logged in, from a verified token.
#[derive(Debug, Clone)]
pub struct User {
    /// The holder's name (the certificate's CN).
    pub name: String,
    /// `MOICA`, `MOEACA`, ...
    pub card_family: String,
    /// The subject DN.
    pub subject: String,
    /// The subject's serialNumber attribute (MOICA: the holder's identifier).
    pub serial_number: Option<String>,
    /// The issuing CA.
    pub issuer: String,
    /// End of the certificate's validity, Unix seconds.
    pub not_after: i64,
}

impl User {
    fn from_identity(identity: VerifiedIdentity) -> User {
        let card_family = serde_json::to_value(identity.card_family)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        User {
            name: identity
                .common_name
                .clone()
                .unwrap_or_else(|| identity.subject.clone()),
            card_family,
            subject: identity.subject,
            serial_number: identity.serial_number,
            issuer: identity.issuer,
            not_after: identity.not_after,
        }
    }

    /// The login answer.
    pub fn to_json(&self) -> Value {
        json!({
            "ok": true,
            "name": self.name,
            "cardFamily": self.card_family,
            "subject": self.subject,
            "issuer": self.issuer,
        })
    }
}

/// Why a login was refused. `reason` is stable (tests and pages match on it).
#[derive(Debug)]
pub struct Refusal {
    reason: &'static str,
    message: String,
}

impl Refusal {
    fn new(reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            message: message.into(),
        }
    }

    /// The HTTP status for this refusal.
    pub fn status(&self) -> StatusCode {
        match self.reason {
            "malformed-token" => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The answer's body.
    pub fn to_json(&self) -> Value {
        json!({ "ok": false, "reason": self.reason, "message": self.message })
    }
}

#[derive(Debug, Default)]
struct Session {
    last_used: Option<Instant>,
    /// The challenge issued to this session and when it stops being valid.
    challenge: Option<(String, Instant)>,
    user: Option<User>,
}

/// One site: an origin with its own sessions.
pub struct Site {
    origin: String,
    cookie_name: String,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Site {
    /// The site served on 127.0.0.1:`port`.
    pub fn new(port: u16) -> Site {
        Site {
            // Exactly as browsers serialise it: the verifier compares it with the origin the
            // card signed, which the browser reported.
            origin: format!("http://127.0.0.1:{port}"),
            // Cookies do not tell ports apart: every site on 127.0.0.1 sees the others'
            // cookies, so each one names its own.
            cookie_name: format!("demo_session_{port}"),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// This site's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// Whether a request's `Origin` header is this site (required on every POST).
    pub fn is_same_origin(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::ORIGIN)
            .is_some_and(|o| o.as_bytes() == self.origin.as_bytes())
    }

    /// The logged-in user of a session.
    pub fn user(&self, session: &str) -> Option<User> {
        self.lock().get(session).and_then(|s| s.user.clone())
    }

    /// The request's session if we know it, else a new one with the `Set-Cookie` value for it.
    pub fn session_or_new(&self, session: Option<&str>) -> (String, Option<String>) {
        let mut sessions = self.lock();
        if let Some(id) = session.filter(|id| sessions.contains_key(*id)) {
            return (id.to_owned(), None);
        }
        if sessions.len() >= MAX_SESSIONS {
            let now = Instant::now();
            sessions.retain(|_, s| {
                s.last_used
                    .is_some_and(|t| now.duration_since(t) < SESSION_LIFETIME)
            });
        }
        let id = hex::encode(random_bytes());
        sessions.insert(id.clone(), Session::default());
        let cookie = self.cookie(&id);
        (id, Some(cookie))
    }

    /// Issues a new challenge to `session`; it replaces any earlier one.
    pub fn challenge(&self, session: &str) -> String {
        let nonce = base64::engine::general_purpose::STANDARD.encode(random_bytes());
        let now = Instant::now();
        let mut sessions = self.lock();
        let entry = sessions.entry(session.to_owned()).or_default();
        entry.last_used = Some(now);
        entry.challenge = Some((nonce.clone(), now + NONCE_LIFETIME));
        nonce
    }

    /// Checks a posted token against the challenge issued to `session` and logs in: the user
    /// gets a new session (and this `Set-Cookie` value for it), so that a session id known
    /// before the login is worth nothing after it.
    pub fn finish_login(
        &self,
        session: Option<&str>,
        body: &[u8],
        trust: &Trust,
    ) -> Result<(User, String), Refusal> {
        let no_challenge = || {
            Refusal::new(
                "no-challenge",
                "沒有待完成的登入，或這個登入憑據已經用過。 / No login is pending, or this token was already used.",
            )
        };
        let session = session.ok_or_else(no_challenge)?;
        // Single use: taken out before anything is checked, so a second post of the same
        // token, or two concurrent posts, find nothing.
        let (nonce, expires) = self
            .lock()
            .get_mut(session)
            .and_then(|s| s.challenge.take())
            .ok_or_else(no_challenge)?;
        if Instant::now() > expires {
            return Err(Refusal::new(
                "challenge-expired",
                "登入逾時，請重新登入。 / The login took too long; please start again.",
            ));
        }
        let token: AuthToken = serde_json::from_slice(body).map_err(|e| {
            Refusal::new(
                "malformed-token",
                format!("登入憑據格式錯誤。 / Malformed token: {e}"),
            )
        })?;
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let identity = verify(
            &token,
            &VerifyOptions {
                expected_origin: &self.origin,
                nonce: &nonce,
                trust: trust.store(),
                now_unix,
            },
        )
        .map_err(refusal_for)?;
        let user = User::from_identity(identity);
        let mut sessions = self.lock();
        sessions.remove(session);
        let id = hex::encode(random_bytes());
        sessions.insert(
            id.clone(),
            Session {
                last_used: Some(Instant::now()),
                challenge: None,
                user: Some(user.clone()),
            },
        );
        Ok((user, self.cookie(&id)))
    }

    /// The `Set-Cookie` value for session `id`.
    fn cookie(&self, id: &str) -> String {
        format!(
            "{}={id}; Path=/; HttpOnly; SameSite=Strict",
            self.cookie_name
        )
    }

    /// Ends a session's login.
    pub fn logout(&self, session: &str) {
        if let Some(s) = self.lock().get_mut(session) {
            s.user = None;
            s.challenge = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn refusal_for(error: VerifyError) -> Refusal {
    match error {
        VerifyError::SignatureInvalid => Refusal::new(
            "signature-invalid",
            "簽章不符：登入憑據屬於其他網站或其他登入，或已被竄改。 / The signature does not match: the token is for another site or another login, or was altered.",
        ),
        VerifyError::UntrustedChain { reason } => Refusal::new(
            "untrusted-certificate",
            format!("憑證不是由本站信任的憑證機構所簽發。 / The certificate is not from a CA this site trusts: {reason}"),
        ),
        e @ (VerifyError::Expired { .. } | VerifyError::NotYetValid { .. }) => Refusal::new(
            "certificate-validity",
            format!("憑證不在有效期間內。 / The certificate is not valid now: {e}"),
        ),
        other => Refusal::new(
            "invalid-token",
            format!("登入憑據無效。 / Invalid token: {other}"),
        ),
    }
}

/// The session id in the request's cookies, if any.
pub fn session_id(headers: &HeaderMap, cookie_name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie_name)
        .map(|(_, value)| value.to_owned())
}

/// 256 bits from the operating system's CSPRNG.
fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}
