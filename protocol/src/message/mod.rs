//! Messages: requests a client sends, responses and events the agent sends back. Each is the
//! JSON payload of one [`crate::frame`].
//!
//! - [`parse_request`] turns a payload into a [`Request`] (an id, an optional origin and a
//!   [`Command`]) or an [`InvalidRequest`] whose [`InvalidRequest::to_response`] is the
//!   `BAD_REQUEST` answer, with the request's id when it could be read.
//! - [`Response`] is `{"id", "result"}` or `{"id", "error"}`; the typed results
//!   ([`VersionResult`], [`SignResult`], ...) go in through [`Response::result`].
//! - [`EventMessage`] is `{"event": {...}}`, pushed to subscribed connections.
//! - [`ServerMessage`] is what a client reads: a response or an event.
//!
//! Parsing is strict (unknown keys, duplicate keys, wrong types and over-long strings are each
//! refused with a message naming the field) and never echoes a value, since a value may be a
//! PIN. The bounds are in [`limits`].

mod command;
mod error;
mod event;
mod json;
mod request;
mod response;
mod smartpki;

#[cfg(test)]
mod tests;

pub use command::{
    parse_command, AuthenticateArgs, Command, HashAlgorithm, LegacyRequestArgs,
    RemoveTrustedSiteArgs, SelfTestSignArgs, SignArgs, SignInput, SignatureFormat, VerifyPinArgs,
    COMMAND_NAMES, MAX_LEGACY_PATH_CHARS,
};
pub use error::{InvalidRequest, RequestError};
pub use event::{Event, EventMessage};
pub use request::{parse_request, Request, RequestId};
pub use response::{
    CertificatesResult, ErrorBody, LegacyResult, RemoveTrustedSiteResult, Response, ResponseBody,
    SelfTestSignResult, SignResult, StatusResult, SubscriptionResult, TokenCertificate,
    TrustedSite, TrustedSitesResult, VerifyPinResult, VersionResult, PROTOCOL_VERSION,
};
pub use smartpki::{
    SmartPkiCallArgs, SmartPkiCertificate, SmartPkiCloseArgs, SmartPkiCloseResult, SmartPkiInfo,
    SmartPkiOpenResult, SmartPkiReply, MAX_SMARTPKI_NAME_CHARS, MAX_SMARTPKI_PIN_CHARS,
};

/// The bound on every string a request may carry. Each is checked before the value is used;
/// the whole message is also bounded by [`crate::frame::MAX_FRAME`].
pub mod limits {
    /// `id` as a string: 128 characters, plenty for a UUID or a counter with a prefix.
    pub const MAX_ID_CHARS: usize = 128;
    /// `origin`: 512 characters. A serialised origin is a scheme, a host of at most 253
    /// characters and a port.
    pub const MAX_ORIGIN_CHARS: usize = 512;
    /// Any `pin`: 64 characters, the agent's own input bound (government cards take 6 to 8
    /// digits; the agent checks the format itself before anything reaches a card).
    pub const MAX_PIN_CHARS: usize = 64;
    /// `verify-pin`'s `token` (a token serial): 64 characters (HiCOS serials are 16;
    /// PKCS#11 allows 16 bytes).
    pub const MAX_TOKEN_SERIAL_CHARS: usize = 64;
    /// Any nonce (`sign`'s `nonce`, `authenticate`'s `challengeNonce`): 1024 characters.
    pub const MAX_NONCE_CHARS: usize = crate::auth::MAX_NONCE_CHARS;
    /// `sign`'s `hash` and `data`, base64: at most a frame. A `hash` must moreover decode to
    /// exactly its algorithm's digest length (at most 64 bytes).
    pub const MAX_BASE64_CHARS: usize = crate::frame::MAX_FRAME;
    /// A certificate thumbprint (`certificate`): exactly 64 hex digits, a SHA-256.
    pub const THUMBPRINT_HEX_CHARS: usize = 64;
}

/// Anything the agent sends: a response to a request, or a pushed event. For clients (the
/// CLI, the tray, tests) reading the agent's frames.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// A response (has an `id`).
    Response(Response),
    /// An event (has an `event`).
    Event(Event),
}

impl ServerMessage {
    /// Parses one frame's payload from the agent.
    pub fn parse(payload: &[u8]) -> Result<ServerMessage, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_slice(payload)?;
        if value.get("event").is_some() {
            serde_json::from_value::<EventMessage>(value).map(|m| ServerMessage::Event(m.event))
        } else {
            serde_json::from_value(value).map(ServerMessage::Response)
        }
    }
}
