//! The timeout ladder, written once: how long each layer waits, so that every outer wait is
//! longer than the inner one — page > extension > daemon > dialog.
//!
//! When an inner layer gives up, the outer one still hears why (a TIMEOUT from the daemon
//! reaches the page as TIMEOUT, not as silence). When an outer layer gives up first, the
//! request's dialog would stay on screen and a PIN typed then would sign for nobody; the
//! ladder makes that impossible, and the daemon's own deadline closes the dialog and starts no
//! card operation after it.
//!
//! | layer | interactive (`sign`, `authenticate`, `verify-pin`, `self-test-sign`, `smartpki-call`) | inventory (`status`, `get-certificates`, `environment-check`, `smartpki-open`) | `legacy-request` | quick (`version`, …) |
//! |---|---|---|---|---|
//! | page library (`card-agent.js`), legacy shim | [`PAGE_INTERACTIVE`] | [`PAGE_INVENTORY`] | [`PAGE_LEGACY`] | [`PAGE_QUICK`] |
//! | extension service worker | [`EXTENSION_INTERACTIVE`] | [`EXTENSION_INVENTORY`] | [`EXTENSION_LEGACY`] | [`EXTENSION_QUICK`] |
//! | daemon, at most ([`daemon_budget`]) | [`DAEMON_INTERACTIVE`] | [`DAEMON_INVENTORY`] | [`DAEMON_LEGACY`] | [`DAEMON_QUICK`] |
//! | one dialog (PIN prompt or site question) | [`DIALOG`] | [`DIALOG`] | [`DIALOG`] | — |
//!
//! The extension's and the page library's numbers are in milliseconds in
//! `extension/lib/protocol.js`, `extension/page/card-agent.js` and `extension/legacy-shim.js`;
//! a test keeps them equal to these.

use std::time::Duration;

/// One dialog: the PIN prompt or the site question, from opening to the user's answer.
pub const DIALOG: Duration = Duration::from_secs(120);
/// A card operation once its PIN is in: login and the private-key operation on a slow card,
/// or reading a token's certificates, behind another request's turn.
pub const CARD: Duration = Duration::from_secs(30);
/// What each outer layer adds to the inner one's budget: the hops between them.
pub const MARGIN: Duration = Duration::from_secs(10);

/// The daemon, for a command that may show the site question and then the PIN prompt, then
/// use the card.
pub const DAEMON_INTERACTIVE: Duration = sum(&[DIALOG, DIALOG, CARD]);
/// The daemon, for a command that may show the site question (a page's first request), then
/// read the card.
pub const DAEMON_INVENTORY: Duration = sum(&[DIALOG, CARD]);
/// The daemon, for a legacy page's call: at most one dialog (the PIN prompt; legacy pages ask
/// for trust with `/addDomain`, itself one dialog), then the card.
pub const DAEMON_LEGACY: Duration = sum(&[DIALOG, CARD]);
/// The daemon, for what answers from memory (`version`).
pub const DAEMON_QUICK: Duration = Duration::from_secs(5);

/// The extension's service worker (interactive commands).
pub const EXTENSION_INTERACTIVE: Duration = sum(&[DAEMON_INTERACTIVE, MARGIN]);
/// The extension's service worker (inventory commands).
pub const EXTENSION_INVENTORY: Duration = sum(&[DAEMON_INVENTORY, MARGIN]);
/// The extension's service worker (`legacy-request`).
pub const EXTENSION_LEGACY: Duration = sum(&[DAEMON_LEGACY, MARGIN]);
/// The extension's service worker (quick commands).
pub const EXTENSION_QUICK: Duration = sum(&[DAEMON_QUICK, MARGIN]);

/// The page library (interactive commands).
pub const PAGE_INTERACTIVE: Duration = sum(&[EXTENSION_INTERACTIVE, MARGIN]);
/// The page library (inventory commands).
pub const PAGE_INVENTORY: Duration = sum(&[EXTENSION_INVENTORY, MARGIN]);
/// The legacy shim (a legacy page's call carried by the extension).
pub const PAGE_LEGACY: Duration = sum(&[EXTENSION_LEGACY, MARGIN]);
/// The page library (quick commands).
pub const PAGE_QUICK: Duration = sum(&[EXTENSION_QUICK, MARGIN]);

