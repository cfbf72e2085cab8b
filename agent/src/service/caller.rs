//! Who is calling: the one decision, made from the facts each adapter supplies.
//!
//! Adapters never decide trust. Each one reports what it saw — the daemon's socket the
//! request's `origin` field (set by the extension from the browser's sender), the legacy HTTP
//! port its headers — and [`decide_ipc`] or [`decide_legacy`] names the caller:
//!
//! | caller | how it is recognised |
//! |---|---|
//! | a site ([`Who::Site`]) | an origin the browser reported, through the extension or in the `Origin` header |
//! | our extension's pages ([`Who::OwnExtensionPage`]) | Chromium: `chrome-extension://<id>` with one of our IDs; Firefox: `moz-extension://<uuid>`, which the native host passes only when the browser started it for our add-on (see below) |
//! | our pages on the legacy port ([`Who::OwnLegacyPage`]) | `Origin` is this server's own loopback origin, or (a same-origin GET, which carries no `Origin`) the browser's `Sec-Fetch-Site: same-origin` |
//! | a local program of the same user ([`Who::LocalProgram`]) | a request without an origin on the daemon's socket, which only this user can open |
//!
//! Anything else — an origin that does not parse, a foreign extension, a legacy request with
//! no `Origin` and no browser's word that it is same-origin, a popup opener that does not
//! parse — is refused, never taken for a local program.
//!
//! **Firefox.** An extension page's origin there is `moz-extension://<uuid>`, with a UUID
//! chosen per profile, and the native host learns only the add-on ID (its second argument).
//! Firefox starts the host only for the add-ons its manifest lists, and our add-on gives a
//! request an extension origin only for senders whose `sender.id` is its own. So the host
//! ([`check_relayed_origin`]) passes a `moz-extension://` origin only when the browser started
//! it for one of our add-on IDs, and refuses it otherwise; the daemon then takes a well-formed
//! `moz-extension://<uuid>` for our page. Nothing a web page controls reaches that decision.

use card_agent_protocol::Language;

use crate::error::{Error, Result};
use crate::pinentry::Client;
use crate::policy::Origin;
use crate::work_queue::ClientKey;

/// The Chromium extension ID that extension/manifest.json's `key` yields: the development and
/// test build. Store IDs join this list when the extension is published.
pub const DEV_EXTENSION_ID: &str = "hccjmiblnokapoamfkgnbbighmnfpoig";
/// The Firefox add-on ID (browser_specific_settings.gecko.id).
pub const FIREFOX_ADDON_ID: &str = "card-agent@card-agent.tw";

/// Which page API a site's request came through. The PIN-source table and admission differ by
/// API (see [`super::pin_source`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Api {
    /// card-agent's own API (the page library, through the extension).
    CardAgent,
    /// The HiPKI Local Sign Server API (HTTP on the legacy port, or `legacy-request` through
    /// the extension). The default of [`LegacyFacts::api`].
    #[default]
    HiPki,
    /// The SmartPKI API.
    SmartPki,
}

/// Who is calling, as decided here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A web page, with the origin the browser reported.
    Site {
        /// The page's origin.
        origin: Origin,
        /// The API its request came through.
        api: Api,
    },
    /// One of our extension's own pages (the popup, the self-test page).
    OwnExtensionPage,
    /// One of this agent's own pages on the legacy port (the self-test page).
    OwnLegacyPage,
    /// A program of the same user on this computer (the command line, the tray).
    LocalProgram,
}

/// A decided caller: who, the language for its dialogs and messages, and the connection its
/// request came on (whose dialogs close when it goes away). Made only by the decisions of this
/// module (and [`Caller::local`] for code running in this process on the user's behalf).
#[derive(Debug, Clone)]
pub struct Caller {
    who: Who,
    /// The language for dialogs and messages.
    pub lang: Language,
    /// The connection the request came on; [`super::Service::client_gone`] closes its dialogs.
    pub client: Client,
}

