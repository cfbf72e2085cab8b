//! Web origins as the browser reports them: `scheme://host[:port]`, strictly parsed.
//!
//! The origin is the key of every trust decision, so parsing accepts only the canonical form a
//! browser serialises (lower-case, no default port, no path, no user-info) and refuses anything
//! that could make two spellings of one site compare differently or one spelling hide another
//! site (`https://a.gov.tw@evil.com`, `https://a.gov.tw.evil.com`). Input is bounded and ASCII:
//! browsers send international names as punycode, so non-ASCII here is never a real origin.

use card_agent_protocol::{i18n, Language};

use crate::error::{Error, Reason, Result};

/// Longest origin string accepted, in bytes.
pub const MAX_ORIGIN_LEN: usize = 300;
/// Longest host accepted, in bytes (the DNS limit for a name in text form).
pub const MAX_HOST_LEN: usize = 253;
/// Longest DNS label.
const MAX_LABEL_LEN: usize = 63;
/// The one IPv6 literal accepted: loopback, for development. Public IPv6 literals are never
/// used by the government sites this agent serves, and refusing them keeps host comparison a
/// plain string comparison (no IPv6 canonicalisation to get wrong).
const IPV6_LOOPBACK: &str = "[::1]";

/// Why an origin string was refused. Names the rule, never echoes unbounded input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginError {
    /// Nothing was given.
    Empty,
    /// Longer than [`MAX_ORIGIN_LEN`].
    TooLong,
    /// Non-ASCII characters (international names must arrive as punycode).
    NotAscii,
    /// Spaces or control characters.
    BadCharacter,
    /// An opaque origin: `null` (sandboxed frames, local files) or `file:`.
    Opaque,
    /// Not of the form `scheme://…` (e.g. `javascript:`, `data:`).
    NoScheme,
    /// The scheme has characters a scheme cannot have.
    BadScheme,
    /// `user@host` or `user:password@host`.
    UserInfo,
    /// A path after the host (only a single trailing `/` is tolerated).
    HasPath,
    /// A query or fragment.
    HasQuery,
    /// The host is missing or not an ASCII host name, an IPv4 address or `[::1]`.
    BadHost,
    /// The host is longer than [`MAX_HOST_LEN`].
    HostTooLong,
    /// The port is not a number from 1 to 65535 in canonical form.
    BadPort,
}

impl OriginError {
    /// The reason in the given language (catalogue keys `policy.origin.*`).
    pub fn message(self, lang: Language) -> &'static str {
        i18n::text(lang, self.key())
    }

    /// The reason's catalogue key.
    pub fn key(self) -> &'static str {
        match self {
            OriginError::Empty => "policy.origin.empty",
            OriginError::TooLong => "policy.origin.too_long",
            OriginError::NotAscii => "policy.origin.not_ascii",
            OriginError::BadCharacter => "policy.origin.bad_character",
            OriginError::Opaque => "policy.origin.opaque",
            OriginError::NoScheme => "policy.origin.no_scheme",
            OriginError::BadScheme => "policy.origin.bad_scheme",
            OriginError::UserInfo => "policy.origin.user_info",
            OriginError::HasPath => "policy.origin.has_path",
            OriginError::HasQuery => "policy.origin.has_query",
            OriginError::BadHost => "policy.origin.bad_host",
            OriginError::HostTooLong => "policy.origin.host_too_long",
            OriginError::BadPort => "policy.origin.bad_port",
        }
    }
}

impl std::fmt::Display for OriginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message(Language::En))
    }
}

impl std::error::Error for OriginError {}

impl From<OriginError> for Reason {
    fn from(e: OriginError) -> Self {
        Reason::from_catalogue(e.key())
    }
}

// Tests and callers compare a refusal's reason with the rule that made it.
impl PartialEq<OriginError> for Reason {
    fn eq(&self, other: &OriginError) -> bool {
        self.key() == other.key()
    }
}

/// A parsed, canonical web origin: lower-case scheme and host, default port removed.
///
/// Two `Origin`s are equal exactly when their canonical strings are equal, which is what makes
/// a plain comparison safe for trust decisions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
    serialized: String,
}

