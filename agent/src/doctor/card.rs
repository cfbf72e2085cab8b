//! The hardware checks: the smart-card service, readers, the card and the module that drives
//! it. Each is a pure function of [`CardFacts`].

use card_agent_protocol::types::Module as ModuleReport;
use card_agent_protocol::Language;

use super::gather::{CardFacts, Platform};
use super::token::{family_name, token_name};
use super::{f, item, t, Check, Fix, Item, Status};
use crate::certificate::CardFamily;
use crate::reader::{self, ReaderState};

/// `pcscd`: can the smart-card service be reached?
pub(super) fn pcscd(facts: &CardFacts, lang: Language) -> Check {
    match &facts.pcsc {
        Ok(_) => Check::new("pcscd", lang, Status::Ok, t(lang, "doctor.pcscd.ok")),
        Err(reason) => {
            // With the demo token nothing needs the service; say so, but do not fail.
            let (status, mut explanation) = if facts.demo {
                (Status::Warning, t(lang, "doctor.demo_note"))
            } else {
                (Status::Failed, String::new())
            };
            explanation.insert_str(0, &f(lang, "doctor.pcscd.failed", &[("reason", reason)]));
            Check::new("pcscd", lang, status, explanation).with_fix(pcscd_fix(facts.platform, lang))
        }
    }
}

/// The command that installs and starts the smart-card service on this kind of machine.
fn pcscd_fix(platform: Platform, lang: Language) -> Option<Fix> {
    let start = "sudo systemctl start pcscd.socket";
    let command = match platform {
        Platform::Apt | Platform::OtherLinux => format!("sudo apt install pcscd && {start}"),
        Platform::Dnf => format!("sudo dnf install pcsc-lite && {start}"),
        Platform::Zypper => format!("sudo zypper install pcsc-lite && {start}"),
        Platform::Pacman => format!("sudo pacman -S pcsclite && {start}"),
        Platform::Windows => {
            return Some(Fix::Command {
                label: t(lang, "doctor.fix.run_as_admin"),
                command: "net start SCardSvr".to_owned(),
            })
        }
        // macOS's service is part of the system and starts with a reader; nothing to run.
        Platform::MacOs | Platform::Other => return None,
    };
    Some(Fix::Command {
        label: t(lang, "doctor.fix.run_in_terminal"),
        command,
    })
}

/// `readers`: is at least one reader connected?
pub(super) fn readers(facts: &CardFacts, lang: Language) -> Check {
    let id = "readers";
    let Ok(readers) = &facts.pcsc else {
        return Check::new(id, lang, Status::Skipped, t(lang, "doctor.readers.skipped"));
    };
    if readers.is_empty() {
        let (status, note) = if facts.demo {
            (Status::Warning, t(lang, "doctor.demo_note"))
        } else {
            (Status::Failed, String::new())
        };
        let explanation = t(lang, "doctor.readers.none") + &note;
        return Check::new(id, lang, status, explanation)
            .with_fix(reader_driver_fix(facts.platform, lang));
    }
    let items = readers
        .iter()
        .map(|r| item(Status::Ok, r.name.clone()))
        .collect();
    let explanation = f(lang, "doctor.readers.ok", &[("count", &readers.len())]);
    Check::new(id, lang, Status::Ok, explanation).with_items(items)
}

/// The package with the CCID reader driver, for a reader plugged in but not seen.
fn reader_driver_fix(platform: Platform, lang: Language) -> Option<Fix> {
    let command = match platform {
        Platform::Apt => "sudo apt install libccid",
        Platform::Dnf => "sudo dnf install pcsc-lite-ccid",
        Platform::Zypper => "sudo zypper install pcsc-ccid",
        Platform::Pacman => "sudo pacman -S ccid",
        _ => return None,
    };
    Some(Fix::Command {
        label: t(lang, "doctor.readers.fix_driver"),
        command: command.to_owned(),
    })
}

