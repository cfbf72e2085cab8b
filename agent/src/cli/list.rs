//! `card-agent list`: readers, tokens and certificates, for people or (`--json`) for programs.

use card_agent_protocol::types::{Inventory, PinStatus};
use card_agent_protocol::{i18n, Language};

use super::door::Door;
use super::{language, Cli};
use crate::error::{Error, Result};

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (shape documented in the README).
    #[arg(long)]
    json: bool,
    /// Use the built-in demo token instead of real cards.
    #[arg(long)]
    demo: bool,
}

/// Runs `list`.
pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    let inv = Door::open(cli, args.demo)?.inventory(cli)?;
    if args.json {
        let text =
            serde_json::to_string_pretty(&inv).map_err(|e| Error::Internal(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", render(&inv, language(cli.lang.as_deref())));
    }
    Ok(())
}

/// The human-readable listing, in `lang` (catalogue keys `cli.list.*`).
fn render(inv: &Inventory, lang: Language) -> String {
    let t = |key| i18n::text(lang, key);
    let f = |key, args: &[(&str, &dyn std::fmt::Display)]| i18n::format(lang, key, args);
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    for m in &inv.modules {
        match &m.error {
            None => line(f(
                "cli.list.module",
                &[("path", &m.path), ("source", &m.source)],
            )),
            Some(e) => line(f(
                "cli.list.module_not_loaded",
                &[("path", &m.path), ("source", &m.source), ("reason", e)],
            )),
        }
    }
    if let Some(e) = &inv.pcsc_error {
        line(f("cli.list.readers_unavailable", &[("reason", e)]));
    }
    for r in &inv.readers {
        let card = match (&r.atr, &r.card_family) {
            (Some(atr), Some(family)) => f("cli.list.card", &[("family", family), ("atr", atr)]),
            _ => t("cli.list.no_card").to_owned(),
        };
        line(f("cli.list.reader", &[("name", &r.name), ("card", &card)]));
    }
    if inv.tokens.is_empty() {
        line(t("cli.list.no_token").to_owned());
    }
    for tok in &inv.tokens {
        let demo = if tok.demo {
            t("cli.list.demo_mark")
        } else {
            ""
        };
        line(f(
            "cli.list.token",
            &[
                ("label", &tok.label),
                ("serial", &tok.serial),
                ("demo", &demo),
            ],
        ));
        line(f(
            "cli.list.token_detail",
            &[
                ("manufacturer", &tok.manufacturer),
                ("model", &tok.model),
                ("slot", &tok.slot_description),
            ],
        ));
        let pin = t(match tok.pin_status {
            PinStatus::Ok => "cli.list.pin_ok",
            PinStatus::CountLow => "cli.list.pin_count_low",
            PinStatus::FinalTry => "cli.list.pin_final_try",
            PinStatus::Locked => "cli.list.pin_locked",
        });
        let tries = tok
            .pin_tries_left
            .map(|n| f("cli.list.tries_left", &[("tries", &n)]))
            .unwrap_or_default();
        line(f(
            "cli.list.pin",
            &[
                ("min", &tok.min_pin_length),
                ("max", &tok.max_pin_length),
                ("state", &pin),
                ("tries", &tries),
            ],
        ));
        for c in &tok.certificates {
            line(f(
                "cli.list.cert",
                &[
                    ("name", &c.subject_cn.as_deref().unwrap_or(&c.subject)),
                    ("family", &c.card_family),
                    ("usage", &c.key_usage.join(",")),
                ],
            ));
            line(f("cli.list.issuer", &[("issuer", &c.issuer)]));
            line(f(
                "cli.list.validity",
                &[
                    ("from", &c.not_before),
                    ("to", &c.not_after),
                    ("days", &c.days_to_expiry),
                ],
            ));
            if let Some(id) = &c.id_last4 {
                line(f("cli.list.id_last4", &[("digits", id)]));
            }
            if let Some(b) = &c.business_number {
                line(f("cli.list.business_number", &[("number", b)]));
            }
            line(f("cli.list.sha256", &[("sha256", &c.sha256)]));
        }
    }
    out
}

#[cfg(test)]
// In tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::card_core::{CardCore, CoreOptions};

    #[test]
    fn the_listing_speaks_both_languages_and_fills_every_placeholder() {
        let core = CardCore::open(&CoreOptions {
            demo: true,
            ..CoreOptions::default()
        })
        .unwrap();
        let inv = crate::inventory::collect(&core, crate::inventory::now_unix()).unwrap();
        let en = render(&inv, Language::En);
        assert!(
            en.contains("[DEMO — not a real card]") && en.contains("3 tries left"),
            "{en}"
        );
        let zh = render(&inv, Language::ZhTw);
        assert!(
            zh.contains("DEMO 示範用") && zh.contains("剩餘 3 次"),
            "{zh}"
        );
        for text in [en, zh] {
            assert!(!text.contains('{') && !text.contains('}'), "{text}");
        }
    }
}