impl Origin {
    /// Parses an origin string as the browser supplies it (`scheme://host[:port]`, optionally
    /// with one trailing `/`). Does not judge whether the origin may use the card; see
    /// [`Origin::parse_page`] for that.
    pub fn parse(raw: &str) -> Result<Origin> {
        parse_parts(raw).map_err(|reason| Error::BadOrigin {
            input: shown(raw),
            reason: reason.into(),
        })
    }

    /// Parses the origin of a page that asks to use the card and refuses any origin that is
    /// not a secure context ([`Origin::is_secure_context`]) with [`Error::InsecureOrigin`].
    pub fn parse_page(raw: &str) -> Result<Origin> {
        let origin = Origin::parse(raw)?;
        if !origin.is_secure_context() {
            return Err(Error::InsecureOrigin {
                origin: origin.serialized,
            });
        }
        Ok(origin)
    }

    /// True for `https`, and for `http` on `localhost`, `127.0.0.1` or `[::1]` (allowed so
    /// developers can test without a certificate; traffic to loopback never leaves the
    /// machine). Plain http on any other host could be rewritten by anyone on the network.
    pub fn is_secure_context(&self) -> bool {
        match self.scheme.as_str() {
            "https" => true,
            "http" => is_loopback_host(&self.host),
            _ => false,
        }
    }

    /// The lower-case scheme, e.g. `https`.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The lower-case host: a DNS name, an IPv4 address, or `[::1]`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, or `None` when it is the scheme's default (443 for https, 80 for http).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The canonical text, e.g. `https://www.etax.nat.gov.tw` or `http://localhost:8080`.
    pub fn as_str(&self) -> &str {
        &self.serialized
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.serialized)
    }
}

/// True for the hosts that always mean this machine.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | IPV6_LOOPBACK)
}

/// A bounded, printable rendering of untrusted input for error messages: at most 80
/// characters, control characters escaped, so an error line cannot be flooded or forged.
pub(crate) fn shown(raw: &str) -> String {
    let mut out: String = raw.chars().take(80).flat_map(char::escape_debug).collect();
    if raw.chars().nth(80).is_some() {
        out.push('…');
    }
    out
}

/// The parser behind [`Origin::parse`], returning the bare reason so pattern parsing can wrap
/// it in its own error.
pub(crate) fn parse_parts(raw: &str) -> std::result::Result<Origin, OriginError> {
    // Bounds and alphabet first, so nothing below ever looks at hostile bulk input.
    if raw.is_empty() {
        return Err(OriginError::Empty);
    }
    if raw.len() > MAX_ORIGIN_LEN {
        return Err(OriginError::TooLong);
    }
    if !raw.is_ascii() {
        return Err(OriginError::NotAscii);
    }
    if raw.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(OriginError::BadCharacter);
    }
    if raw.eq_ignore_ascii_case("null") {
        return Err(OriginError::Opaque);
    }
    let (scheme, rest) = raw.split_once("://").ok_or(OriginError::NoScheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if !is_valid_scheme(&scheme) {
        return Err(OriginError::BadScheme);
    }
    if scheme == "file" {
        return Err(OriginError::Opaque);
    }

    // The authority ends where a browser would start the path, query or fragment; a backslash
    // counts because browsers treat it as `/` in http(s) URLs.
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(OriginError::UserInfo);
    }
    if !tail.is_empty() && tail != "/" {
        return Err(if tail.contains(['?', '#']) {
            OriginError::HasQuery
        } else {
            OriginError::HasPath
        });
    }

    let (host, port) = split_host_port(authority)?;
    let host = host.to_ascii_lowercase();
    if host.len() > MAX_HOST_LEN {
        return Err(OriginError::HostTooLong);
    }
    if host != IPV6_LOOPBACK && !is_valid_host(&host) {
        return Err(OriginError::BadHost);
    }
    let port = match (scheme.as_str(), port) {
        ("https", Some(443)) | ("http", Some(80)) => None,
        (_, port) => port,
    };
    let serialized = match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    };
    Ok(Origin {
        scheme,
        host,
        port,
        serialized,
    })
}

/// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn is_valid_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

fn split_host_port(authority: &str) -> std::result::Result<(&str, Option<u16>), OriginError> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']').ok_or(OriginError::BadHost)?;
        let (host, after) = authority.split_at(close + 1);
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or(OriginError::BadHost)?),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = port.map(parse_port).transpose()?;
    Ok((host, port))
}

