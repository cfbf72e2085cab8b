//! The record of the extension's last visit: when the browser last started the native host,
//! and for which extension. The environment check reads it.

use std::path::Path;

use super::BrowserCaller;
use crate::error::Result;

/// The file in the per-user state directory where the native host records its last start.
pub const LAST_SEEN_FILE: &str = "extension-last-seen";

/// When the extension last started the native host, and which extension it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSeen {
    /// When, Unix seconds.
    pub unix: i64,
    /// The caller's ID (`chrome-extension://<id>/` or a Firefox add-on ID).
    pub caller: String,
}

/// Records that `caller` started the native host at `now`: `extension-last-seen` in
/// `state_dir`, a small JSON object with the caller, the RFC 3339 time and the Unix time.
/// A private state file, replaced atomically (see [`crate::state_file`]).
pub fn record_visit(state_dir: &Path, caller: &BrowserCaller, now: i64) -> Result<()> {
    let text = serde_json::json!({
        "caller": caller.id(),
        "time": crate::inventory::rfc3339(now),
        "unixTime": now,
    })
    .to_string();
    crate::state_file::write_atomic(&state_dir.join(LAST_SEEN_FILE), text.as_bytes())
}

/// The last recorded visit, if any (an unreadable or malformed file counts as none).
pub fn last_seen(state_dir: &Path) -> Option<LastSeen> {
    const MAX_BYTES: usize = 4096;
    let text = std::fs::read_to_string(state_dir.join(LAST_SEEN_FILE)).ok()?;
    if text.len() > MAX_BYTES {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(LastSeen {
        unix: value["unixTime"].as_i64()?,
        caller: value["caller"].as_str()?.chars().take(200).collect(),
    })
}
