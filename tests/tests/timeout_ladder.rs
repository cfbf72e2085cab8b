//! The timeout ladder (`card_agent_protocol::timeouts`) is written once, in Rust; the
//! extension's and the page library's JavaScript hold the same numbers in milliseconds. This
//! test reads them from the JavaScript and fails when they drift.

use std::time::Duration;

use card_agent_protocol::timeouts;

fn source(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../extension");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The number after `key` (`key: 280_000` or `KEY = 170_000`), in milliseconds.
fn millis(text: &str, key: &str) -> Duration {
    let at = text.find(key).unwrap_or_else(|| panic!("{key} not found"));
    let digits: String = text[at + key.len()..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == '_')
        .filter(char::is_ascii_digit)
        .collect();
    Duration::from_millis(digits.parse().unwrap_or_else(|e| panic!("{key}: {e}")))
}

/// The `DEFAULT_TIMEOUTS` object of a JavaScript file.
fn defaults(text: &str) -> &str {
    let at = text
        .find("export const DEFAULT_TIMEOUTS")
        .expect("DEFAULT_TIMEOUTS");
    &text[at..]
}

#[test]
fn the_extension_waits_what_the_ladder_says() {
    let protocol = source("lib/protocol.js");
    let table = defaults(&protocol);
    assert_eq!(
        millis(table, "interactive:"),
        timeouts::EXTENSION_INTERACTIVE
    );
    assert_eq!(millis(table, "inventory:"), timeouts::EXTENSION_INVENTORY);
    assert_eq!(millis(table, "legacy:"), timeouts::EXTENSION_LEGACY);
    assert_eq!(millis(table, "quick:"), timeouts::EXTENSION_QUICK);
}

#[test]
fn the_page_library_and_the_legacy_shim_wait_longer_still() {
    let library = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../packages/card-agent-page/card-agent.js"),
    )
    .expect("the page library");
    let table = defaults(&library);
    assert_eq!(millis(table, "interactive:"), timeouts::PAGE_INTERACTIVE);
    assert_eq!(millis(table, "inventory:"), timeouts::PAGE_INVENTORY);
    assert_eq!(millis(table, "quick:"), timeouts::PAGE_QUICK);
    let shim = source("legacy-shim.js");
    assert_eq!(millis(&shim, "const TIMEOUT_MS ="), timeouts::PAGE_LEGACY);
}
