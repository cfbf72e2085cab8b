//! The token checks: reading the card as a token, its certificates and its PIN. Each is a
//! pure function of [`CardFacts`].

use card_agent_protocol::Language;

use super::gather::CardFacts;
use super::{f, item, t, Check, Item, Status};
use crate::card_core::Duplicate;
use crate::certificate::{CardFamily, CertificateInfo};
use crate::pin::PinState;
use crate::token::TokenInfo;

/// `token`: can the card be read as a token?
pub(super) fn token(facts: &CardFacts, lang: Language) -> Check {
    let id = "token";
    let tokens = match &facts.tokens {
        Err(_) if !facts.modules.iter().any(|m| m.loaded) => {
            return Check::new(
                id,
                lang,
                Status::Skipped,
                t(lang, "doctor.token.skipped_module"),
            );
        }
        Err(reason) => {
            let explanation = f(lang, "doctor.token.failed", &[("reason", reason)]);
            return Check::new(id, lang, Status::Failed, explanation);
        }
        Ok(tokens) => tokens,
    };
    if tokens.is_empty() {
        return if facts.readers().iter().any(|r| r.card_present) {
            Check::new(
                id,
                lang,
                Status::Failed,
                t(lang, "doctor.token.card_unread"),
            )
        } else {
            Check::new(
                id,
                lang,
                Status::Skipped,
                t(lang, "doctor.token.skipped_card"),
            )
        };
    }
    let items = tokens
        .iter()
        .map(|tok| {
            let info = &tok.info;
            let key = if info.demo {
                "doctor.token.item_demo"
            } else {
                "doctor.token.item"
            };
            item(
                Status::Ok,
                f(
                    lang,
                    key,
                    &[
                        ("token", &token_name(info)),
                        ("slot", &info.slot_description),
                        ("module", &info.module),
                    ],
                ),
            )
        })
        .chain(
            facts
                .duplicates
                .iter()
                .map(|d| duplicate(d, &facts.config_file, lang)),
        )
        .collect();
    let explanation = f(lang, "doctor.token.ok", &[("count", &tokens.len())]);
    Check::new(id, lang, Status::Ok, explanation).with_items(items)
}

/// A card a second module also reads: which module card-agent uses for it, and where the
/// order is set.
fn duplicate(d: &Duplicate, config_file: &str, lang: Language) -> Item {
    item(
        Status::Ok,
        f(
            lang,
            "doctor.token.duplicate",
            &[
                ("token", &token_name(&d.left_out)),
                ("module", &d.left_out.module),
                ("first", &d.read_through),
                ("config", &config_file),
            ],
        ),
    )
}

/// `certificates`: can the certificates on each token be read?
pub(super) fn certificates(facts: &CardFacts, lang: Language) -> Check {
    let id = "certificates";
    let tokens = facts.tokens();
    if tokens.is_empty() {
        return Check::new(
            id,
            lang,
            Status::Skipped,
            t(lang, "doctor.certificates.skipped"),
        );
    }
    let mut items = Vec::new();
    let mut count = 0;
    for tok in tokens {
        let name = token_name(&tok.info);
        let certs = match &tok.certificates {
            Ok(certs) => certs,
            Err(reason) => {
                items.push(item(
                    Status::Failed,
                    f(
                        lang,
                        "doctor.certificates.item_failed",
                        &[("token", &name), ("reason", reason)],
                    ),
                ));
                continue;
            }
        };
        let holders: Vec<_> = certs.iter().filter(|c| !c.info.is_ca).collect();
        if holders.is_empty() {
            items.push(item(
                Status::Warning,
                f(lang, "doctor.certificates.item_none", &[("token", &name)]),
            ));
        }
        for c in holders {
            count += 1;
            let (status, key) = if c.has_private_key {
                (Status::Ok, "doctor.certificates.item")
            } else {
                (Status::Warning, "doctor.certificates.item_no_key")
            };
            items.push(item(
                status,
                f(
                    lang,
                    key,
                    &[
                        ("name", &cert_label(&c.info, lang)),
                        ("family", &family_name(c.info.family, lang)),
                    ],
                ),
            ));
        }
        let cas = certs.iter().filter(|c| c.info.is_ca).count();
        if cas > 0 {
            items.push(item(
                Status::Ok,
                f(
                    lang,
                    "doctor.certificates.item_ca",
                    &[("count", &cas), ("token", &name)],
                ),
            ));
        }
    }
    let explanation = f(lang, "doctor.certificates.ok", &[("count", &count)]);
    Check::new(id, lang, Status::Ok, explanation).with_items(items)
}