/// A canonical decimal port: 1-65535, no sign, no leading zero (a browser never sends
/// `:0443`, so such a string did not come from one).
fn parse_port(text: &str) -> std::result::Result<u16, OriginError> {
    if text.is_empty()
        || text.len() > 5
        || text.starts_with('0')
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(OriginError::BadPort);
    }
    text.parse::<u16>().map_err(|_| OriginError::BadPort)
}

/// A lower-case DNS name of letters, digits and hyphens, or a canonical dotted-quad IPv4
/// address. Empty labels (including a trailing dot) are refused so each site has one spelling.
pub(crate) fn is_valid_host(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL_LEN
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !labels.iter().all(label_ok) {
        return false;
    }
    // A name whose last label is numeric is read by browsers as an IPv4 address; accept only
    // the canonical four-part form, which is what a browser would have turned it into.
    match labels.last() {
        Some(last) if last.bytes().all(|b| b.is_ascii_digit()) => is_canonical_ipv4(&labels),
        _ => true,
    }
}

pub(crate) fn is_ipv4(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    is_canonical_ipv4(&labels)
}

fn is_canonical_ipv4(labels: &[&str]) -> bool {
    labels.len() == 4
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 3
                && l.bytes().all(|b| b.is_ascii_digit())
                && (l.len() == 1 || !l.starts_with('0'))
                && l.parse::<u8>().is_ok()
        })
}

