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
    /// No Origin header: a local program, or a browser navigation/no-cors request whose
    /// response the page cannot read.
    Local,
    /// One of this server's own pages. `opener` is the page that opened the popup bridge.
    OwnPage {
        /// The opener's origin, when the popup bridge names one.
        opener: Option<Origin>,
    },
    /// A web page on another origin.
    Site(Origin),
    /// An Origin header that is not a valid origin (`null`, garbage).
    Invalid,
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
    let Some(origin) = headers.get(ORIGIN) else {
        return Requester::Local;
    };
    let Ok(origin) = origin.to_str() else {
        return Requester::Invalid;
    };
    let Ok(origin) = Origin::parse(origin) else {
        return Requester::Invalid;
    };
    if is_own_origin(&origin, port) {
        let opener = headers
            .get(OPENER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(Origin::parse)
            .and_then(Result::ok);
        return Requester::OwnPage { opener };
    }
    Requester::Site(origin)
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
