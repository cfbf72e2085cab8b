//! The certificate checks: validity and the clock they depend on (the signature chain is
//! [`super::chain`]).

use card_agent_protocol::Language;

use super::gather::{CardFacts, Platform};
use super::token::cert_label;
use super::{date, f, item, t, Check, Fix, Item, Status};

/// Days before expiry from which renewal is urged: renewal opens one month before expiry, and
/// after expiry the holder has to apply again in person.
const RENEW_WITHIN_DAYS: i64 = 30;

/// 2026-01-01T00:00:00Z. This version of card-agent was built after it, so a clock showing an
/// earlier time is certainly wrong (and makes certificates look not yet valid).
pub(super) const BUILT_AFTER: i64 = 1_767_225_600;

/// `certificate-validity`: expired, expiring within a month, or fine with days left.
pub(super) fn validity(facts: &CardFacts, now: i64, lang: Language) -> Check {
    let id = "certificate-validity";
    let items: Vec<Item> = facts
        .holder_certificates()
        .map(|(_, c)| {
            let info = &c.info;
            let name = cert_label(info, lang);
            let days = info.days_to_expiry(now);
            let end = date(info.not_after);
            if now < info.not_before {
                let start = date(info.not_before);
                item(
                    Status::Failed,
                    f(
                        lang,
                        "doctor.validity.item_not_yet",
                        &[("name", &name), ("date", &start)],
                    ),
                )
            } else if now > info.not_after {
                item(
                    Status::Failed,
                    f(
                        lang,
                        "doctor.validity.item_expired",
                        &[("name", &name), ("date", &end)],
                    ),
                )
            } else if days <= RENEW_WITHIN_DAYS {
                item(
                    Status::Warning,
                    f(
                        lang,
                        "doctor.validity.item_soon",
                        &[("name", &name), ("date", &end), ("days", &days)],
                    ),
                )
            } else {
                item(
                    Status::Ok,
                    f(
                        lang,
                        "doctor.validity.item_ok",
                        &[("name", &name), ("date", &end), ("days", &days)],
                    ),
                )
            }
        })
        .collect();
    if items.is_empty() {
        return Check::new(
            id,
            lang,
            Status::Skipped,
            t(lang, "doctor.validity.skipped"),
        );
    }
    let key = match items.iter().map(|i| i.status).max() {
        Some(Status::Failed) => "doctor.validity.expired",
        Some(Status::Warning) => "doctor.validity.renew",
        _ => "doctor.validity.ok",
    };
    Check::new(id, lang, Status::Ok, t(lang, key)).with_items(items)
}

/// `clock`: not before this build, and not before any certificate on the card began.
pub(super) fn clock(facts: &CardFacts, now: i64, lang: Language) -> Check {
    let id = "clock";
    let now_text = crate::inventory::rfc3339(now);
    if now < BUILT_AFTER {
        let explanation = f(
            lang,
            "doctor.clock.before_build",
            &[("now", &now_text), ("build", &date(BUILT_AFTER))],
        );
        return Check::new(id, lang, Status::Failed, explanation)
            .with_fix(clock_fix(facts.platform, lang));
    }
    // A certificate is issued when it begins; one that begins after "now" means the clock is
    // behind. (A clock ahead looks like an expired certificate, which the validity check
    // reports with a word about the clock.)
    if let Some((_, c)) = facts
        .holder_certificates()
        .find(|(_, c)| c.info.not_before > now)
    {
        let explanation = f(
            lang,
            "doctor.clock.behind",
            &[
                ("now", &now_text),
                ("name", &cert_label(&c.info, lang)),
                ("date", &date(c.info.not_before)),
            ],
        );
        return Check::new(id, lang, Status::Failed, explanation)
            .with_fix(clock_fix(facts.platform, lang));
    }
    Check::new(
        id,
        lang,
        Status::Ok,
        f(lang, "doctor.clock.ok", &[("now", &now_text)]),
    )
}

/// The command that sets the clock from the network on this kind of machine.
fn clock_fix(platform: Platform, lang: Language) -> Option<Fix> {
    let (label, command) = match platform {
        Platform::Windows => ("doctor.fix.run_as_admin", "w32tm /resync"),
        Platform::MacOs => ("doctor.fix.run_in_terminal", "sudo sntp -sS time.apple.com"),
        Platform::Other => return None,
        _ => (
            "doctor.fix.run_in_terminal",
            "sudo timedatectl set-ntp true",
        ),
    };
    Some(Fix::Command {
        label: t(lang, label),
        command: command.to_owned(),
    })
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testing::{demo_certificates, demo_validity, healthy, token_facts};
    use super::*;
    use crate::pin::PinState;

    const EN: Language = Language::En;
    const DAY: i64 = 86_400;

    #[test]
    fn validity_from_fine_to_expired() {
        let facts = healthy();
        let (start, end) = demo_validity();
        let at = |now| validity(&facts, now, EN);
        let fine = at(start + 10 * DAY);
        assert_eq!(fine.status, Status::Ok);
        assert!(fine.items[0].text.contains("days left"), "{fine:#?}");
        let soon = at(end - 10 * DAY);
        assert_eq!(soon.status, Status::Warning);
        assert!(soon.explanation.contains("month before"), "{soon:#?}");
        assert!(soon.items[0].text.contains("10 days"), "{soon:#?}");
        let expired = at(end + DAY);
        assert_eq!(expired.status, Status::Failed);
        assert!(expired.items[0].text.contains("expired"), "{expired:#?}");
        assert_eq!(at(start - DAY).status, Status::Failed);
        let zh = validity(&facts, end - 10 * DAY, Language::ZhTw);
        assert!(zh.explanation.contains("展期"), "{zh:#?}");
    }

    #[test]
    fn the_clock_is_checked_against_the_build_and_the_certificates() {
        let facts = healthy();
        let (start, _) = demo_validity();
        let now = start.max(BUILT_AFTER) + DAY;
        assert_eq!(clock(&facts, now, EN).status, Status::Ok);
        let early = clock(&facts, BUILT_AFTER - DAY, EN);
        assert_eq!(early.status, Status::Failed);
        assert!(
            matches!(early.fix, Some(Fix::Command { command, .. }) if command.contains("timedatectl"))
        );
        // A certificate that begins after "now" means the clock is behind.
        let mut certs = demo_certificates();
        certs[0].info.not_before = now + 10 * DAY;
        let mut facts = healthy();
        facts.tokens = Ok(vec![token_facts("TP1", "r", PinState::Ok, certs)]);
        let behind = clock(&facts, now, EN);
        assert_eq!(behind.status, Status::Failed);
        assert!(behind.explanation.contains("DEMO"), "{behind:#?}");
    }
}
