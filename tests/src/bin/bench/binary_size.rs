//! Measure 6: the size of the `card-agent` binary the bench runs (the release build in the
//! documented command), and its size stripped of symbols when it still carries them.

use std::process::Command;

use crate::stats;

pub fn run() -> Result<(), String> {
    let bin = card_agent_testbed::agent::agent_bin();
    let size = std::fs::metadata(&bin)
        .map_err(|e| format!("{}: {e}", bin.display()))?
        .len();
    let profile = if bin.components().any(|c| c.as_os_str() == "release") {
        "release"
    } else {
        "**not a release build**"
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let stripped_path = dir.path().join("card-agent");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&stripped_path)
        .arg(&bin)
        .status()
        .ok()
        .filter(|s| s.success())
        .and_then(|_| std::fs::metadata(&stripped_path).ok())
        .map(|m| m.len());
    let mb = |b: u64| format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0));
    println!(
        "\n### 6. Binary size\n\n| binary | bytes | size |\n|---|---|---|\n| `{}` ({profile}) | {size} | {} |",
        bin.display(),
        mb(size)
    );
    let measured = match stripped {
        Some(s) if s < size => {
            println!("| the same, `strip`ped | {s} | {} |", mb(s));
            format!("{} ({} stripped)", mb(size), mb(s))
        }
        Some(_) => {
            println!("| (already stripped: `strip` removes nothing) | | |");
            format!("{} (stripped)", mb(size))
        }
        None => {
            println!("| (`strip` (binutils) is not available) | | |");
            mb(size)
        }
    };
    stats::goal(
        "release binary size of card-agent",
        "report",
        measured,
        stats::Verdict::Info,
    );
    Ok(())
}
