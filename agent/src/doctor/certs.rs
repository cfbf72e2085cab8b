//! The certificate checks: validity, the signature chain, and the clock they all depend on.

use card_agent_protocol::verifier::{verify_certificate_path, PathError, TrustStore};
use card_agent_protocol::Language;
use der::Decode;

use super::gather::{CaFile, CardFacts, Platform};
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

/// Where a verified path ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootKind {
    /// A root named as a test or demo root: never a government root.
    Test,
    /// A root from a file the user named in `extra_roots`.
    Configured,
    /// A self-signed root found only on the card, which card-agent cannot confirm is the
    /// government's (it carries no copy of GRCA and uses no network).
    CardOnly,
}

/// Whether a name marks a test or demo certificate (a word TEST or DEMO in it).
fn is_test_name(subject: &str) -> bool {
    subject
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("test") || w.eq_ignore_ascii_case("demo"))
}

fn root_kind(subject: &str, root_der: &[u8], configured: &[Vec<u8>]) -> RootKind {
    if is_test_name(subject) {
        RootKind::Test
    } else if configured.iter().any(|c| c == root_der) {
        RootKind::Configured
    } else {
        RootKind::CardOnly
    }
}

/// Self-signed certificates become roots, the others intermediates. No root fingerprint is
/// built in: only what the card carries and what the user configured is used.
fn trust_store<'a>(certificates: impl Iterator<Item = &'a Vec<u8>>) -> TrustStore {
    let mut store = TrustStore::new();
    for der in certificates {
        let self_signed = x509_cert::Certificate::from_der(der)
            .map(|c| c.tbs_certificate.subject == c.tbs_certificate.issuer)
            .unwrap_or(false);
        let added = if self_signed {
            store.add_roots(der)
        } else {
            store.add_intermediates(der)
        };
        if let Err(e) = added {
            tracing::warn!(error = %e, "CA certificate left out of the chain check");
        }
    }
    store
}