impl Caller {
    /// This process itself, acting for the user who started it (the command line's in-process
    /// service, the environment check): a local program.
    pub fn local(lang: Language) -> Self {
        Caller {
            who: Who::LocalProgram,
            lang,
            client: Client::new(),
        }
    }

    /// The work-queue key of this caller's requests on `connection`: its site when it is a
    /// web page, else the connection (a local program, or one of the extension's own pages).
    pub fn queue_key(&self, connection: u64) -> ClientKey {
        match self.site() {
            Some(origin) => ClientKey::Page {
                connection,
                origin: origin.as_str().to_owned(),
            },
            None => ClientKey::Local(connection),
        }
    }

    /// Who is calling.
    pub fn who(&self) -> &Who {
        &self.who
    }

    /// The site's origin, for a web page; `None` for our own pages and local programs.
    pub fn site(&self) -> Option<&Origin> {
        match &self.who {
            Who::Site { origin, .. } => Some(origin),
            _ => None,
        }
    }

    /// The same caller, with messages in `lang`.
    pub fn with_lang(mut self, lang: Language) -> Self {
        self.lang = lang;
        self
    }

    /// What the log says about the caller: the site, or the kind of own caller.
    pub fn log_name(&self) -> &str {
        match &self.who {
            Who::Site { origin, .. } => origin.as_str(),
            Who::OwnExtensionPage => "extension page",
            Who::OwnLegacyPage => "agent page",
            Who::LocalProgram => "local",
        }
    }

    /// Refuses any caller but the user's own: local programs and our own pages. For what
    /// describes or tests this computer (the environment check, the self-test's signature,
    /// card events for the self-test page).
    pub fn require_own(&self) -> Result<()> {
        match &self.who {
            Who::Site { origin, .. } => Err(Error::SiteNotTrusted {
                origin: origin.to_string(),
            }),
            Who::OwnExtensionPage | Who::OwnLegacyPage | Who::LocalProgram => Ok(()),
        }
    }

    /// Refuses any caller but a local program: managing trust (the trusted-site list) is for
    /// the user's own programs (the tray, the command line), never for a page — not even our
    /// own, which a hostile page could open.
    pub fn require_local(&self, command: &str) -> Result<()> {
        match &self.who {
            Who::LocalProgram => Ok(()),
            _ => Err(Error::LocalOnly {
                command: command.to_owned(),
            }),
        }
    }
}

/// The browser extensions that are ours: the built-in IDs and the user's `allowed_extensions`.
#[derive(Debug, Clone, Default)]
pub struct OurExtensions {
    /// Extra IDs from the configuration: `chrome-extension://<id>/` or a Firefox add-on ID.
    configured: Vec<String>,
}

impl OurExtensions {
    /// Ours: the built-in IDs plus `configured` (`allowed_extensions`).
    pub fn new(configured: &[String]) -> Self {
        OurExtensions {
            configured: configured.to_vec(),
        }
    }

    /// Whether `caller` (who started the native host) is one of ours.
    pub fn includes(&self, caller: &BrowserCaller) -> bool {
        let (id, builtin) = match caller {
            BrowserCaller::Chromium(id) => (id, DEV_EXTENSION_ID),
            BrowserCaller::Firefox(id) => (id, FIREFOX_ADDON_ID),
        };
        id == builtin
            || self.configured.iter().any(|c| {
                c.trim_end_matches('/')
                    .trim_start_matches("chrome-extension://")
                    == id
            })
    }
}

/// Who started the native host, from the browser's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserCaller {
    /// Chrome, Chromium, Edge, Brave: `chrome-extension://<id>/`.
    Chromium(String),
    /// Firefox: the add-on ID (the second argument, after the manifest path).
    Firefox(String),
}

impl BrowserCaller {
    /// Reads the caller from the host's arguments (the program name excluded). Chrome passes
    /// the origin first (and on Windows `--parent-window=N`); Firefox passes the manifest path
    /// and then the add-on ID.
    pub fn from_args(args: &[String]) -> Option<Self> {
        let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
        let first = positional.first()?;
        if first.starts_with("chrome-extension://") {
            return chromium_id(first).map(|id| BrowserCaller::Chromium(id.to_owned()));
        }
        positional
            .get(1)
            .map(|id| BrowserCaller::Firefox((*id).clone()))
    }

