//! The protocol's constants in JavaScript are generated from the Rust tables, so the extension
//! and the page library cannot drift from the agent (they did: the page library once lacked
//! `CERT_EXPIRED` and `CERT_NOT_YET_VALID`). Each file holds its constants between
//!
//! ```text
//! // BEGIN GENERATED protocol constants ...
//! // END GENERATED protocol constants
//! ```
//!
//! markers. Content scripts cannot import modules (MV3, in Chromium and Firefox alike), so
//! every file gets its own block, written here from one table, rather than a shared module.
//! This test rewrites the blocks in memory and fails when a committed file differs;
//! `CARD_AGENT_UPDATE_JS=1 cargo test -p card-agent-testbed --test js_constants` writes them.
//!
//! The timeout ladder's JavaScript rows (`card_agent_protocol::timeouts`) come from here too;
//! each file names them `DEFAULT_TIMEOUTS` (or `TIMEOUT_MS`) by hand, next to why.
//!
//! The extension's tests no longer load a copy of the page library: it lives in
//! `packages/card-agent-page/` only (the extension never ships it).

use std::path::{Path, PathBuf};

use card_agent_protocol::auth::{AUTH_TOKEN_FORMAT, MAX_NONCE_CHARS};
use card_agent_protocol::message::{limits, MAX_LEGACY_PATH_CHARS, PROTOCOL_VERSION};
use card_agent_protocol::{browser, frame, timeouts, ErrorCode};

const BEGIN: &str = "BEGIN GENERATED protocol constants";
const END: &str = "END GENERATED protocol constants";
const UPDATE: &str = "CARD_AGENT_UPDATE_JS=1 cargo test -p card-agent-testbed --test js_constants";

/// One constant: its JavaScript name, a doc line and its value as JavaScript source.
struct Constant {
    name: &'static str,
    doc: String,
    value: String,
}

fn string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// `Object.freeze([...])` of strings, wrapped so that no line passes 100 columns.
fn frozen_strings(items: &[&str], indent: &str) -> String {
    let mut lines = vec![String::new()];
    for item in items {
        let piece = format!("{}, ", string(item));
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && indent.len() + 2 + line.len() + piece.trim_end().len() > 100 {
            lines.push(piece);
        } else {
            line.push_str(&piece);
        }
    }
    let body: Vec<String> = lines
        .iter()
        .map(|l| format!("{indent}  {}", l.trim_end()))
        .collect();
    format!("Object.freeze([\n{}\n{indent}])", body.join("\n"))
}

/// Milliseconds, with `_` between thousands as the hand-written JavaScript had them.
fn ms(duration: std::time::Duration) -> String {
    let digits = duration.as_millis().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

fn error_codes() -> Vec<&'static str> {
    ErrorCode::ALL.iter().map(|c| c.as_str()).collect()
}

fn legacy_port() -> String {
    let listen = card_agent::config::DEFAULT_HTTP_LISTEN;
    listen.rsplit_once(':').expect("host:port").1.to_owned()
}

