//! `trusted_sites` patterns from the configuration: exact origins or a leftmost-label wildcard.

use card_agent_protocol::Language;

use super::origin::{is_ipv4, is_loopback_host, parse_parts, shown, Origin, OriginError};
use crate::error::{Error, Reason, Result};

/// Second-level domains under `.tw` that anyone can register. A wildcard over one of them
/// (`*.com.tw`) would trust every Taiwanese company's site and any attacker who buys a name, so
/// it is refused like a whole top-level domain. Restricted registries (`gov.tw`, `edu.tw`,
/// `mil.tw`) are deliberately absent: `*.gov.tw` is the intended way to trust government sites.
const OPEN_SECOND_LEVEL: &[&str] = &[
    "com.tw", "net.tw", "org.tw", "idv.tw", "game.tw", "ebiz.tw", "club.tw",
];

/// Why a `trusted_sites` entry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SitePatternError {
    /// The part after the wildcard is not a valid origin.
    NotAnOrigin(OriginError),
    /// The pattern would trust a whole top-level domain, an open registry, or everything.
    TooBroad,
    /// A `*` anywhere but as the whole leftmost label, or a wildcard over an address.
    BadWildcard,
    /// Only https, or http on localhost / 127.0.0.1 / `[::1]` without a wildcard, can be trusted.
    SchemeNotAllowed,
}

impl SitePatternError {
    /// The reason in the given language (catalogue keys `policy.pattern.*`).
    pub fn message(self, lang: Language) -> &'static str {
        Reason::from(self).message(lang)
    }

    /// The reason's catalogue key.
    pub fn key(self) -> &'static str {
        match self {
            SitePatternError::NotAnOrigin(e) => e.key(),
            SitePatternError::TooBroad => "policy.pattern.too_broad",
            SitePatternError::BadWildcard => "policy.pattern.bad_wildcard",
            SitePatternError::SchemeNotAllowed => "policy.pattern.scheme_not_allowed",
        }
    }
}

impl From<SitePatternError> for Reason {
    fn from(e: SitePatternError) -> Self {
        Reason::from_catalogue(e.key())
    }
}

// Tests and callers compare a refusal's reason with the rule that made it.
impl PartialEq<SitePatternError> for Reason {
    fn eq(&self, other: &SitePatternError) -> bool {
        self.key() == other.key()
    }
}

impl From<OriginError> for SitePatternError {
    fn from(e: OriginError) -> Self {
        SitePatternError::NotAnOrigin(e)
    }
}

impl std::fmt::Display for SitePatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message(Language::En))
    }
}

impl std::error::Error for SitePatternError {}

/// One `trusted_sites` entry: an exact origin (`https://www.etax.nat.gov.tw`) or a wildcard on
/// the leftmost label (`https://*.gov.tw`, which matches `https://a.gov.tw` and
/// `https://a.b.gov.tw` but not `https://gov.tw`, `https://evilgov.tw` or `http://a.gov.tw`).
/// A port in the pattern must match exactly; no port means the scheme's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitePattern {
    /// For an exact pattern, the origin itself; for a wildcard, the origin of the base domain.
    base: Origin,
    wildcard: bool,
}

impl SitePattern {
    /// Parses a pattern from the configuration, refusing anything too broad or not an origin.
    pub fn parse(text: &str) -> Result<SitePattern> {
        // Surrounding blanks in a config value are a typing accident, not a different site.
        let text = text.trim();
        parse_inner(text).map_err(|reason| Error::BadSitePattern {
            pattern: shown(text),
            reason: reason.into(),
        })
    }

    /// Parses every entry of a `trusted_sites` list; the first bad entry is the error.
    pub fn parse_list<S: AsRef<str>>(texts: &[S]) -> Result<Vec<SitePattern>> {
        texts
            .iter()
            .map(|t| SitePattern::parse(t.as_ref()))
            .collect()
    }

    /// True when the origin is covered by this pattern: same scheme, same port, and the same
    /// host or (for a wildcard) a host strictly below the base domain.
    pub fn matches(&self, origin: &Origin) -> bool {
        if origin.scheme() != self.base.scheme() || origin.port() != self.base.port() {
            return false;
        }
        let (host, base) = (origin.host(), self.base.host());
        if !self.wildcard {
            return host == base;
        }
        // Hosts are validated (no empty labels), so "ends with .base" means "is below base";
        // the dot is what keeps evilgov.tw out of *.gov.tw.
        host.len() > base.len() + 1
            && host.ends_with(base)
            && host.as_bytes()[host.len() - base.len() - 1] == b'.'
    }

    /// True for a `*.` pattern.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }
}