/// What a command asks of the layers below the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// May show the PIN prompt and use the card's key.
    Interactive,
    /// Reads the card.
    Inventory,
    /// A legacy page's call.
    Legacy,
    /// Answers from memory.
    Quick,
}

impl Kind {
    /// The kind of the command named `name` (its wire name).
    pub fn of(name: &str) -> Kind {
        match name {
            // A SmartPKI step may sign with the card (and, on its final try, show the PIN
            // prompt instead of using the page's PIN).
            "sign" | "authenticate" | "verify-pin" | "self-test-sign" | "smartpki-call" => {
                Kind::Interactive
            }
            // Opening a SmartPKI port may show the site question, then makes the port's key.
            "status"
            | "get-certificates"
            | "environment-check"
            | "trusted-sites"
            | "remove-trusted-site"
            | "smartpki-open" => Kind::Inventory,
            "legacy-request" => Kind::Legacy,
            _ => Kind::Quick,
        }
    }
}

/// How long the daemon lets one request take: a dialog for each one it may show (the site
/// question only for a page that may not be trusted yet, the PIN prompt only for an
/// interactive command), plus the card. Never more than the extension's wait for that kind.
pub fn daemon_budget(kind: Kind, may_ask_site: bool) -> Duration {
    let site = if may_ask_site { DIALOG } else { Duration::ZERO };
    match kind {
        Kind::Interactive => sum(&[site, DIALOG, CARD]),
        Kind::Inventory => sum(&[site, CARD]),
        Kind::Legacy => DAEMON_LEGACY,
        Kind::Quick => DAEMON_QUICK,
    }
}

const fn sum(parts: &[Duration]) -> Duration {
    let mut total = Duration::ZERO;
    let mut i = 0;
    while i < parts.len() {
        total = total.saturating_add(parts[i]);
        i += 1;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outer_wait_is_longer_than_the_inner_one() {
        for (page, extension, daemon) in [
            (PAGE_INTERACTIVE, EXTENSION_INTERACTIVE, DAEMON_INTERACTIVE),
            (PAGE_INVENTORY, EXTENSION_INVENTORY, DAEMON_INVENTORY),
            (PAGE_LEGACY, EXTENSION_LEGACY, DAEMON_LEGACY),
            (PAGE_QUICK, EXTENSION_QUICK, DAEMON_QUICK),
        ] {
            assert!(
                page > extension && extension > daemon,
                "{page:?} {extension:?} {daemon:?}"
            );
        }
        for daemon in [DAEMON_INTERACTIVE, DAEMON_INVENTORY, DAEMON_LEGACY] {
            assert!(daemon > DIALOG);
        }
        // Two dialogs (the site question, then the PIN prompt) fit in one interactive request.
        assert!(DAEMON_INTERACTIVE > DIALOG + DIALOG);
    }

    #[test]
    fn the_daemon_never_waits_longer_than_the_extension() {
        for kind in [
            Kind::Interactive,
            Kind::Inventory,
            Kind::Legacy,
            Kind::Quick,
        ] {
            let extension = match kind {
                Kind::Interactive => EXTENSION_INTERACTIVE,
                Kind::Inventory => EXTENSION_INVENTORY,
                Kind::Legacy => EXTENSION_LEGACY,
                Kind::Quick => EXTENSION_QUICK,
            };
            for site in [false, true] {
                assert!(daemon_budget(kind, site) < extension, "{kind:?} {site}");
            }
        }
        assert_eq!(daemon_budget(Kind::Interactive, true), DAEMON_INTERACTIVE);
        assert_eq!(daemon_budget(Kind::Inventory, true), DAEMON_INVENTORY);
        assert_eq!(Kind::of("self-test-sign"), Kind::Interactive);
        assert_eq!(Kind::of("legacy-request"), Kind::Legacy);
        assert_eq!(Kind::of("version"), Kind::Quick);
        assert_eq!(Kind::of("smartpki-open"), Kind::Inventory);
        assert_eq!(Kind::of("smartpki-call"), Kind::Interactive);
        assert_eq!(Kind::of("smartpki-close"), Kind::Quick);
    }
}