/// `pin`: tries left, final try, locked.
pub(super) fn pin(facts: &CardFacts, lang: Language) -> Check {
    let id = "pin";
    let tokens = facts.tokens();
    if tokens.is_empty() {
        return Check::new(id, lang, Status::Skipped, t(lang, "doctor.pin.skipped"));
    }
    let items: Vec<Item> = tokens
        .iter()
        .map(|tok| {
            let info = &tok.info;
            let tries = info.known_tries_left().map_or_else(String::new, |n| {
                f(lang, "doctor.pin.tries", &[("tries", &n)])
            });
            let (status, key) = match info.pin_state {
                PinState::Ok => (Status::Ok, "doctor.pin.item_ok"),
                PinState::CountLow => (Status::Warning, "doctor.pin.item_count_low"),
                PinState::FinalTry => (Status::Warning, "doctor.pin.item_final_try"),
                PinState::Locked => (Status::Failed, "doctor.pin.item_locked"),
            };
            item(
                status,
                f(
                    lang,
                    key,
                    &[("token", &token_name(info)), ("tries", &tries)],
                ),
            )
        })
        .collect();
    let worst = items.iter().map(|i| i.status).max().unwrap_or(Status::Ok);
    let explanation = t(
        lang,
        match worst {
            Status::Failed => "doctor.pin.locked",
            Status::Warning => "doctor.pin.careful",
            _ => "doctor.pin.ok",
        },
    );
    Check::new(id, lang, Status::Ok, explanation).with_items(items)
}

/// A certificate as people see it: the holder and what it is for, e.g. `王小明 (signing)`.
pub(super) fn cert_label(info: &CertificateInfo, lang: Language) -> String {
    let has = |usages: &[&str]| info.key_usage.iter().any(|u| usages.contains(u));
    let mut uses = Vec::new();
    if info.key_usage.is_empty() || has(&["digitalSignature", "nonRepudiation"]) {
        uses.push(t(lang, "doctor.usage.signing"));
    }
    if has(&["keyEncipherment", "dataEncipherment", "keyAgreement"]) {
        uses.push(t(lang, "doctor.usage.encryption"));
    }
    f(
        lang,
        "doctor.cert_label",
        &[("name", &info.holder_name()), ("usage", &uses.join(", "))],
    )
}

/// A token as people see it: `label (serial)`.
pub(super) fn token_name(info: &TokenInfo) -> String {
    format!("{} ({})", info.label, info.serial)
}

/// A card family as people know it, e.g. `自然人憑證 (MOICA)`.
pub(super) fn family_name(family: CardFamily, lang: Language) -> String {
    t(lang, &format!("doctor.family.{}", family.as_str()))
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testing::{self, healthy, token_facts};
    use super::*;

    const EN: Language = Language::En;

    #[test]
    fn certificates_unreadable_missing_or_without_key() {
        let mut facts = healthy();
        let mut tokens = vec![token_facts(
            "A",
            "CASTLES EZ100PU 00 00",
            PinState::Ok,
            Vec::new(),
        )];
        tokens[0].certificates = Err("C_FindObjects failed".into());
        tokens.push(token_facts("B", "x", PinState::Ok, Vec::new()));
        let mut no_key = testing::demo_certificates();
        no_key.truncate(1);
        no_key[0].has_private_key = false;
        tokens.push(token_facts("C", "y", PinState::Ok, no_key));
        facts.tokens = Ok(tokens);
        let check = certificates(&facts, EN);
        assert_eq!(check.status, Status::Failed);
        let statuses: Vec<Status> = check.items.iter().map(|i| i.status).collect();
        assert_eq!(
            statuses,
            vec![Status::Failed, Status::Warning, Status::Warning]
        );
        assert!(check.items[0].text.contains("C_FindObjects failed"));
    }

    #[test]
    fn pin_states_from_fine_to_locked() {
        let mut facts = healthy();
        let state = |facts: &mut CardFacts, s| {
            facts.tokens = Ok(vec![token_facts("TP1", "r", s, Vec::new())]);
            pin(facts, EN)
        };
        assert_eq!(state(&mut facts, PinState::Ok).status, Status::Ok);
        assert_eq!(
            state(&mut facts, PinState::CountLow).status,
            Status::Warning
        );
        let last = state(&mut facts, PinState::FinalTry);
        assert_eq!(last.status, Status::Warning);
        assert!(
            last.items[0].text.contains("1 try left") || last.items[0].text.contains("last"),
            "{last:#?}"
        );
        let locked = state(&mut facts, PinState::Locked);
        assert_eq!(locked.status, Status::Failed);
        assert!(
            locked.explanation.contains("registration office"),
            "{locked:#?}"
        );
        let zh = {
            facts.tokens = Ok(vec![token_facts("TP1", "r", PinState::Locked, Vec::new())]);
            pin(&facts, Language::ZhTw)
        };
        assert!(zh.explanation.contains("戶政事務所"), "{zh:#?}");
    }
}
