//! Who is asking, and whether to answer: the Host header (against DNS rebinding), the Origin
//! header (set by the browser, never by the page), and CORS for trusted origins only.

use hyper::header::{HeaderMap, HeaderValue, HOST, ORIGIN};

use crate::policy::Origin;

/// The header our own popup page uses to name its opener's origin (from `event.origin`, which
/// the browser sets). Honoured only on requests whose Origin is this server's own.
pub const OPENER_HEADER: &str = "x-card-agent-opener";

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// A program of this computer's user: no `Origin` and no `Sec-Fetch-*` header (browsers
    /// send the latter on every request, pages cannot remove them). The loopback peer check
    /// has already proved the connection is this user's.
    Local,
    /// One of this server's own pages: our origin in `Origin`, or `Sec-Fetch-Site:
    /// same-origin`. `opener` is the page that opened the popup bridge, as the popup read it
    /// from `event.origin` (the browser's word, not the page's).
    OwnPage {
        /// The opener's origin, when the popup bridge names one.
        opener: Option<Origin>,
    },
    /// A web page on another origin.
    Site(Origin),
    /// A browser request that names no origin (a navigation such as `window.open`, an image
    /// without `crossOrigin`): its answer is not the page's to read, and it is never "local".
    /// `referer` is the origin of the page it came from, when the browser sent one.
    Browser {
        /// The `Referer` header's origin.
        referer: Option<Origin>,
    },
    /// An `Origin` or opener header that is not a valid origin (`null`, a trailing dot, `_`,
    /// garbage): refused, never taken for local.
    Invalid,
}

/// The facts a request's headers give about its sender, as the browser set them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The `Origin` header (`Some("")` when present but not text).
    pub origin: Option<&'a str>,
    /// Our popup's header naming its opener.
    pub opener: Option<&'a str>,
    /// Whether any `Sec-Fetch-*` header is present: only browsers send them.
    pub from_browser: bool,
    /// `Sec-Fetch-Site`.
    pub fetch_site: Option<&'a str>,
    /// The `Referer` header.
    pub referer: Option<&'a str>,
}

impl<'a> Facts<'a> {
    /// Reads the facts from request headers.
    pub fn from_headers(headers: &'a HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or(""));
        Facts {
            origin: text(ORIGIN.as_str()),
            opener: text(OPENER_HEADER),
            from_browser: headers.keys().any(|k| k.as_str().starts_with("sec-fetch-")),
            fetch_site: text("sec-fetch-site"),
            referer: text("referer"),
        }
    }
}

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

/// Classifies the request's sender.
pub fn requester(headers: &HeaderMap, port: u16) -> Requester {
    classify(&Facts::from_headers(headers), port)
}

/// Classifies the sender from its facts. Anything present but unparseable is
/// [`Requester::Invalid`]; only a request with no trace of a browser is [`Requester::Local`].
pub fn classify(facts: &Facts<'_>, port: u16) -> Requester {
    let own_page = || match facts.opener {
        None => Requester::OwnPage { opener: None },
        Some(raw) => match Origin::parse(raw) {
            Ok(o) => Requester::OwnPage { opener: Some(o) },
            Err(_) => Requester::Invalid,
        },
    };
    if let Some(raw) = facts.origin {
        return match Origin::parse(raw) {
            Err(_) => Requester::Invalid,
            Ok(o) if is_own_origin(&o, port) => own_page(),
            Ok(o) => Requester::Site(o),
        };
    }
    if facts.fetch_site == Some("same-origin") {
        // A same-origin GET carries no Origin: our popup's own request for certificates.
        return own_page();
    }
    if facts.from_browser {
        let referer = facts.referer.and_then(referer_origin);
        return Requester::Browser { referer };
    }
    Requester::Local
}

/// The origin of a `Referer` URL (`https://host[:port]/path?query` → `https://host[:port]`).
pub fn referer_origin(url: &str) -> Option<Origin> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Origin::parse(&format!("{scheme}://{}", &rest[..end])).ok()
}

fn is_own_origin(origin: &Origin, port: u16) -> bool {
    origin.scheme() == "http"
        && origin.port() == Some(port)
        && matches!(origin.host(), "localhost" | "127.0.0.1" | "[::1]")
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

    #[test]
    fn a_browser_request_is_never_local() {
        // The popup's same-origin GET has no Origin: it is our page, speaking for its opener.
        let popup = requester(
            &headers(&[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-mode", "cors"),
                (OPENER_HEADER, "https://evil.example"),
            ]),
            61161,
        );
        assert!(
            matches!(popup, Requester::OwnPage { opener: Some(o) } if o.as_str() == "https://evil.example")
        );
        // An opener that does not parse (trailing dot, `_`) is refused, not local.
        for bad in [
            "http://evil.example.:8000",
            "https://a_b.example",
            "null",
            "",
        ] {
            let r = requester(
                &headers(&[("sec-fetch-site", "same-origin"), (OPENER_HEADER, bad)]),
                61161,
            );
            assert_eq!(r, Requester::Invalid, "{bad}");
            let r = requester(
                &headers(&[("origin", "http://localhost:61161"), (OPENER_HEADER, bad)]),
                61161,
            );
            assert_eq!(r, Requester::Invalid, "{bad}");
            assert_eq!(
                requester(&headers(&[("origin", bad)]), 61161),
                Requester::Invalid
            );
        }
        // A navigation (window.open /addDomain) names its page in the Referer only.
        let nav = requester(
            &headers(&[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "navigate"),
                ("referer", "https://shop.example.net/apply?x=1"),
            ]),
            61161,
        );
        assert!(
            matches!(nav, Requester::Browser { referer: Some(o) } if o.as_str() == "https://shop.example.net")
        );
        assert_eq!(
            requester(&headers(&[("sec-fetch-dest", "image")]), 61161),
            Requester::Browser { referer: None }
        );
    }

    #[test]
    fn requesters() {
        assert_eq!(requester(&headers(&[]), 61161), Requester::Local);
        assert_eq!(
            requester(&headers(&[("origin", "null")]), 61161),
            Requester::Invalid
        );
        let site = requester(&headers(&[("origin", "https://www.example.gov.tw")]), 61161);
        assert!(matches!(site, Requester::Site(o) if o.as_str() == "https://www.example.gov.tw"));
        let own = requester(
            &headers(&[
                ("origin", "http://localhost:61161"),
                (OPENER_HEADER, "https://a.gov.tw"),
            ]),
            61161,
        );
        assert!(
            matches!(own, Requester::OwnPage { opener: Some(o) } if o.as_str() == "https://a.gov.tw")
        );
        // The opener header means nothing from any other origin.
        let forged = requester(
            &headers(&[
                ("origin", "https://evil.example"),
                (OPENER_HEADER, "https://a.gov.tw"),
            ]),
            61161,
        );
        assert!(matches!(forged, Requester::Site(o) if o.as_str() == "https://evil.example"));
        // Our port on another loopback service is not us.
        assert!(matches!(
            requester(&headers(&[("origin", "http://localhost:8080")]), 61161),
            Requester::Site(_)
        ));
    }
}