/// `card`: is a card in a reader, and does its ATR say which?
pub(super) fn card(facts: &CardFacts, lang: Language) -> Check {
    let id = "card";
    if facts.demo {
        return Check::new(id, lang, Status::Ok, t(lang, "doctor.card.demo"));
    }
    let with_card: Vec<&ReaderState> = facts.readers().iter().filter(|r| r.card_present).collect();
    if with_card.is_empty() {
        let tokens = facts.tokens();
        if !tokens.is_empty() {
            // A token outside PC/SC (a software token, a module that talks to its reader
            // directly) serves instead of a card in a reader.
            let names: Vec<String> = tokens.iter().map(|t| token_name(&t.info)).collect();
            let explanation = f(
                lang,
                "doctor.card.other_tokens",
                &[("tokens", &names.join(", "))],
            );
            return Check::new(id, lang, Status::Ok, explanation);
        }
        if facts.readers().is_empty() {
            return Check::new(id, lang, Status::Skipped, t(lang, "doctor.card.skipped"));
        }
        return Check::new(id, lang, Status::Failed, t(lang, "doctor.card.none"));
    }
    let items: Vec<Item> = with_card
        .iter()
        .map(|r| match (&r.atr, r.family) {
            (None, _) => item(
                Status::Warning,
                f(lang, "doctor.card.item_mute", &[("reader", &r.name)]),
            ),
            (Some(atr), Some(family)) if family != CardFamily::Unknown => item(
                Status::Ok,
                f(
                    lang,
                    "doctor.card.item_known",
                    &[
                        ("family", &family_name(family, lang)),
                        ("reader", &r.name),
                        ("atr", &reader::atr_hex(atr)),
                    ],
                ),
            ),
            (Some(atr), _) => item(
                Status::Warning,
                f(
                    lang,
                    "doctor.card.item_unknown",
                    &[("reader", &r.name), ("atr", &reader::atr_hex(atr))],
                ),
            ),
        })
        .collect();
    let all_known = items.iter().all(|i| i.status == Status::Ok);
    let explanation = t(
        lang,
        if all_known {
            "doctor.card.ok"
        } else {
            "doctor.card.unknown"
        },
    );
    Check::new(id, lang, Status::Ok, explanation).with_items(items)
}

/// `module`: is a PKCS#11 module loaded, and does it present the card?
pub(super) fn module(facts: &CardFacts, lang: Language) -> Check {
    let id = "module";
    if facts.demo && facts.modules.iter().all(|m| m.loaded) {
        return Check::new(id, lang, Status::Ok, t(lang, "doctor.module.demo"));
    }
    let mut items: Vec<Item> = facts.modules.iter().map(|m| module_item(m, lang)).collect();
    // A release in the downloads folder is not loaded from there (a web page can put a file
    // there); say how to install it, and make that the fix when no module works.
    let install = facts.downloaded_modules.first().map(|p| install_command(p));
    for path in &facts.downloaded_modules {
        items.push(item(
            Status::Warning,
            f(
                lang,
                "doctor.module.item_download",
                &[
                    ("path", &path.display()),
                    ("command", &install_command(path)),
                ],
            ),
        ));
    }
    let setting = Some(match install {
        Some(command) => Fix::Command {
            label: t(lang, "doctor.module.fix_install_download"),
            command,
        },
        None => Fix::Setting {
            label: t(lang, "doctor.module.fix_setting"),
            key: "pkcs11_modules".to_owned(),
            value: format!("[\"{}\"]", example_module_path()),
            file: facts.config_file.clone(),
        },
    });
    let mut advice = t(lang, "doctor.module.advice");
    // A driver that loaded and then hung, or answered nonsense, or one that hung loading.
    if facts
        .modules
        .iter()
        .any(|m| m.error.is_some() && m.error.as_deref() != Some(NOT_FOUND))
    {
        advice.push_str(&t(lang, "doctor.module.fault_advice"));
    }
    if facts.modules.is_empty() {
        let explanation = t(lang, "doctor.module.none_found") + &advice;
        return Check::new(id, lang, Status::Failed, explanation).with_fix(setting);
    }
    if !facts.modules.iter().any(|m| m.loaded && m.error.is_none()) {
        let explanation = t(lang, "doctor.module.none_loaded") + &advice;
        return Check::new(id, lang, Status::Failed, explanation)
            .with_items(items)
            .with_fix(setting);
    }
    // A card in a reader that no token stands for: the loaded modules do not drive it.
    let unserved: Vec<&ReaderState> = facts
        .readers()
        .iter()
        .filter(|r| r.card_present)
        .filter(|r| {
            !facts.tokens().iter().any(|tok| {
                reader::reader_for_slot(&tok.info.slot_description, std::slice::from_ref(*r))
                    .is_some()
            })
        })
        .collect();
    if !unserved.is_empty() {
        let names: Vec<&str> = unserved.iter().map(|r| r.name.as_str()).collect();
        let mut explanation = f(
            lang,
            "doctor.module.card_not_served",
            &[("readers", &names.join(", "))],
        );
        let has_card_module = facts
            .modules
            .iter()
            .any(|m| m.loaded && is_government_card_module(&m.path));
        let government_card = unserved
            .iter()
            .any(|r| r.family.is_some_and(|fam| fam != CardFamily::Unknown));
        if government_card && !has_card_module {
            explanation.push_str(&advice);
        }
        return Check::new(id, lang, Status::Failed, explanation)
            .with_items(items)
            .with_fix(setting);
    }
    Check::new(id, lang, Status::Ok, t(lang, "doctor.module.ok")).with_items(items)
}

