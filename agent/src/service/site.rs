//! Admission: the trusted-site rule, applied inside every operation to every caller, and the
//! user's trusted-site list.
//!
//! | caller | admitted when |
//! |---|---|
//! | a page of card-agent's own API | its origin is a secure context and trusted by `trusted_sites` or an earlier approval; else the user is asked in the agent's own dialog naming the site, and a yes is remembered |
//! | a HiPKI or SmartPKI page | the same, but never asked: those pages ask through `/addDomain` |
//! | our own pages, local programs | always |
//!
//! A subscription to card events never asks either (it would open a dialog for a page that
//! did nothing but load).

use card_agent_protocol::message::{TrustedSite, TrustedSitesResult};
use card_agent_protocol::Language;

use super::{Api, Caller, Service, Who};
use crate::error::{Error, Result};
use crate::pinentry::Client;
use crate::policy::{Origin, SiteDecision};

impl Service {
    /// Lets a caller through, or refuses it (see the module's table).
    pub(super) fn admit(&self, caller: &Caller) -> Result<()> {
        match caller.who() {
            Who::Site {
                origin,
                api: Api::CardAgent,
            } => self.admit_asking(origin, caller.lang, &caller.client),
            _ => self.admit_without_asking(caller),
        }
    }

    /// Lets a caller through only when the policy already trusts its site, without asking.
    pub(super) fn admit_without_asking(&self, caller: &Caller) -> Result<()> {
        match caller.who() {
            // A HiPKI page on a plain http intranet site is admitted once the user approved it
            // through /addDomain, in a dialog that said it is not secure (the policy checks).
            Who::Site {
                origin,
                api: Api::HiPki,
            } => self.policy()?.require_trusted(origin),
            _ => match caller.site() {
                None => Ok(()),
                Some(origin) => {
                    secure(origin)?;
                    self.policy()?.require_trusted(origin)
                }
            },
        }
    }

    /// Whether the caller is admitted without a dialog: for the legacy API's CORS headers,
    /// which only a trusted site gets.
    pub fn is_trusted(&self, caller: &Caller) -> bool {
        caller.site().is_some() && self.admit_without_asking(caller).is_ok()
    }

    fn admit_asking(&self, origin: &Origin, lang: Language, client: &Client) -> Result<()> {
        secure(origin)?;
        if self.decide(origin)? == SiteDecision::Trusted {
            return Ok(());
        }
        if self.confirm_site(origin, lang, client)? {
            Ok(())
        } else {
            Err(Error::SiteNotTrusted {
                origin: origin.to_string(),
            })
        }
    }

    /// Asks the user whether `origin` may use the card, in the agent's own dialog naming the
    /// site, and records a yes (a page's `/addDomain`, a new page's first request). Without a
    /// dialog nobody can say yes: the answer is no.
    /// A plain http site (an intranet page of the legacy API, named by its `Referer`) may be
    /// asked about: the dialog says it is not secure. Other schemes are refused.
    pub fn confirm_site(&self, origin: &Origin, lang: Language, client: &Client) -> Result<bool> {
        if origin.scheme() != "http" {
            secure(origin)?;
        }
        let Ok(dialogs) = self.dialogs() else {
            return Ok(false);
        };
        let _turn = self.dialog_turn.lock().unwrap_or_else(|p| p.into_inner());
        // Another request may have approved the site while this one waited for the dialog.
        if self.decide(origin)? == SiteDecision::Trusted {
            return Ok(true);
        }
        let shown = if origin.is_secure_context() {
            origin.as_str().to_owned()
        } else {
            format!(
                "{origin} {}",
                card_agent_protocol::i18n::text(lang, "pinentry.confirm.not_secure")
            )
        };
        let approved = match dialogs.confirm_site(client, &shown, lang) {
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
    /// Local programs only.
    pub fn trusted_sites(&self, caller: &Caller) -> Result<TrustedSitesResult> {
        caller.require_local("trusted-sites")?;
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

    /// Withdraws the user's approval of `site`, in memory and in the file. Local programs
    /// only. Returns whether it was approved.
    pub fn remove_trusted_site(&self, caller: &Caller, site: &str) -> Result<bool> {
        caller.require_local("remove-trusted-site")?;
        let origin = Origin::parse(site)?;
        let removed = self.policy()?.approvals_mut().remove(&origin)?;
        if removed {
            tracing::info!(site = %origin, "site approval withdrawn by the user");
        }
        Ok(removed)
    }

    fn decide(&self, origin: &Origin) -> Result<SiteDecision> {
        Ok(self.policy()?.decide(origin))
    }

    fn policy(&self) -> Result<std::sync::MutexGuard<'_, crate::policy::Policy>> {
        self.policy
            .lock()
            .map_err(|_| Error::Internal("policy lock poisoned".to_owned()))
    }
}

/// Only a secure context (https, or http on loopback) can ever use the card.
fn secure(origin: &Origin) -> Result<()> {
    if origin.is_secure_context() {
        Ok(())
    } else {
        Err(Error::InsecureOrigin {
            origin: origin.to_string(),
        })
    }
}
