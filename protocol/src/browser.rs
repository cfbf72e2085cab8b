//! Names the browser side of the protocol uses: the runtime ports between the extension's
//! content script and its service worker, and the marks on `window.postMessage` messages
//! between a page (or the legacy shim) and the content script.
//!
//! The agent never sees these; they live here so that every JavaScript copy of them is
//! generated from one table (`tests/tests/js_constants.rs` writes them into the extension and
//! the page library between `BEGIN GENERATED` markers and fails when a file drifts).

/// The runtime port a content script opens to the service worker for a page's requests.
pub const PAGE_PORT_NAME: &str = "card-agent-page";

/// The runtime port on which the content script carries the legacy shim's calls.
pub const LEGACY_PORT_NAME: &str = "card-agent-legacy";

/// The runtime port the extension's own pages (the self-test page) open.
pub const EXTENSION_PAGE_PORT_NAME: &str = "card-agent-extension-page";

/// The key that marks a page library message on `window.postMessage`:
/// `{"card-agent": "request" | "ping" | "cancel" | "response" | ...}`.
pub const PAGE_MESSAGE_MARK: &str = "card-agent";

/// The key that marks a legacy shim message on `window.postMessage`.
pub const LEGACY_MESSAGE_MARK: &str = "card-agent-legacy";

/// The runtime port on which the SmartPKI content script carries SmartPKI pages' ports.
pub const SMARTPKI_PORT_NAME: &str = "card-agent-smartpki";

/// The key that marks a SmartPKI shim message on `window.postMessage`.
pub const SMARTPKI_MESSAGE_MARK: &str = "card-agent-smartpki";

/// The key of the SmartPKI shim's probe for its content script on `window.postMessage`.
pub const SMARTPKI_PROBE_MARK: &str = "card-agent-smartpki-probe";