/// Every constant a JavaScript file may ask for. `indent` matters only for multi-line values.
fn table(indent: &str) -> Vec<Constant> {
    let c = |name, doc: &str, value: String| Constant {
        name,
        doc: doc.to_owned(),
        value,
    };
    vec![
        c(
            "ERROR_CODES",
            "Every stable error code of the protocol (`ErrorCode::ALL`). Match on these, not on messages.",
            frozen_strings(&error_codes(), indent),
        ),
        c(
            "PROTOCOL_VERSION",
            "The protocol's version number (`message::PROTOCOL_VERSION`).",
            PROTOCOL_VERSION.to_string(),
        ),
        c(
            "HOST_NAME",
            "The native messaging host's registered name.",
            string(card_agent::native_host::HOST_NAME),
        ),
        c(
            "MAX_FRAME",
            "`frame::MAX_FRAME`: the longest message (UTF-8 bytes of its JSON) the agent accepts.",
            frame::MAX_FRAME.to_string(),
        ),
        c(
            "MAX_ID_LENGTH",
            "`limits::MAX_ID_CHARS`: the longest request id (a string id), in characters.",
            limits::MAX_ID_CHARS.to_string(),
        ),
        c(
            "MAX_LEGACY_PATH",
            "`MAX_LEGACY_PATH_CHARS`: the longest `legacy-request` path with its query.",
            MAX_LEGACY_PATH_CHARS.to_string(),
        ),
        c(
            "MAX_NONCE_CHARS",
            "`auth::MAX_NONCE_CHARS`: the longest challenge nonce, in characters.",
            MAX_NONCE_CHARS.to_string(),
        ),
        c(
            "AUTH_TOKEN_FORMAT",
            "`auth::AUTH_TOKEN_FORMAT`: the `format` of an authentication token.",
            string(AUTH_TOKEN_FORMAT),
        ),
        c(
            "EXTENSION_TIMEOUTS",
            "The timeout ladder's extension row (`timeouts::EXTENSION_*`), ms.",
            format!(
                "Object.freeze({{ interactive: {}, inventory: {}, legacy: {}, quick: {} }})",
                ms(timeouts::EXTENSION_INTERACTIVE),
                ms(timeouts::EXTENSION_INVENTORY),
                ms(timeouts::EXTENSION_LEGACY),
                ms(timeouts::EXTENSION_QUICK),
            ),
        ),
        c(
            "PAGE_TIMEOUTS",
            "The timeout ladder's page row (`timeouts::PAGE_*`), ms.",
            format!(
                "Object.freeze({{ interactive: {}, inventory: {}, quick: {} }})",
                ms(timeouts::PAGE_INTERACTIVE),
                ms(timeouts::PAGE_INVENTORY),
                ms(timeouts::PAGE_QUICK),
            ),
        ),
        c(
            "PAGE_LEGACY_TIMEOUT",
            "`timeouts::PAGE_LEGACY`: the page's wait for a legacy call, ms.",
            ms(timeouts::PAGE_LEGACY),
        ),
        c(
            "PAGE_PORT_NAME",
            "The runtime port a content script opens to the service worker for a page.",
            string(browser::PAGE_PORT_NAME),
        ),
        c(
            "LEGACY_PORT_NAME",
            "The runtime port that carries the legacy shim's calls.",
            string(browser::LEGACY_PORT_NAME),
        ),
        c(
            "EXTENSION_PAGE_PORT_NAME",
            "The runtime port the extension's own pages (the self-test page) open.",
            string(browser::EXTENSION_PAGE_PORT_NAME),
        ),
        c(
            "PAGE_MARK",
            "The key marking page library messages on window.postMessage.",
            string(browser::PAGE_MESSAGE_MARK),
        ),
        c(
            "LEGACY_MARK",
            "The key marking legacy shim messages on window.postMessage.",
            string(browser::LEGACY_MESSAGE_MARK),
        ),
        c(
            "SMARTPKI_PORT_NAME",
            "The runtime port that carries SmartPKI pages' ports.",
            string(browser::SMARTPKI_PORT_NAME),
        ),
        c(
            "SMARTPKI_MARK",
            "The key marking SmartPKI shim messages on window.postMessage.",
            string(browser::SMARTPKI_MESSAGE_MARK),
        ),
        c(
            "SMARTPKI_PROBE",
            "The key of the SmartPKI shim's probe for its content script.",
            string(browser::SMARTPKI_PROBE_MARK),
        ),
        c(
            "LEGACY_AGENT_PORT",
            "The port legacy HiPKI pages call on localhost (the agent's default `http_listen`).",
            string(&legacy_port()),
        ),
    ]
}

/// How a file declares its constants.
#[derive(Clone, Copy)]
enum Style {
    /// An ES module: `export const` (or `const` for names listed without `export `).
    Module,
    /// A classic script's IIFE body: `const`, indented two spaces.
    Script,
    /// A TypeScript declaration file: the `ErrorCode` union type.
    Declarations,
}