    /// Whether this caller is one of ours, or one the user configured (`allowed_extensions`).
    pub fn is_allowed(&self, configured: &[String]) -> bool {
        OurExtensions::new(configured).includes(self)
    }

    /// The caller as the browser names it: `chrome-extension://<id>/` or the add-on ID.
    pub fn id(&self) -> String {
        match self {
            BrowserCaller::Chromium(id) => format!("chrome-extension://{id}/"),
            BrowserCaller::Firefox(id) => id.clone(),
        }
    }
}

/// The ID in `chrome-extension://<id>` (one trailing `/` allowed): 32 letters `a`–`p`.
fn chromium_id(origin: &str) -> Option<&str> {
    let id = origin
        .strip_prefix("chrome-extension://")?
        .strip_suffix('/')
        .unwrap_or_else(|| &origin["chrome-extension://".len()..]);
    (id.len() == 32 && id.bytes().all(|b| (b'a'..=b'p').contains(&b))).then_some(id)
}

/// Whether `origin` is `moz-extension://<uuid>` (one trailing `/` allowed), the UUID in its
/// canonical lower-case 8-4-4-4-12 form.
fn is_firefox_extension_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("moz-extension://") else {
        return false;
    };
    let uuid = rest.strip_suffix('/').unwrap_or(rest);
    let groups: Vec<&str> = uuid.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, len)| {
            g.len() == len && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// The native host's part of the decision, for each request it relays: an extension origin
/// is passed only when it is the extension that started the host (Chromium: the same ID;
/// Firefox: a `moz-extension://` origin, from our add-on). A web origin passes; the daemon
/// decides about it.
pub fn check_relayed_origin(started_by: &BrowserCaller, origin: &str) -> Result<()> {
    let refused = || {
        Err(Error::UnknownCaller {
            what: format!(
                "extension origin {} relayed for {}",
                shown(origin),
                started_by.id()
            ),
        })
    };
    if origin.starts_with("chrome-extension://") {
        return match (started_by, chromium_id(origin)) {
            (BrowserCaller::Chromium(ours), Some(id)) if id == ours => Ok(()),
            _ => refused(),
        };
    }
    if origin.starts_with("moz-extension://") {
        return match started_by {
            BrowserCaller::Firefox(_) if is_firefox_extension_origin(origin) => Ok(()),
            _ => refused(),
        };
    }
    Ok(())
}

/// What a request on the daemon's socket says about its sender.
#[derive(Debug, Clone, Copy)]
pub struct IpcFacts<'a> {
    /// The request's `origin` field: set by the extension from the browser's sender; absent
    /// for local programs (the socket admits only this user's processes).
    pub origin: Option<&'a str>,
    /// Whether the request is a page's call to the legacy API (`legacy-request`).
    pub legacy: bool,
    /// Whether the request is a SmartPKI page's port message (`smartpki-*`).
    pub smartpki: bool,
}

/// Decides who sent a request on the daemon's socket.
pub fn decide_ipc(
    facts: IpcFacts<'_>,
    ours: &OurExtensions,
    lang: Language,
    client: Client,
) -> Result<Caller> {
    let who = match facts.origin {
        None if facts.legacy || facts.smartpki => {
            // A page's legacy or SmartPKI call always has the page's origin; without one it is
            // nobody's.
            return Err(Error::UnknownCaller {
                what: "a page's call without the page's origin".to_owned(),
            });
        }
        None => Who::LocalProgram,
        Some(o) if o.starts_with("chrome-extension://") || o.starts_with("moz-extension://") => {
            if facts.legacy || !is_our_extension_origin(o, ours) {
                return Err(Error::UnknownCaller {
                    what: format!("extension origin {}", shown(o)),
                });
            }
            Who::OwnExtensionPage
        }
        Some(o) => Who::Site {
            origin: Origin::parse(o)?,
            api: if facts.legacy {
                Api::HiPki
            } else if facts.smartpki {
                Api::SmartPki
            } else {
                Api::CardAgent
            },
        },
    };
    Ok(Caller { who, lang, client })
}