/// `certificate-chain`: does each holder certificate verify up to a root, and which root?
pub(super) fn chain(facts: &CardFacts, files: &[CaFile], now: i64, lang: Language) -> Check {
    let id = "certificate-chain";
    let holders: Vec<_> = facts.holder_certificates().collect();
    if holders.is_empty() {
        return Check::new(id, lang, Status::Skipped, t(lang, "doctor.chain.skipped"));
    }
    let mut items = Vec::new();
    let mut configured: Vec<Vec<u8>> = Vec::new();
    for file in files {
        match &file.certificates {
            Ok(certs) => configured.extend(certs.iter().cloned()),
            Err(reason) => items.push(item(
                Status::Warning,
                f(
                    lang,
                    "doctor.chain.item_file_error",
                    &[("file", &file.path.display()), ("reason", reason)],
                ),
            )),
        }
    }
    let card_cas: Vec<Vec<u8>> = facts
        .certificates()
        .filter(|(_, c)| c.info.is_ca)
        .map(|(_, c)| c.info.der.clone())
        .collect();
    let store = trust_store(card_cas.iter().chain(configured.iter()));
    let (mut unconfirmed, mut test_root) = (false, false);
    for (_, cert) in holders {
        let name = cert_label(&cert.info, lang);
        items.push(match verify_certificate_path(&cert.info.der, &store, now) {
            Ok(path) => {
                let root = &path.root_subject;
                match root_kind(root, &path.root_der, &configured) {
                    RootKind::Test => {
                        test_root = true;
                        item(
                            Status::Warning,
                            f(
                                lang,
                                "doctor.chain.item_test_root",
                                &[("name", &name), ("root", root)],
                            ),
                        )
                    }
                    RootKind::Configured => item(
                        Status::Ok,
                        f(
                            lang,
                            "doctor.chain.item_configured",
                            &[("name", &name), ("root", root)],
                        ),
                    ),
                    RootKind::CardOnly => {
                        unconfirmed = true;
                        item(
                            Status::Warning,
                            f(
                                lang,
                                "doctor.chain.item_card_root",
                                &[("name", &name), ("root", root)],
                            ),
                        )
                    }
                }
            }
            Err(PathError::IssuerMissing { issuer }) => {
                unconfirmed = true;
                item(
                    Status::Warning,
                    f(
                        lang,
                        "doctor.chain.item_missing",
                        &[("name", &name), ("issuer", &issuer)],
                    ),
                )
            }
            Err(e) => item(
                Status::Failed,
                f(
                    lang,
                    "doctor.chain.item_invalid",
                    &[("name", &name), ("reason", &e)],
                ),
            ),
        });
    }
    let failed = items.iter().any(|i| i.status == Status::Failed);
    let key = if failed {
        "doctor.chain.failed"
    } else if unconfirmed {
        "doctor.chain.unconfirmed"
    } else if test_root {
        "doctor.chain.test_root"
    } else {
        "doctor.chain.ok"
    };
    let fix = (unconfirmed && !failed).then(|| Fix::Setting {
        label: t(lang, "doctor.chain.fix_setting"),
        key: "extra_roots".to_owned(),
        value: "[\"/path/to/GRCA.crt\", \"/path/to/MOICA.crt\"]".to_owned(),
        file: facts.config_file.clone(),
    });
    Check::new(id, lang, Status::Ok, t(lang, key))
        .with_items(items)
        .with_fix(fix)
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
    fn the_demo_chain_verifies_up_to_a_test_root_and_says_so() {
        let facts = healthy();
        let (start, _) = demo_validity();
        let check = chain(&facts, &[], start + DAY, EN);
        assert_eq!(check.status, Status::Warning, "{check:#?}");
        assert_eq!(check.items.len(), 2);
        assert!(check
            .items
            .iter()
            .all(|i| i.text.contains("TEST Government Root CA")));
        assert!(check.explanation.contains("test"), "{check:#?}");
        assert!(check.fix.is_none());
    }

    #[test]
    fn a_missing_issuer_or_a_bad_signature_is_reported() {
        let (start, _) = demo_validity();
        // Only the holder certificates: the CA certificates are not on this card.
        let mut facts = healthy();
        let holders: Vec<_> = demo_certificates()
            .into_iter()
            .filter(|c| !c.info.is_ca)
            .collect();
        facts.tokens = Ok(vec![token_facts("TP1", "r", PinState::Ok, holders.clone())]);
        let check = chain(&facts, &[], start + DAY, EN);
        assert_eq!(check.status, Status::Warning);
        assert!(
            check.items[0].text.contains("內政部憑證管理中心"),
            "{check:#?}"
        );
        assert!(matches!(&check.fix, Some(Fix::Setting { key, .. }) if key == "extra_roots"));
        // The CA certificates from a configured file complete the chain.
        let cas: Vec<Vec<u8>> = demo_certificates()
            .into_iter()
            .filter(|c| c.info.is_ca)
            .map(|c| c.info.der)
            .collect();
        let file = CaFile {
            path: "/etc/ca.pem".into(),
            certificates: Ok(cas),
        };
        let check = chain(&facts, std::slice::from_ref(&file), start + DAY, EN);
        assert!(
            check
                .items
                .iter()
                .all(|i| i.text.contains("TEST Government Root CA")),
            "{check:#?}"
        );
        // A damaged signature fails.
        let mut damaged = holders;
        let der = &mut damaged[0].info.der;
        let last = der.len() - 1;
        der[last] ^= 1;
        facts.tokens = Ok(vec![token_facts("TP1", "r", PinState::Ok, damaged)]);
        let check = chain(&facts, &[file], start + DAY, EN);
        assert_eq!(check.status, Status::Failed, "{check:#?}");
        assert!(
            check.items[0].text.contains("does not verify"),
            "{check:#?}"
        );
        // An unreadable file is named.
        let broken = CaFile {
            path: "/etc/missing.pem".into(),
            certificates: Err("No such file".into()),
        };
        let check = chain(&healthy(), &[broken], start + DAY, EN);
        assert!(check.items[0].text.contains("/etc/missing.pem"));
    }

    #[test]
    fn roots_are_classified_without_any_built_in_fingerprint() {
        let grca = "C=TW, O=Government Root Certification Authority";
        assert_eq!(root_kind(grca, b"root", &[]), RootKind::CardOnly);
        assert_eq!(
            root_kind(grca, b"root", &[b"root".to_vec()]),
            RootKind::Configured
        );
        assert_eq!(
            root_kind(
                "C=TW, O=card-agent TEST, CN=TEST Government Root CA",
                b"r",
                &[b"r".to_vec()]
            ),
            RootKind::Test
        );
        assert!(is_test_name("CN=DEMO root"));
        assert!(!is_test_name("CN=Contest Root, O=Latest"));
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
