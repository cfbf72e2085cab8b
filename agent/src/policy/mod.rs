//! The trusted-site policy, in one place: which web pages may use the card.
//!
//! A site is trusted when the configuration's `trusted_sites` patterns cover it or when the user
//! approved it in the native confirmation dialog. Nothing a page sends can change the policy:
//! the origin comes from the browser, and only [`Policy::approve`], called after the user said
//! yes in the native confirmation dialog (`pinentry::PinDialog::confirm_site`), adds a site.
//!
//! - [`origin`]: strict parsing of browser-supplied origins and the secure-context rule.
//! - [`pattern`]: `trusted_sites` patterns (exact origins, `https://*.gov.tw`).
//! - [`approvals`]: the user's approvals, persisted in `trusted-sites.json`.
//!
//! Error codes: a malformed origin is `BAD_REQUEST` (the browser or extension sent something
//! that is not an origin); a well-formed but insecure origin (plain http on a public host,
//! `chrome-extension:`) is `SITE_NOT_TRUSTED`, because to the page it means the same thing as
//! an unapproved site: this origin may not use the card, and only moving to https fixes it.

pub mod approvals;
pub mod origin;
pub mod pattern;

use std::path::PathBuf;

pub use approvals::{Approvals, ApprovedSite};
pub use origin::{Origin, OriginError};
pub use pattern::{SitePattern, SitePatternError};

use crate::error::{Error, Result};

/// What the policy says about an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteDecision {
    /// Covered by `trusted_sites` or approved by the user: may use the card (the PIN is still
    /// asked for in the native dialog).
    Trusted,
    /// Unknown: the user must approve it in the native confirmation dialog first.
    NeedsApproval,
}

/// The configured patterns and the user's approvals.
#[derive(Debug)]
pub struct Policy {
    patterns: Vec<SitePattern>,
    approvals: Approvals,
}

impl Policy {
    /// A policy from already parsed patterns and loaded approvals.
    pub fn new(patterns: Vec<SitePattern>, approvals: Approvals) -> Policy {
        Policy {
            patterns,
            approvals,
        }
    }

    /// Builds the policy from the config key `trusted_sites` and the approvals file (the daemon
    /// passes `<per-user state dir>/trusted-sites.json`). Any bad pattern or unreadable file is
    /// an error: starting with a silently different policy would surprise the user.
    pub fn load<S: AsRef<str>>(
        trusted_sites: &[S],
        approvals_path: impl Into<PathBuf>,
    ) -> Result<Policy> {
        Ok(Policy::new(
            SitePattern::parse_list(trusted_sites)?,
            Approvals::load(approvals_path)?,
        ))
    }

    /// Decides whether `origin` may use the card. An origin that is not a secure context is
    /// never [`SiteDecision::Trusted`]: patterns only admit https and http-on-loopback, and
    /// approvals refuse anything else. Callers should still parse page origins with
    /// [`Origin::parse_page`], which refuses insecure origins with a clear error up front.
    pub fn decide(&self, origin: &Origin) -> SiteDecision {
        // Patterns trust secure sites only. The user's own approval may also name a plain
        // http intranet site, approved in a dialog that said it is not secure.
        let trusted = self.approvals.contains(origin)
            || (origin.is_secure_context() && self.patterns.iter().any(|p| p.matches(origin)));
        if trusted {
            SiteDecision::Trusted
        } else {
            SiteDecision::NeedsApproval
        }
    }

    /// `Ok` when the origin is trusted, else [`Error::SiteNotTrusted`] (or
    /// [`Error::InsecureOrigin`]), for commands that must not open a confirmation dialog.
    pub fn require_trusted(&self, origin: &Origin) -> Result<()> {
        if !origin.is_secure_context() && !self.approvals.contains(origin) {
            return Err(Error::InsecureOrigin {
                origin: origin.to_string(),
            });
        }
        match self.decide(origin) {
            SiteDecision::Trusted => Ok(()),
            SiteDecision::NeedsApproval => Err(Error::SiteNotTrusted {
                origin: origin.to_string(),
            }),
        }
    }

    /// Records that the user approved `origin` in the native dialog; see [`Approvals::approve`].
    pub fn approve(&mut self, origin: &Origin, now_rfc3339: &str) -> Result<()> {
        self.approvals.approve(origin, now_rfc3339)
    }

    /// The configured patterns.
    pub fn patterns(&self) -> &[SitePattern] {
        &self.patterns
    }

    /// The user's approvals.
    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }

    /// The user's approvals, to withdraw one ([`Approvals::remove`]) on the user's request.
    pub fn approvals_mut(&mut self) -> &mut Approvals {
        &mut self.approvals
    }
}

#[cfg(test)]
// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use card_agent_protocol::{ErrorCode, Language};

    fn origin(s: &str) -> Origin {
        Origin::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn patterns_and_approvals_decide() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted-sites.json");
        let mut policy =
            Policy::load(&["https://*.gov.tw", "http://localhost:8080"], &path).unwrap();
        assert_eq!(policy.patterns().len(), 2);

        assert_eq!(
            policy.decide(&origin("https://www.etax.nat.gov.tw")),
            SiteDecision::Trusted
        );
        assert_eq!(
            policy.decide(&origin("http://localhost:8080")),
            SiteDecision::Trusted
        );
        let shop = origin("https://shop.example.com");
        assert_eq!(policy.decide(&shop), SiteDecision::NeedsApproval);
        let e = policy.require_trusted(&shop).unwrap_err();
        assert_eq!(e.code(), ErrorCode::SiteNotTrusted);
        assert!(e
            .user_message(Language::En)
            .contains("https://shop.example.com"));
        assert!(e.user_message(Language::ZhTw).contains("信任網站"));

        policy.approve(&shop, "2025-01-31T08:00:00Z").unwrap();
        assert_eq!(policy.decide(&shop), SiteDecision::Trusted);
        assert!(policy.require_trusted(&shop).is_ok());

        // The approval survives a restart; a withdrawal too.
        let mut again = Policy::load(&["https://*.gov.tw"], &path).unwrap();
        assert_eq!(again.decide(&shop), SiteDecision::Trusted);
        assert!(again.approvals_mut().remove(&shop).unwrap());
        assert_eq!(again.decide(&shop), SiteDecision::NeedsApproval);
        assert!(again.approvals().is_empty());
    }

    #[test]
    fn insecure_origins_are_never_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let policy = Policy::load(&["https://*.gov.tw"], dir.path().join("t.json")).unwrap();
        let plain = origin("http://www.gov.tw");
        assert_eq!(policy.decide(&plain), SiteDecision::NeedsApproval);
        let e = policy.require_trusted(&plain).unwrap_err();
        assert!(matches!(e, Error::InsecureOrigin { .. }), "{e:?}");
        assert_eq!(e.code(), ErrorCode::SiteNotTrusted);
        assert!(e.user_message(Language::ZhTw).contains("https"));
    }

    #[test]
    fn a_bad_pattern_stops_the_load() {
        let dir = tempfile::tempdir().unwrap();
        let e = Policy::load(
            &["https://*.gov.tw", "https://*.tw"],
            dir.path().join("t.json"),
        )
        .unwrap_err();
        assert!(matches!(e, Error::BadSitePattern { .. }), "{e:?}");
    }
}
