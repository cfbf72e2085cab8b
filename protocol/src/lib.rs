//! # card-agent protocol
//!
//! Everything that crosses a process boundary between card-agent and its clients, and nothing
//! that performs I/O, so that a web server or a test can depend on it alone.
//!
//! ## Layout
//! - [`error_code`]: the stable error codes every channel reports. One table; the agent maps
//!   its internal errors onto it in one place.
//! - [`i18n`]: the message catalogue, one file per language (`locales/zh-TW.toml`,
//!   `locales/en.toml`): error messages and every text the agent shows people.
//! - [`types`]: the JSON shapes of readers, tokens and certificates, shared by the CLI's
//!   `--json` output and the native protocol, so both always say the same thing.
//! - [`frame`]: the length-prefixed framing of native messaging, used on stdin/stdout and on
//!   the daemon's socket alike; a pure encoder and an incremental, bounded decoder.
//! - [`message`]: requests (strictly parsed into a [`Command`] enum), responses with their
//!   typed results and errors, and pushed events; the bound on every field is in
//!   [`message::limits`].
//! - [`auth`]: the origin-bound authentication token and the exact bytes the card signs.
//! - [`secret`]: [`SecretString`], how a PIN travels: redacted in `Debug`, wiped on drop.
//! - [`encoding`]: base64 as the protocol accepts and produces it.
//! - [`browser`]: the extension's runtime port names and `postMessage` marks, from which the
//!   JavaScript copies are generated.
//! - `verifier` (cargo feature `verifier`): what a relying party's server runs to check an
//!   authentication token: X.509 path to its trusted roots, then the origin-bound signature.
//!   Servers depend on this crate with that feature and nothing of the agent.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used)]
// Tests may unwrap: a panic there is a test failure with a location, which is what we want.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod browser;
pub mod encoding;
pub mod error_code;
pub mod frame;
pub mod i18n;
pub mod message;
pub mod secret;
pub mod timeouts;
pub mod types;
#[cfg(feature = "verifier")]
pub mod verifier;

pub use error_code::{ErrorCode, Language};
pub use message::{
    parse_request, Command, ErrorBody, Event, InvalidRequest, Request, RequestError, RequestId,
    Response,
};
pub use secret::SecretString;
