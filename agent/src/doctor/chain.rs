//! `certificate-chain`: does each holder certificate verify up to a root, and which one?
//!
//! The government CA certificates card-agent carries (GRCA G1–G3, MOICA G2–G3, MOEACA G2:
//! `card_agent_protocol::verifier::GOVERNMENT_CAS`) come first, then the CA certificates on
//! the card and in `extra_roots`. A path that ends at a carried GRCA root is "chain verified":
//! the certificate is the government's. That says nothing about whether the card holds its
//! key (a certificate is public and any token can carry a copy): only a signature shows that,
//! which is the self-test's job, so this check never calls a card genuine.

use card_agent_protocol::verifier::{
    government_ca, government_ca_names, verify_certificate_path, CertificatePath, PathError,
    TrustStore,
};
use card_agent_protocol::Language;
use der::Decode;

use super::gather::{CaFile, CardFacts};
use super::token::cert_label;
use super::{f, item, t, Check, Fix, Item, Status};

/// Where a verified path ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootKind {
    /// A GRCA root card-agent carries (named, e.g. `GRCA G3`).
    Government(&'static str),
    /// A root named as a test or demo root: never a government root.
    Test,
    /// A root from a file the user named in `extra_roots`.
    Configured,
    /// A self-signed root found only on the card, which card-agent cannot confirm is the
    /// government's (it is not one of the carried roots, byte for byte).
    CardOnly,
}

/// Whether a name marks a test or demo certificate (a word TEST or DEMO in it).
fn is_test_name(subject: &str) -> bool {
    subject
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("test") || w.eq_ignore_ascii_case("demo"))
}

fn root_kind(subject: &str, root_der: &[u8], configured: &[Vec<u8>]) -> RootKind {
    if let Some(ca) = government_ca(root_der).filter(|ca| ca.is_root()) {
        RootKind::Government(ca.name)
    } else if is_test_name(subject) {
        RootKind::Test
    } else if configured.iter().any(|c| c == root_der) {
        RootKind::Configured
    } else {
        RootKind::CardOnly
    }
}

/// The carried government certificates first, so a path through them is found before one
/// through a look-alike on the card; then the card's and the configured CA certificates:
/// self-signed ones become roots, the others intermediates.
fn trust_store<'a>(certificates: impl Iterator<Item = &'a Vec<u8>>) -> TrustStore {
    let mut store = TrustStore::government().unwrap_or_else(|e| {
        // Embedded and tested (protocol/tests/government.rs): cannot fail in a released build.
        tracing::warn!(error = %e, "the carried government CA certificates did not load");
        TrustStore::new()
    });
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

/// What the check found for one holder certificate.
struct Finding {
    item: Item,
    root: Option<RootKind>,
    /// The path was refused (a signature or an intermediate failed): not "unconfirmed".
    invalid: bool,
}

/// The name to show for the certificate that issued the checked one: the carried CA's name
/// (`MOICA G3`), or else the checked certificate's issuer DN (the same name, by definition).
fn issuer_name(path: &CertificatePath, issuer_dn: &str) -> String {
    path.issuers_der
        .first()
        .and_then(|der| government_ca(der))
        .map_or_else(|| issuer_dn.to_owned(), |ca| ca.name.to_owned())
}

fn finding(
    name: &str,
    issuer: &str,
    result: Result<CertificatePath, PathError>,
    configured: &[Vec<u8>],
    lang: Language,
) -> Finding {
    let with = |status, key: &str, args: &[(&str, &dyn std::fmt::Display)]| {
        item(status, f(lang, key, args))
    };
    match result {
        Ok(path) => {
            let root = &path.root_subject;
            let kind = root_kind(root, &path.root_der, configured);
            let item = match kind {
                RootKind::Government(grca) => with(
                    Status::Ok,
                    "doctor.chain.item_government",
                    &[
                        ("name", &name),
                        ("issuer", &issuer_name(&path, issuer)),
                        ("root", &grca),
                    ],
                ),
                RootKind::Test => with(
                    Status::Warning,
                    "doctor.chain.item_test_root",
                    &[("name", &name), ("root", root)],
                ),
                RootKind::Configured => with(
                    Status::Ok,
                    "doctor.chain.item_configured",
                    &[("name", &name), ("root", root)],
                ),
                RootKind::CardOnly => with(
                    Status::Warning,
                    "doctor.chain.item_card_root",
                    &[("name", &name), ("root", root)],
                ),
            };
            Finding {
                item,
                root: Some(kind),
                invalid: false,
            }
        }
        Err(PathError::IssuerMissing { issuer }) => Finding {
            item: with(
                Status::Warning,
                "doctor.chain.item_missing",
                &[("name", &name), ("issuer", &issuer)],
            ),
            root: None,
            invalid: false,
        },
        Err(e) => Finding {
            item: with(
                Status::Failed,
                "doctor.chain.item_invalid",
                &[("name", &name), ("reason", &e)],
            ),
            root: None,
            invalid: true,
        },
    }
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
    let (mut unconfirmed, mut test_root, mut all_government) = (false, false, true);
    for (_, cert) in holders {
        let name = cert_label(&cert.info, lang);
        let result = verify_certificate_path(&cert.info.der, &store, now);
        let found = finding(&name, &cert.info.issuer, result, &configured, lang);
        all_government &= matches!(found.root, Some(RootKind::Government(_)));
        unconfirmed |= matches!(found.root, Some(RootKind::CardOnly))
            || (found.root.is_none() && !found.invalid);
        test_root |= matches!(found.root, Some(RootKind::Test));
        let outside = !found.invalid && !matches!(found.root, Some(RootKind::Government(_)));
        items.push(found.item);
        // Say plainly that this card's CA is not one card-agent carries (yet).
        if outside {
            items.push(item(
                Status::Warning,
                f(
                    lang,
                    "doctor.chain.item_not_carried",
                    &[
                        ("name", &name),
                        ("issuer", &cert.info.issuer),
                        ("carried", &government_ca_names()),
                    ],
                ),
            ));
        }
    }
    let failed = items.iter().any(|i| i.status == Status::Failed);
    let key = if failed {
        "doctor.chain.failed"
    } else if unconfirmed {
        "doctor.chain.unconfirmed"
    } else if test_root {
        "doctor.chain.test_root"
    } else if all_government {
        "doctor.chain.government"
    } else {
        "doctor.chain.ok"
    };
    let fix = (unconfirmed && !failed).then(|| Fix::Setting {
        label: t(lang, "doctor.chain.fix_setting"),
        key: "extra_roots".to_owned(),
        value: "[\"/path/to/your-CA.crt\"]".to_owned(),
        file: facts.config_file.clone(),
    });
    Check::new(id, lang, Status::Ok, t(lang, key))
        .with_items(items)
        .with_fix(fix)
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