fn is_our_extension_origin(origin: &str, ours: &OurExtensions) -> bool {
    if let Some(id) = chromium_id(origin) {
        return ours.includes(&BrowserCaller::Chromium(id.to_owned()));
    }
    // The native host passed it only for our add-on (see the module's documentation).
    is_firefox_extension_origin(origin)
}

/// What a request on a legacy HTTP port (HiPKI's, SmartPKI's) says about its sender. Every field is as received;
/// the decision parses them. Pages cannot set `Origin` or any `Sec-Fetch-*` header (the
/// browser does), but every local user can connect to the port and send anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct LegacyFacts<'a> {
    /// The `Origin` header, as bytes (`None`: absent).
    pub origin: Option<&'a [u8]>,
    /// The `Referer` header (`None`: absent). Recorded for the log and for attack tests; it
    /// never makes a caller trusted.
    pub referer: Option<&'a [u8]>,
    /// The `Sec-Fetch-Site` header (`None`: absent).
    pub sec_fetch_site: Option<&'a [u8]>,
    /// Whether any `Sec-Fetch-*` header is present (a browser sent the request).
    pub sec_fetch: bool,
    /// The popup bridge's opener header (`x-card-agent-opener`), honoured only on requests
    /// from this server's own pages.
    pub opener: Option<&'a [u8]>,
    /// This server's port.
    pub port: u16,
    /// The page API this port serves: HiPKI's (the default) or SmartPKI's.
    pub api: Api,
}

/// Decides who sent a request on the legacy HTTP port.
pub fn decide_legacy(facts: LegacyFacts<'_>, lang: Language, client: Client) -> Result<Caller> {
    let own = match facts.origin {
        Some(raw) => {
            let origin = std::str::from_utf8(raw)
                .ok()
                .and_then(|o| Origin::parse(o).ok())
                .ok_or_else(|| Error::UnknownCaller {
                    what: format!("Origin {}", shown(&String::from_utf8_lossy(raw))),
                })?;
            if !is_own_legacy_origin(&origin, facts.port) {
                let who = Who::Site {
                    origin,
                    api: facts.api,
                };
                return Ok(Caller { who, lang, client });
            }
            true
        }
        // A same-origin GET carries no Origin; the browser's Sec-Fetch-Site says it is ours.
        None => facts.sec_fetch_site == Some(b"same-origin".as_slice()),
    };
    if !own {
        return Err(Error::UnknownCaller {
            what: if facts.sec_fetch {
                "a browser request without an Origin that is not same-origin".to_owned()
            } else {
                "a request without an Origin".to_owned()
            },
        });
    }
    // Our own popup bridge speaks for the page that opened it (from `event.origin`).
    let who = match facts.opener {
        None => Who::OwnLegacyPage,
        Some(raw) => Who::Site {
            origin: std::str::from_utf8(raw)
                .ok()
                .and_then(|o| Origin::parse(o).ok())
                .ok_or_else(|| Error::UnknownCaller {
                    what: format!("opener {}", shown(&String::from_utf8_lossy(raw))),
                })?,
            api: facts.api,
        },
    };
    Ok(Caller { who, lang, client })
}

/// Whether `origin` is this server's own: http on a loopback name with our port.
pub fn is_own_legacy_origin(origin: &Origin, port: u16) -> bool {
    origin.scheme() == "http"
        && origin.port() == Some(port)
        && matches!(origin.host(), "localhost" | "127.0.0.1" | "[::1]")
}

/// Input for a message: at most 80 characters, control characters escaped.
fn shown(text: &str) -> String {
    text.chars().take(80).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
#[path = "caller_tests.rs"]
mod tests;