/// The command that installs a downloaded open-gpki-pkcs11 release where card-agent finds it
/// by itself (the user's own library folder).
fn install_command(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if cfg!(windows) {
        format!(
            "copy \"{}\" \"%LOCALAPPDATA%\\open-gpki-pkcs11\\{name}\"",
            path.display()
        )
    } else if cfg!(target_os = "macos") {
        format!(
            "install -D -m 0755 '{}' ~/Library/open-gpki-pkcs11/{name}",
            path.display()
        )
    } else {
        format!(
            "install -D -m 0755 '{}' ~/.local/lib/{name}",
            path.display()
        )
    }
}

/// The reason a module that is not there gives (`Module::load`).
const NOT_FOUND: &str = "file not found";

/// One module's line: loaded (with its description and version), not loaded (why), or
/// loaded and then broken (the fault).
fn module_item(m: &ModuleReport, lang: Language) -> Item {
    let about = [m.description.as_deref(), m.version.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match (&m.error, m.loaded) {
        (None, _) => item(
            Status::Ok,
            f(
                lang,
                "doctor.module.item_loaded",
                &[
                    ("path", &m.path),
                    ("source", &m.source),
                    ("description", &about),
                ],
            ),
        ),
        (Some(reason), true) => item(
            Status::Failed,
            f(
                lang,
                "doctor.module.item_fault",
                &[("path", &m.path), ("source", &m.source), ("reason", reason)],
            ),
        ),
        (Some(reason), false) => item(
            Status::Warning,
            f(
                lang,
                "doctor.module.item_failed",
                &[("path", &m.path), ("source", &m.source), ("reason", reason)],
            ),
        ),
    }
}

/// Whether a module is one that drives government (HiCOS) cards: HiCOS itself or
/// open-gpki-pkcs11. OpenSC does not drive them.
fn is_government_card_module(path: &str) -> bool {
    let name = path.to_ascii_lowercase();
    name.contains("hicos") || name.contains("gpki")
}

/// Where a module is usually put on this system, as an example value for `pkcs11_modules`.
fn example_module_path() -> String {
    crate::pkcs11::discovery::well_known()
        .into_iter()
        .next()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/path/to/pkcs11-module".to_owned())
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testing::{self, healthy, module_report, moica_reader, reader, token_facts};
    use super::super::token::{certificates, pin, token};
    use super::*;
    use crate::pin::PinState;

    const EN: Language = Language::En;

    #[test]
    fn a_healthy_machine_passes_every_card_check() {
        let facts = healthy();
        for check in [
            pcscd(&facts, EN),
            readers(&facts, EN),
            card(&facts, EN),
            module(&facts, EN),
            token(&facts, EN),
            certificates(&facts, EN),
            pin(&facts, EN),
        ] {
            assert_eq!(check.status, Status::Ok, "{check:#?}");
            assert!(check.fix.is_none(), "{check:#?}");
        }
    }

    #[test]
    fn no_service_fails_with_the_command_for_this_machine_and_skips_readers() {
        let mut facts = healthy();
        facts.pcsc = Err("SCardEstablishContext: service not available".to_owned());
        let check = pcscd(&facts, EN);
        assert_eq!(check.status, Status::Failed);
        assert!(check.explanation.contains("service not available"));
        assert_eq!(
            check.fix,
            Some(Fix::Command {
                label: t(EN, "doctor.fix.run_in_terminal"),
                command: "sudo apt install pcscd && sudo systemctl start pcscd.socket".into()
            })
        );
        facts.platform = Platform::Dnf;
        assert!(
            matches!(pcscd(&facts, EN).fix, Some(Fix::Command { command, .. }) if command.starts_with("sudo dnf install pcsc-lite"))
        );
        facts.platform = Platform::Windows;
        assert!(
            matches!(pcscd(&facts, EN).fix, Some(Fix::Command { command, .. }) if command == "net start SCardSvr")
        );
        assert_eq!(readers(&facts, EN).status, Status::Skipped);
        // The demo needs no service: a warning, not a failure.
        facts.demo = true;
        assert_eq!(pcscd(&facts, EN).status, Status::Warning);
    }

    #[test]
    fn no_reader_fails_and_names_the_driver_package() {
        let mut facts = healthy();
        facts.pcsc = Ok(Vec::new());
        facts.tokens = Ok(Vec::new());
        let check = readers(&facts, EN);
        assert_eq!(check.status, Status::Failed);
        assert!(
            matches!(check.fix, Some(Fix::Command { command, .. }) if command == "sudo apt install libccid")
        );
        assert_eq!(card(&facts, EN).status, Status::Skipped);
        assert_eq!(token(&facts, EN).status, Status::Skipped);
        assert_eq!(certificates(&facts, EN).status, Status::Skipped);
        assert_eq!(pin(&facts, EN).status, Status::Skipped);
    }

    #[test]
    fn empty_readers_fail_the_card_check_and_an_unknown_atr_is_named() {
        let mut facts = healthy();
        facts.pcsc = Ok(vec![reader("Reader A", None)]);
        facts.tokens = Ok(Vec::new());
        assert_eq!(card(&facts, EN).status, Status::Failed);
        let atr = [0x3B, 0x9F, 0x95, 0x81, 0x31];
        facts.pcsc = Ok(vec![reader("Reader A", Some(&atr))]);
        let check = card(&facts, EN);
        assert_eq!(check.status, Status::Warning);
        assert!(check.items[0].text.contains("3B9F958131"), "{check:#?}");
        let mut mute = reader("Reader A", None);
        mute.card_present = true;
        facts.pcsc = Ok(vec![mute]);
        assert_eq!(card(&facts, EN).status, Status::Warning);
        // Known ATR: ok, and the family is named.
        let check = card(&healthy(), Language::ZhTw);
        assert!(check.items[0].text.contains("自然人憑證"), "{check:#?}");
    }

    #[test]
    fn a_software_token_without_a_card_is_fine() {
        let mut facts = healthy();
        facts.pcsc = Ok(vec![reader("Virtual PCD 00 00", None)]);
        facts.tokens = Ok(vec![token_facts(
            "1234",
            "SoftHSM slot ID 0x1",
            PinState::Ok,
            Vec::new(),
        )]);
        let check = card(&facts, EN);
        assert_eq!(check.status, Status::Ok);
        assert!(check.explanation.contains("1234"), "{check:#?}");
        assert_eq!(module(&facts, EN).status, Status::Ok);
    }

    #[test]
    fn modules_missing_failing_or_not_driving_the_card() {
        let mut facts = healthy();
        facts.modules = Vec::new();
        facts.tokens = Err("no module".into());
        let check = module(&facts, EN);
        assert_eq!(check.status, Status::Failed);
        assert!(
            check.explanation.contains("HiCOS") && check.explanation.contains("open-gpki-pkcs11")
        );
        assert!(matches!(&check.fix, Some(Fix::Setting { key, .. }) if key == "pkcs11_modules"));
        assert_eq!(token(&facts, EN).status, Status::Skipped);

        facts.modules = vec![module_report("/opt/x.so", Some("file not found"))];
        let check = module(&facts, EN);
        assert_eq!(check.status, Status::Failed);
        assert!(
            check.items[0].text.contains("/opt/x.so")
                && check.items[0].text.contains("file not found")
        );

        // OpenSC loads but does not drive the MOICA card in the reader: say to get HiCOS.
        facts.modules = vec![module_report(
            "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
            None,
        )];
        facts.tokens = Ok(Vec::new());
        let check = module(&facts, EN);
        assert_eq!(check.status, Status::Failed);
        assert!(check.explanation.contains("CASTLES EZ100PU 00 00"));
        assert!(check.explanation.contains("HiCOS"), "{check:#?}");
        assert_eq!(token(&facts, EN).status, Status::Failed);

        // One module failed, another works: a warning listing both.
        let mut facts = healthy();
        facts.modules.push(module_report(
            "/usr/lib/opensc-pkcs11.so",
            Some("C_Initialize failed"),
        ));
        let check = module(&facts, EN);
        assert_eq!(check.status, Status::Warning);
        assert_eq!(check.items.len(), 2);
    }

    #[test]
    fn a_moica_reader_fixture_is_recognised() {
        assert_eq!(moica_reader("r").family, Some(testing::DEMO_FAMILY));
    }
}
