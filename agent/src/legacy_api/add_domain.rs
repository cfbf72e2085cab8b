//! `/addDomain?domain=<host>`: a page asks the user to trust its site. The user decides in the
//! agent's own dialog; the answer goes back to the opener by postMessage, to that origin only.
//!
//! Who asks is the page the browser names in `Referer` (pages open this with `window.open`, a
//! navigation, which carries no `Origin`), never what `domain=` says: a page cannot make the
//! dialog name another site. Without a `Referer`, the `domain=` host may be asked about, as
//! `https://` only, and the answer is posted only to that origin. An `http://` site (an
//! intranet page) is accepted only from the `Referer`, and the dialog says it is not secure.
//!
//! A page cannot flood the user: at most one question is pending at a time (per origin and
//! overall), a "no" is remembered for [`REFUSAL_MEMORY`] and answered without a dialog, and a
//! dialog closes when its requester goes away (the page closed the window, the connection
//! dropped).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::Response;

use super::handlers::{blocking, form_value, html, Context};
use super::{codes, pages, Body};
use crate::pinentry::Client;
use crate::policy::Origin;

/// How long a refusal is remembered: the same site asking again meanwhile is answered "no"
/// without a dialog.
pub const REFUSAL_MEMORY: Duration = Duration::from_secs(10 * 60);

/// The questions asked and refused, for one legacy API server.
#[derive(Debug, Default)]
pub struct Questions {
    state: Mutex<QuestionState>,
}

#[derive(Debug, Default)]
struct QuestionState {
    /// The origin whose dialog is pending, if any.
    pending: Option<Origin>,
    /// Origins the user refused, and when.
    refused: HashMap<Origin, Instant>,
}

/// Why a question is not asked.
enum NotAsked {
    Refused,
    Busy,
}

impl Questions {
    fn lock(&self) -> std::sync::MutexGuard<'_, QuestionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the one question turn for `origin`, unless it was refused lately or another
    /// question is pending.
    fn begin(&self, origin: &Origin) -> Result<Turn<'_>, NotAsked> {
        let mut state = self.lock();
        let now = Instant::now();
        state
            .refused
            .retain(|_, at| now.duration_since(*at) < REFUSAL_MEMORY);
        if state.refused.contains_key(origin) {
            return Err(NotAsked::Refused);
        }
        if state.pending.is_some() {
            return Err(NotAsked::Busy);
        }
        state.pending = Some(origin.clone());
        Ok(Turn {
            questions: self,
            origin: origin.clone(),
        })
    }
}

/// The pending question; dropping it (answered, or the request abandoned) frees the turn.
struct Turn<'a> {
    questions: &'a Questions,
    origin: Origin,
}

impl Turn<'_> {
    fn refused(&self) {
        self.questions
            .lock()
            .refused
            .insert(self.origin.clone(), Instant::now());
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.questions.lock().pending = None;
    }
}

/// The site a `/addDomain` request asks about: the `Referer`'s origin (https, or http for an
/// intranet page), else the `Origin` header's (a fetch; https only), else the `domain=` host
/// as an https origin. `None` when none of them names a usable site.
fn requester_site(ctx: &Context, domain: &str) -> Option<Origin> {
    if let Some(referer) = &ctx.referer {
        return matches!(referer.scheme(), "https" | "http").then(|| referer.clone());
    }
    if let Some(origin) = &ctx.cors_site {
        return origin.is_secure_context().then(|| origin.clone());
    }
    let candidate = if domain.contains("://") {
        domain.to_owned()
    } else {
        format!("https://{domain}")
    };
    Origin::parse_page(&candidate).ok()
}

/// Answers `/addDomain`.
pub async fn add_domain(ctx: &Context, query: &str) -> Response<Body> {
    let answer = |code, origin: Option<&Origin>, approved| {
        html(pages::add_domain_answer(
            code,
            origin.map(Origin::as_str),
            approved,
        ))
    };
    let domain = form_value(query.as_bytes(), "domain").unwrap_or_default();
    let Some(origin) = requester_site(ctx, &domain) else {
        return answer(codes::FORBIDDEN_DOMAIN, None, false);
    };
    // Only the HTTP server keeps the questions; a page's fetch through the extension opens
    // no dialog.
    let Some(questions) = ctx.questions.as_deref() else {
        return answer(codes::FORBIDDEN_DOMAIN, Some(&origin), false);
    };
    let turn = match questions.begin(&origin) {
        Ok(turn) => turn,
        Err(NotAsked::Refused) => return answer(codes::CANCELLED, Some(&origin), false),
        Err(NotAsked::Busy) => return answer(codes::EXECUTION, Some(&origin), false),
    };
    let (site, lang, client) = (origin.clone(), ctx.lang, Client::new());
    let dialog_client = client.clone();
    let outcome = blocking(ctx, &client, move |service| {
        service.confirm_site(&site, lang, &dialog_client)
    })
    .await;
    let (code, approved) = match outcome {
        Ok(true) => (codes::OK, true),
        Ok(false) => {
            turn.refused();
            (codes::CANCELLED, false)
        }
        Err(e) => (codes::for_error(&e).0, false),
    };
    drop(turn);
    answer(code, Some(&origin), approved)
}