/// Which file gets which constants. A name prefixed `export ` is exported (modules only).
fn targets() -> Vec<(&'static str, Style, &'static [&'static str])> {
    vec![
        (
            "extension/lib/protocol.js",
            Style::Module,
            &[
                "export HOST_NAME",
                "export PAGE_PORT_NAME",
                "export LEGACY_PORT_NAME",
                "export EXTENSION_PAGE_PORT_NAME",
                "export SMARTPKI_PORT_NAME",
                "export MAX_FRAME",
                "export MAX_ID_LENGTH",
                "export MAX_LEGACY_PATH",
                "export ERROR_CODES",
                "EXTENSION_TIMEOUTS",
            ],
        ),
        (
            "extension/content.js",
            Style::Script,
            &[
                "PAGE_MARK",
                "PAGE_PORT_NAME",
                "LEGACY_MARK",
                "LEGACY_PORT_NAME",
                "MAX_FRAME",
                "MAX_ID_LENGTH",
                "MAX_LEGACY_PATH",
            ],
        ),
        (
            "extension/legacy-shim.js",
            Style::Script,
            &[
                "LEGACY_MARK",
                "LEGACY_AGENT_PORT",
                "MAX_LEGACY_PATH",
                "PAGE_LEGACY_TIMEOUT",
            ],
        ),
        (
            "extension/smartpki-content.js",
            Style::Script,
            &[
                "SMARTPKI_MARK",
                "SMARTPKI_PORT_NAME",
                "SMARTPKI_PROBE",
                "MAX_FRAME",
            ],
        ),
        (
            "extension/smartpki-shim.js",
            Style::Script,
            &["SMARTPKI_MARK", "SMARTPKI_PROBE"],
        ),
        (
            "packages/card-agent-page/card-agent.js",
            Style::Module,
            &[
                "export ERROR_CODES",
                "export PROTOCOL_VERSION",
                "export AUTH_TOKEN_FORMAT",
                "PAGE_MARK",
                "MAX_NONCE_CHARS",
                "PAGE_TIMEOUTS",
            ],
        ),
        (
            "packages/card-agent-page/card-agent.d.ts",
            Style::Declarations,
            &["ERROR_CODES"],
        ),
    ]
}

fn block(style: Style, names: &[&str]) -> String {
    let indent = match style {
        Style::Script => "  ",
        Style::Module | Style::Declarations => "",
    };
    let table = table(indent);
    let mut out = String::new();
    for entry in names {
        let (export, name) = match entry.strip_prefix("export ") {
            Some(name) => ("export ", name),
            None => ("", *entry),
        };
        let constant = table
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no constant {name} in the table"));
        match style {
            Style::Declarations => {
                let union: Vec<String> = error_codes().iter().map(|c| string(c)).collect();
                let mut lines = vec![String::new()];
                for code in union {
                    let piece = format!("| {code} ");
                    let line = lines.last_mut().expect("a line");
                    if line.len() + piece.len() > 96 {
                        lines.push(piece);
                    } else {
                        line.push_str(&piece);
                    }
                }
                out.push_str(&format!(
                    "/** {} */\nexport type ErrorCode =\n",
                    constant.doc
                ));
                for line in lines {
                    out.push_str(&format!("  {}\n", line.trim_end()));
                }
                out.pop();
                out.push_str(";\n");
            }
            Style::Module | Style::Script => out.push_str(&format!(
                "{indent}/** {} */\n{indent}{export}const {name} = {};\n",
                constant.doc, constant.value
            )),
        }
    }
    out
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The file with its generated block rewritten.
fn regenerate(text: &str, style: Style, names: &[&str], file: &str) -> String {
    let comment = match style {
        Style::Script => "  // ",
        Style::Module | Style::Declarations => "// ",
    };
    let begin = text
        .find(BEGIN)
        .unwrap_or_else(|| panic!("{file}: no `{BEGIN}` marker"));
    let begin_line_end = begin + text[begin..].find('\n').expect("a line end") + 1;
    let end = text
        .find(END)
        .unwrap_or_else(|| panic!("{file}: no `{END}` marker"));
    let end_line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
    assert!(
        begin_line_end <= end_line_start,
        "{file}: markers out of order"
    );
    let begin_line_start = text[..begin].rfind('\n').map_or(0, |i| i + 1);
    let end_line_end = end + text[end..].find('\n').map_or(text.len() - end, |i| i + 1);
    format!(
        "{}{comment}{BEGIN} from the Rust tables (tests/tests/js_constants.rs): do not edit.\n\
         {comment}{UPDATE}\n{}{comment}{END}\n{}",
        &text[..begin_line_start],
        block(style, names),
        &text[end_line_end..]
    )
}

#[test]
fn javascript_constants_are_the_rust_tables() {
    let update = std::env::var_os("CARD_AGENT_UPDATE_JS").is_some();
    let mut stale = Vec::new();
    for (file, style, names) in targets() {
        let path = repo().join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let generated = regenerate(&text, style, names, file);
        if generated != text {
            if update {
                std::fs::write(&path, &generated).expect("write");
            } else {
                stale.push(file);
            }
        }
    }
    assert!(stale.is_empty(), "out of date: {stale:?}; run {UPDATE}");
}