impl std::fmt::Display for SitePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.wildcard {
            return f.write_str(self.base.as_str());
        }
        write!(f, "{}://*.{}", self.base.scheme(), self.base.host())?;
        match self.base.port() {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

fn parse_inner(text: &str) -> std::result::Result<SitePattern, SitePatternError> {
    if text == "*" {
        return Err(SitePatternError::TooBroad);
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        // Not an origin at all; let the origin parser name the exact reason.
        return Err(parse_parts(text)
            .err()
            .unwrap_or(OriginError::NoScheme)
            .into());
    };
    let (wildcard, rest) = match rest.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    if rest.contains('*') {
        // `https://*` or `https://*:8443` would be every site; anything else is a misplaced star.
        let host_part = rest.split([':', '/']).next().unwrap_or_default();
        return Err(if host_part == "*" && !wildcard {
            SitePatternError::TooBroad
        } else {
            SitePatternError::BadWildcard
        });
    }
    let base = parse_parts(&format!("{scheme}://{rest}"))?;
    match base.scheme() {
        "https" => {}
        "http" if !wildcard && is_loopback_host(base.host()) => {}
        _ => return Err(SitePatternError::SchemeNotAllowed),
    }
    if wildcard {
        let host = base.host();
        if is_ipv4(host) || host.starts_with('[') {
            return Err(SitePatternError::BadWildcard);
        }
        if !host.contains('.') || OPEN_SECOND_LEVEL.contains(&host) {
            return Err(SitePatternError::TooBroad);
        }
    }
    Ok(SitePattern { base, wildcard })
}

#[cfg(test)]
// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pat(s: &str) -> SitePattern {
        SitePattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn origin(s: &str) -> Origin {
        Origin::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn matching_table() {
        let table: &[(&str, &str, bool)] = &[
            (
                "https://www.etax.nat.gov.tw",
                "https://www.etax.nat.gov.tw",
                true,
            ),
            (
                "https://www.etax.nat.gov.tw",
                "https://WWW.ETAX.NAT.GOV.TW:443/",
                true,
            ),
            (
                "https://www.etax.nat.gov.tw",
                "https://etax.nat.gov.tw",
                false,
            ),
            (
                "https://www.etax.nat.gov.tw",
                "https://x.www.etax.nat.gov.tw",
                false,
            ),
            (
                "https://www.etax.nat.gov.tw",
                "http://www.etax.nat.gov.tw",
                false,
            ),
            (
                "https://www.etax.nat.gov.tw",
                "https://www.etax.nat.gov.tw:8443",
                false,
            ),
            ("https://*.gov.tw", "https://a.gov.tw", true),
            ("https://*.gov.tw", "https://a.b.gov.tw", true),
            ("https://*.gov.tw", "https://gov.tw", false),
            ("https://*.gov.tw", "https://evilgov.tw", false),
            ("https://*.gov.tw", "https://a.evilgov.tw", false),
            ("https://*.gov.tw", "http://a.gov.tw", false),
            ("https://*.gov.tw", "https://a.gov.tw.evil.com", false),
            ("https://*.gov.tw", "https://a.gov.tw:8443", false),
            ("https://*.gov.tw:8443", "https://a.gov.tw:8443", true),
            ("https://*.gov.tw:8443", "https://a.gov.tw", false),
            ("https://*.gov.tw:443", "https://a.gov.tw", true),
            ("http://localhost:8080", "http://localhost:8080", true),
            ("http://localhost:8080", "http://localhost", false),
            ("http://localhost:8080", "https://localhost:8080", false),
            ("https://localhost", "https://localhost", true),
        ];
        for (p, o, want) in table {
            assert_eq!(pat(p).matches(&origin(o)), *want, "{p} vs {o}");
        }
    }

    #[test]
    fn refused_patterns() {
        let cases: &[(&str, SitePatternError)] = &[
            ("*", SitePatternError::TooBroad),
            ("https://*", SitePatternError::TooBroad),
            ("https://*:8443", SitePatternError::TooBroad),
            ("https://*.tw", SitePatternError::TooBroad),
            ("https://*.com", SitePatternError::TooBroad),
            ("https://*.com.tw", SitePatternError::TooBroad),
            ("https://*.localhost", SitePatternError::TooBroad),
            ("https://*.*.gov.tw", SitePatternError::BadWildcard),
            ("https://a.*.gov.tw", SitePatternError::BadWildcard),
            ("https://*gov.tw", SitePatternError::BadWildcard),
            ("https://*.1.2.3.4", SitePatternError::BadWildcard),
            ("http://*.gov.tw", SitePatternError::SchemeNotAllowed),
            ("http://a.gov.tw", SitePatternError::SchemeNotAllowed),
            ("http://*.localhost", SitePatternError::SchemeNotAllowed),
            ("ftp://a.gov.tw", SitePatternError::SchemeNotAllowed),
            (
                "chrome-extension://abcdefghijklmnop",
                SitePatternError::SchemeNotAllowed,
            ),
            (
                "www.etax.nat.gov.tw",
                SitePatternError::NotAnOrigin(OriginError::NoScheme),
            ),
            (
                "https://a.gov.tw/path",
                SitePatternError::NotAnOrigin(OriginError::HasPath),
            ),
            ("", SitePatternError::NotAnOrigin(OriginError::Empty)),
        ];
        for (text, want) in cases {
            match SitePattern::parse(text) {
                Err(Error::BadSitePattern { reason, .. }) => assert_eq!(reason, *want, "{text}"),
                other => panic!("{text:?} should be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn display_is_canonical_and_errors_are_bilingual() {
        assert_eq!(
            pat(" https://*.GOV.tw:443/ ").to_string(),
            "https://*.gov.tw"
        );
        assert_eq!(
            pat("https://*.gov.tw:8443").to_string(),
            "https://*.gov.tw:8443"
        );
        assert_eq!(
            pat("http://localhost:3000/").to_string(),
            "http://localhost:3000"
        );
        assert!(pat("https://*.gov.tw").is_wildcard());
        let e = SitePattern::parse("https://*.tw").unwrap_err();
        assert_eq!(e.code(), card_agent_protocol::ErrorCode::BadRequest);
        assert!(e.user_message(Language::En).contains("https://*.tw"));
        assert!(e.user_message(Language::En).contains("too broad"));
        assert!(e.user_message(Language::ZhTw).contains("範圍過大"));
        assert!(SitePattern::parse_list(&["https://*.gov.tw", "*"]).is_err());
        assert_eq!(
            SitePattern::parse_list(&["https://*.gov.tw"])
                .map(|v| v.len())
                .ok(),
            Some(1)
        );
    }
}
