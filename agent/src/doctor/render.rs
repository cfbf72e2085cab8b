//! The report as text for people: one line per check with a symbol (coloured on a terminal),
//! its explanation, items and fix indented below.

use std::io::IsTerminal;

use super::{f, t, Fix, Report, Status};

const INDENT: &str = "    ";

/// Whether to colour the symbols: standard output is a terminal and `NO_COLOR` is not set to
/// anything (<https://no-color.org>).
pub fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The symbol of a status, coloured when asked (green, yellow, red; dim for skipped).
fn symbol(status: Status, colour: bool) -> String {
    let (mark, code) = match status {
        Status::Ok => ("✔", "32"),
        Status::Warning => ("!", "33"),
        Status::Failed => ("✘", "31"),
        Status::Skipped => ("–", "2"),
    };
    if colour {
        format!("\x1b[{code}m{mark}\x1b[0m")
    } else {
        mark.to_owned()
    }
}

/// The whole report as text.
pub fn text(report: &Report, colour: bool) -> String {
    let lang = report.lang;
    let mut out = String::new();
    let mut line = |indent: usize, s: &str| {
        out.push_str(&INDENT.repeat(indent));
        out.push_str(s);
        out.push('\n');
    };
    line(
        0,
        &f(
            lang,
            "doctor.render.header",
            &[("version", &report.version), ("time", &report.checked_at)],
        ),
    );
    if report.demo {
        line(0, &t(lang, "doctor.render.demo"));
    }
    line(0, "");
    for check in &report.checks {
        line(
            0,
            &format!("{} {}", symbol(check.status, colour), check.title),
        );
        if !check.explanation.is_empty() {
            line(1, &check.explanation);
        }
        for item in &check.items {
            line(1, &format!("{} {}", symbol(item.status, colour), item.text));
        }
        match &check.fix {
            None => {}
            Some(Fix::Command { label, command }) => {
                line(1, &f(lang, "doctor.render.fix", &[("what", label)]));
                line(2, command);
            }
            Some(Fix::Setting {
                label,
                key,
                value,
                file,
            }) => {
                line(1, &f(lang, "doctor.render.fix", &[("what", label)]));
                line(2, &f(lang, "doctor.render.setting_file", &[("file", file)]));
                line(2, &format!("{key} = {value}"));
            }
            Some(Fix::Action { id, label }) => {
                line(1, &f(lang, "doctor.render.fix", &[("what", label)]));
                line(2, &format!("card-agent doctor --fix {id}"));
            }
        }
    }
    line(0, "");
    let count = |status| report.checks.iter().filter(|c| c.status == status).count();
    let (failed, warnings) = (count(Status::Failed), count(Status::Warning));
    if failed == 0 && warnings == 0 {
        line(0, &t(lang, "doctor.render.summary_ok"));
    } else {
        line(
            0,
            &f(
                lang,
                "doctor.render.summary",
                &[("failed", &failed), ("warnings", &warnings)],
            ),
        );
    }
    out
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use card_agent_protocol::Language;

    use super::super::{item, Check};
    use super::*;

    fn report(lang: Language) -> Report {
        Report {
            version: "0.1.0",
            lang,
            demo: false,
            checked_at: "2026-11-22T06:00:00Z".to_owned(),
            status: Status::Failed,
            checks: vec![
                Check::new("pcscd", lang, Status::Ok, "fine".to_owned()),
                Check::new("native-host", lang, Status::Ok, "needs work".to_owned())
                    .with_items(vec![item(Status::Failed, "Chromium".to_owned())])
                    .with_fix(Some(Fix::Action {
                        id: "register-host",
                        label: "Register".to_owned(),
                    })),
                Check::new("pin", lang, Status::Skipped, "later".to_owned()),
            ],
        }
    }

    #[test]
    fn plain_text_has_symbols_indented_details_and_a_summary() {
        let text = text(&report(Language::En), false);
        assert!(text.contains("✔ Smart-card service"), "{text}");
        assert!(text.contains("✘ Browser registration"), "{text}");
        assert!(text.contains("    ✘ Chromium\n"), "{text}");
        assert!(
            text.contains("        card-agent doctor --fix register-host\n"),
            "{text}"
        );
        assert!(text.contains("– PIN"), "{text}");
        assert!(text.contains("Failed: 1. Warnings: 0."), "{text}");
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn colour_only_when_asked_and_chinese_when_asked() {
        let text = text(&report(Language::ZhTw), true);
        assert!(text.contains("\x1b[31m✘\x1b[0m"), "{text}");
        assert!(text.contains("\x1b[32m✔\x1b[0m"), "{text}");
        assert!(text.contains("修正"), "{text}");
    }
}
