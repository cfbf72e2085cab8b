//! `card-agent list`: readers, tokens and certificates, for people or (`--json`) for programs.

use card_agent_protocol::types::{Inventory, PinStatus};

use super::{open_core, Cli};
use crate::error::{Error, Result};
use crate::inventory;

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
    let core = open_core(cli, args.demo)?;
    let inv = inventory::collect(&core, inventory::now_unix())?;
    if args.json {
        let text =
            serde_json::to_string_pretty(&inv).map_err(|e| Error::Internal(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", render(&inv));
    }
    Ok(())
}

/// The human-readable listing.
fn render(inv: &Inventory) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    for m in &inv.modules {
        match &m.error {
            None => line(format!("module  {} ({})", m.path, m.source)),
            Some(e) => line(format!(
                "module  {} ({}): NOT LOADED: {e}",
                m.path, m.source
            )),
        }
    }
    if let Some(e) = &inv.pcsc_error {
        line(format!("readers unavailable: {e}"));
    }
    for r in &inv.readers {
        let card = match (&r.atr, &r.card_family) {
            (Some(atr), Some(f)) => format!("card {f}, ATR {atr}"),
            _ => "no card".to_owned(),
        };
        line(format!("reader  {}: {card}", r.name));
    }
    if inv.tokens.is_empty() {
        line("no token found".to_owned());
    }
    for t in &inv.tokens {
        let demo = if t.demo {
            " [DEMO — not a real card]"
        } else {
            ""
        };
        line(format!("token   {} serial {}{demo}", t.label, t.serial));
        line(format!(
            "        {} / {} in {}",
            t.manufacturer, t.model, t.slot_description
        ));
        let pin = match t.pin_status {
            PinStatus::Ok => "ok".to_owned(),
            PinStatus::CountLow => "wrong tries recorded".to_owned(),
            PinStatus::FinalTry => "FINAL TRY".to_owned(),
            PinStatus::Locked => "LOCKED".to_owned(),
        };
        let tries = t
            .pin_tries_left
            .map(|n| format!(", {n} tries left"))
            .unwrap_or_default();
        line(format!(
            "        PIN {}-{} digits, {pin}{tries}",
            t.min_pin_length, t.max_pin_length
        ));
        for c in &t.certificates {
            line(format!(
                "  cert  {} [{}] {}",
                c.subject_cn.as_deref().unwrap_or(&c.subject),
                c.card_family,
                c.key_usage.join(",")
            ));
            line(format!("        issuer {}", c.issuer));
            line(format!(
                "        valid {} to {} ({} days left)",
                c.not_before, c.not_after, c.days_to_expiry
            ));
            if let Some(id) = &c.id_last4 {
                line(format!("        national ID ends {id}"));
            }
            if let Some(b) = &c.business_number {
                line(format!("        business number {b}"));
            }
            line(format!("        sha256 {}", c.sha256));
        }
    }
    out
}