#[cfg(test)]
// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reason(raw: &str) -> Reason {
        match Origin::parse(raw) {
            Err(Error::BadOrigin { reason, .. }) => reason,
            other => panic!("{raw:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn canonical_forms() {
        let cases = [
            ("https://www.etax.nat.gov.tw", "https://www.etax.nat.gov.tw"),
            ("https://A.GOV.TW:443/", "https://a.gov.tw"),
            ("HTTPS://Moica.Nat.Gov.Tw", "https://moica.nat.gov.tw"),
            ("https://a.gov.tw:8443", "https://a.gov.tw:8443"),
            ("http://localhost:80", "http://localhost"),
            ("http://localhost:8080/", "http://localhost:8080"),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("https://xn--kpry57d.tw", "https://xn--kpry57d.tw"),
            (
                "chrome-extension://abcdefghijklmnop",
                "chrome-extension://abcdefghijklmnop",
            ),
        ];
        for (raw, want) in cases {
            let o = Origin::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(o.as_str(), want, "{raw}");
            assert_eq!(o.to_string(), want);
        }
        let o = Origin::parse("https://a.gov.tw:8443").unwrap();
        assert_eq!(
            (o.scheme(), o.host(), o.port()),
            ("https", "a.gov.tw", Some(8443))
        );
        assert_eq!(
            Origin::parse("https://a.gov.tw:443").unwrap(),
            Origin::parse("https://a.gov.tw").unwrap()
        );
    }

    #[test]
    fn hostile_inputs_are_refused_with_the_right_reason() {
        // 23 labels of 10 letters plus "tw": a 255-byte host inside a 263-byte origin.
        let long_host = format!("https://{}tw", "a123456789.".repeat(23));
        let cases: &[(&str, OriginError)] = &[
            ("", OriginError::Empty),
            ("null", OriginError::Opaque),
            ("file:///etc/passwd", OriginError::Opaque),
            ("javascript:alert(1)", OriginError::NoScheme),
            ("javascript://%0aalert(1)", OriginError::BadHost),
            ("data:text/html,hi", OriginError::NoScheme),
            ("www.etax.nat.gov.tw", OriginError::NoScheme),
            ("https://a.gov.tw@evil.com", OriginError::UserInfo),
            ("https://user:pw@a.gov.tw", OriginError::UserInfo),
            ("https://a.gov.tw/path", OriginError::HasPath),
            ("https://a.gov.tw//", OriginError::HasPath),
            ("https://a.gov.tw\\evil.com", OriginError::HasPath),
            ("https://a.gov.tw?x=1", OriginError::HasQuery),
            ("https://a.gov.tw/#frag", OriginError::HasQuery),
            ("https://a.gov.tw#@evil.com", OriginError::HasQuery),
            ("https://", OriginError::BadHost),
            ("https://:443", OriginError::BadHost),
            ("https://a.gov.tw.", OriginError::BadHost),
            ("https://a..gov.tw", OriginError::BadHost),
            ("https://-a.gov.tw", OriginError::BadHost),
            ("https://a_b.gov.tw", OriginError::BadHost),
            ("https://a%2egov.tw", OriginError::BadHost),
            ("https://*.gov.tw", OriginError::BadHost),
            ("https://1.2.3", OriginError::BadHost),
            ("https://0x7f.0.0.1", OriginError::BadHost),
            ("https://127.000.0.1", OriginError::BadHost),
            ("https://256.1.1.1", OriginError::BadHost),
            ("https://[::2]", OriginError::BadHost),
            ("https://[::1", OriginError::BadHost),
            ("https://[::1]x", OriginError::BadHost),
            ("https://a:b:c", OriginError::BadPort),
            ("https://a.gov.tw:", OriginError::BadPort),
            ("https://a.gov.tw:0", OriginError::BadPort),
            ("https://a.gov.tw:0443", OriginError::BadPort),
            ("https://a.gov.tw:65536", OriginError::BadPort),
            ("https://a.gov.tw:+443", OriginError::BadPort),
            ("https://政府.tw", OriginError::NotAscii),
            ("https://a.gov.tw\u{0}", OriginError::BadCharacter),
            ("https://a.gov.tw\n", OriginError::BadCharacter),
            (" https://a.gov.tw", OriginError::BadCharacter),
            ("ht tp://a", OriginError::BadCharacter),
            ("1https://a.gov.tw", OriginError::BadScheme),
            ("://a.gov.tw", OriginError::BadScheme),
            (long_host.as_str(), OriginError::HostTooLong),
        ];
        for (raw, want) in cases {
            assert_eq!(reason(raw), *want, "{raw:?}");
        }
        let too_long = format!("https://{}.tw", "a.".repeat(150));
        assert_eq!(reason(&too_long), OriginError::TooLong);
    }

    #[test]
    fn lookalike_hosts_stay_distinct() {
        let o = Origin::parse("https://a.gov.tw.evil.com").unwrap();
        assert_eq!(o.host(), "a.gov.tw.evil.com");
        assert_ne!(o, Origin::parse("https://a.gov.tw").unwrap());
    }

    #[test]
    fn secure_contexts() {
        for raw in [
            "https://a.gov.tw",
            "https://localhost",
            "http://localhost:8080",
            "http://127.0.0.1",
            "http://[::1]:3000",
        ] {
            assert!(Origin::parse(raw).unwrap().is_secure_context(), "{raw}");
            assert!(Origin::parse_page(raw).is_ok(), "{raw}");
        }
        for raw in [
            "http://a.gov.tw",
            "http://127.0.0.2",
            "http://localhost.evil.com",
            "chrome-extension://abcdefghijklmnop",
            "ws://localhost",
        ] {
            let o = Origin::parse(raw).unwrap();
            assert!(!o.is_secure_context(), "{raw}");
            match Origin::parse_page(raw) {
                Err(e @ Error::InsecureOrigin { .. }) => {
                    assert_eq!(e.code(), card_agent_protocol::ErrorCode::SiteNotTrusted);
                    assert!(e.user_message(Language::En).contains("https"), "{e}");
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
    }

    #[test]
    fn errors_show_bounded_escaped_input() {
        let raw = format!("javascript:{}\n", "x".repeat(500));
        let e = Origin::parse(&raw).unwrap_err();
        let text = e.to_string();
        assert!(text.len() < 250, "{text}");
        assert!(!text.contains('\n'));
        assert_eq!(e.code(), card_agent_protocol::ErrorCode::BadRequest);
        assert!(e.user_message(Language::ZhTw).contains("來源網址"));
    }

    #[test]
    fn every_reason_has_both_languages() {
        for r in [
            OriginError::Empty,
            OriginError::Opaque,
            OriginError::BadPort,
        ] {
            assert_eq!(r.message(Language::En), r.to_string());
            assert!(!r.message(Language::ZhTw).is_empty());
        }
    }
}
