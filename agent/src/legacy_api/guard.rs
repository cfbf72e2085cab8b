//! The legacy port's door: the Host header (against DNS rebinding), the facts the caller
//! decision needs (the Origin header, set by the browser and never by the page; Referer;
//! Sec-Fetch-*; our popup's opener header), and CORS for trusted origins only. Who is calling
//! is decided by the service ([`crate::service::caller::decide_legacy`]), not here.

use card_agent_protocol::Language;
use hyper::header::{HeaderMap, HeaderValue, HOST, ORIGIN, REFERER};

use crate::error::Result;
use crate::pinentry::Client;
use crate::policy::Origin;
use crate::service::caller::{self, Caller, LegacyFacts};

/// The header our own popup page uses to name its opener's origin (from `event.origin`, which
/// the browser sets). Honoured only on requests whose Origin is this server's own.
pub const OPENER_HEADER: &str = "x-card-agent-opener";

/// Whether the Host header names this server on a loopback name with the right port. A page
/// on a DNS-rebinding name (evil.example resolving to 127.0.0.1) sends its own host name here.
pub fn host_is_ours(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|name| host == format!("{name}:{port}"))
}

/// What the request's headers say about its sender, as the caller decision takes them. The
/// header values are borrowed as received: the decision parses them.
pub fn facts(headers: &HeaderMap, port: u16) -> LegacyFacts<'_> {
    let value = |name: &str| headers.get(name).map(HeaderValue::as_bytes);
    LegacyFacts {
        origin: value(ORIGIN.as_str()),
        referer: value(REFERER.as_str()),
        sec_fetch_site: value("sec-fetch-site"),
        sec_fetch: headers.keys().any(|k| k.as_str().starts_with("sec-fetch-")),
        opener: value(OPENER_HEADER),
        port,
        api: crate::service::Api::HiPki,
    }
}

/// Who sent the request (the service's one decision, from [`facts`]), and the site whose
/// `Origin` header it carries: the only origin CORS may ever echo.
pub fn caller(headers: &HeaderMap, port: u16, lang: Language) -> (Result<Caller>, Option<Origin>) {
    let facts = facts(headers, port);
    let cors_site = facts
        .origin
        .and_then(|o| std::str::from_utf8(o).ok())
        .and_then(|o| Origin::parse(o).ok())
        .filter(|o| !caller::is_own_legacy_origin(o, port));
    (caller::decide_legacy(facts, lang, Client::new()), cors_site)
}

/// The origin of a `Referer` URL (`https://host[:port]/path?query` → `https://host[:port]`):
/// the page that opened `/addDomain` (a navigation, which carries no `Origin`).
pub fn referer_origin(headers: &HeaderMap) -> Option<Origin> {
    let url = headers.get(REFERER)?.to_str().ok()?;
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Origin::parse(&format!("{scheme}://{}", &rest[..end])).ok()
}

/// CORS headers for a trusted site: its own origin echoed, never `*`.
pub fn cors_headers(origin: &Origin) -> Vec<(&'static str, HeaderValue)> {
    let Ok(value) = HeaderValue::from_str(origin.as_str()) else {
        return Vec::new();
    };
    vec![
        ("access-control-allow-origin", value),
        ("vary", HeaderValue::from_static("Origin")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Who;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn host_must_be_loopback_with_our_port() {
        assert!(host_is_ours(
            &headers(&[("host", "localhost:61161")]),
            61161
        ));
        assert!(host_is_ours(
            &headers(&[("host", "127.0.0.1:61161")]),
            61161
        ));
        assert!(host_is_ours(&headers(&[("host", "[::1]:61161")]), 61161));
        assert!(host_is_ours(
            &headers(&[("host", "LOCALHOST:61161")]),
            61161
        ));
        assert!(!host_is_ours(
            &headers(&[("host", "evil.example:61161")]),
            61161
        ));
        assert!(!host_is_ours(&headers(&[("host", "localhost")]), 61161));
        assert!(!host_is_ours(
            &headers(&[("host", "localhost:8080")]),
            61161
        ));
        assert!(!host_is_ours(&headers(&[]), 61161));
    }

    fn who(pairs: &[(&'static str, &str)]) -> Result<Who> {
        caller(&headers(pairs), 61161, Language::En)
            .0
            .map(|c| c.who().clone())
    }

    #[test]
    fn requesters() {
        // No Origin and no browser's word that the request is same-origin: nobody we know.
        assert!(who(&[]).is_err());
        assert!(who(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors")
        ])
        .is_err());
        assert!(who(&[("origin", "null")]).is_err());
        assert!(matches!(
            who(&[("origin", "https://www.example.gov.tw")]),
            Ok(Who::Site { origin, .. }) if origin.as_str() == "https://www.example.gov.tw"
        ));
        // Our own page: its Origin, or (a same-origin GET has none) the browser's Sec-Fetch-Site.
        assert_eq!(
            who(&[("origin", "http://localhost:61161")]).unwrap(),
            Who::OwnLegacyPage
        );
        assert_eq!(
            who(&[("sec-fetch-site", "same-origin")]).unwrap(),
            Who::OwnLegacyPage
        );
        let own = who(&[
            ("origin", "http://localhost:61161"),
            (OPENER_HEADER, "https://a.gov.tw"),
        ]);
        assert!(
            matches!(own, Ok(Who::Site { origin, .. }) if origin.as_str() == "https://a.gov.tw")
        );
        // An opener that does not parse is refused, never our own page: a trailing dot, `_`,
        // `null`, from our Origin or from a same-origin GET (the popup's certificate read).
        for bad in [
            "null",
            "http://evil.example.:8000",
            "https://a_b.example",
            "",
        ] {
            assert!(who(&[("origin", "http://localhost:61161"), (OPENER_HEADER, bad)]).is_err());
            assert!(who(&[("sec-fetch-site", "same-origin"), (OPENER_HEADER, bad)]).is_err());
            assert!(who(&[("origin", bad)]).is_err(), "{bad}");
        }
        assert_eq!(
            referer_origin(&headers(&[("referer", "https://shop.example.net/a?b#c")]))
                .map(|o| o.to_string()),
            Some("https://shop.example.net".to_owned())
        );
        // The opener header means nothing from any other origin.
        let forged = who(&[
            ("origin", "https://evil.example"),
            (OPENER_HEADER, "https://a.gov.tw"),
        ]);
        assert!(
            matches!(forged, Ok(Who::Site { origin, .. }) if origin.as_str() == "https://evil.example")
        );
        // Our port on another loopback service is not us.
        assert!(matches!(
            who(&[("origin", "http://localhost:8080")]),
            Ok(Who::Site { .. })
        ));
        // CORS may echo only a site's own Origin, never ours.
        let (_, cors) = caller(
            &headers(&[("origin", "http://localhost:61161")]),
            61161,
            Language::En,
        );
        assert!(cors.is_none());
    }
}
