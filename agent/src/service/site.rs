//! The trusted-site rule, applied to every request from a page, on every channel.

use card_agent_protocol::message::{TrustedSite, TrustedSitesResult};

use super::{Caller, Service};
use crate::error::{Error, Result};
use crate::policy::{Origin, SiteDecision};

impl Service {
    /// Lets a caller through, or refuses it. Local callers (no origin) pass. A page's origin
    /// must be a secure context and trusted by `trusted_sites` or an earlier approval; an
    /// unknown site is shown to the user in a native confirmation that names it, and the answer
    /// is remembered only when it is yes.
    pub fn admit(&self, caller: &Caller) -> Result<()> {
        let Some(origin) = &caller.origin else {
            return Ok(());
        };
        if !origin.is_secure_context() {
            return Err(Error::InsecureOrigin {
                origin: origin.to_string(),
            });
        }
        if self.decide(origin)? == SiteDecision::Trusted {
            return Ok(());
        }
        if self.ask_user_to_trust(caller)? {
            Ok(())
        } else {
            Err(Error::SiteNotTrusted {
                origin: origin.to_string(),
            })
        }
    }

    /// Lets a caller through only when the policy already trusts its site, without asking: for
    /// requests that must not open a dialog (a subscription to card events, the legacy API,
    /// whose pages call `/addDomain` to ask). Local callers pass.
    pub fn admit_without_asking(&self, caller: &Caller) -> Result<()> {
        match &caller.origin {
            None => Ok(()),
            Some(origin) => self.policy()?.require_trusted(origin),
        }
    }

    /// Asks the user whether the caller's site may use the card, and records a yes. The page
    /// never reaches this without the user seeing the site's name in the agent's own dialog.
    pub fn ask_user_to_trust(&self, caller: &Caller) -> Result<bool> {
        let Some(origin) = &caller.origin else {
            return Ok(true);
        };
        // Without a dialog nobody can say yes: the site stays untrusted.
        let Ok(dialog) = self.dialog(caller) else {
            return Ok(false);
        };
        let _turn = self.dialog_turn.lock().unwrap_or_else(|p| p.into_inner());
        // Another request may have approved the site while this one waited for the dialog.
        if self.decide(origin)? == SiteDecision::Trusted {
            return Ok(true);
        }
        // A plain http site (an intranet page of the legacy API) is named as not secure.
        let shown = if origin.is_secure_context() {
            origin.as_str().to_owned()
        } else {
            format!(
                "{origin} {}",
                card_agent_protocol::i18n::text(caller.lang, "pinentry.confirm.not_secure")
            )
        };
        let approved = match dialog.confirm_site(&shown, caller.lang) {
            Ok(answer) => answer,
            // A dialog that cannot be shown is a "no": the site stays untrusted. The reason
            // goes to the log for whoever runs the environment check.
            Err(e @ (Error::NoPinDialog { .. } | Error::PinDialog(_))) => {
                tracing::warn!(site = %origin, error = %e, "cannot ask the user about a site");
                false
            }
            Err(e) => return Err(e),
        };
        // Recorded before the turn passes on, so a request that waited for this dialog finds
        // the site approved instead of asking the user a second time.
        if approved {
            let now = crate::inventory::rfc3339(crate::inventory::now_unix());
            self.policy().map(|mut p| p.approve(origin, &now))??;
            tracing::info!(site = %origin, "site approved by the user");
        }
        Ok(approved)
    }

    /// The user's approvals and the configured patterns, for the tray's "Trusted sites" menu.
    pub fn trusted_sites(&self) -> Result<TrustedSitesResult> {
        let policy = self.policy()?;
        Ok(TrustedSitesResult {
            sites: policy
                .approvals()
                .list()
                .into_iter()
                .map(|s| TrustedSite {
                    origin: s.origin.to_string(),
                    approved_at: s.approved_at,
                })
                .collect(),
            configured: policy.patterns().iter().map(|p| p.to_string()).collect(),
        })
    }

    /// Withdraws the user's approval of `site`, in memory and in the file, on the user's
    /// request through a local client. Returns whether it was approved.
    pub fn remove_trusted_site(&self, site: &str) -> Result<bool> {
        let origin = Origin::parse(site)?;
        let removed = self.policy()?.approvals_mut().remove(&origin)?;
        if removed {
            tracing::info!(site = %origin, "site approval withdrawn by the user");
        }
        Ok(removed)
    }

    fn decide(&self, origin: &crate::policy::Origin) -> Result<SiteDecision> {
        Ok(self.policy()?.decide(origin))
    }

    /// The policy, for reading or for the tray's "Trusted sites" list.
    pub fn policy(&self) -> Result<std::sync::MutexGuard<'_, crate::policy::Policy>> {
        self.policy
            .lock()
            .map_err(|_| Error::Internal("policy lock poisoned".to_owned()))
    }
}
