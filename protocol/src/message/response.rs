//! Responses (`{"id", "result"}` or `{"id", "error"}`) and the result payload of each command.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::command::SignatureFormat;
use super::request::RequestId;
use crate::frame::{self, MAX_BROWSER_MESSAGE, MAX_FRAME};
use crate::types::{Certificate, Inventory};
use crate::{ErrorCode, Language};

/// The protocol number reported by `version`. It changes only when a change would break a
/// client written for the previous one; additions (new commands, fields, codes) keep it.
pub const PROTOCOL_VERSION: u32 = 1;

/// The answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The request's id; `None` (serialised as `null`) when the request's id was unreadable.
    pub id: Option<RequestId>,
    /// Success or failure.
    pub body: ResponseBody,
}

/// What a response carries.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// `"result"`: the command succeeded; the shape depends on the command.
    Result(Value),
    /// `"error"`: it failed.
    Error(ErrorBody),
}

/// An error as sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ErrorBody {
    /// The stable code, e.g. `PIN_INCORRECT`.
    pub code: ErrorCode,
    /// A message for people (may change between versions; match on `code`).
    pub message: String,
    /// PIN tries left, when the card says (with `PIN_INCORRECT`, `PIN_LOCKED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries_left: Option<u8>,
    /// The request field at fault (with `BAD_REQUEST`), e.g. `arguments.hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The card's ATR, upper-case hex (with `UNKNOWN_CARD`), for a support report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atr: Option<String>,
}

impl ErrorBody {
    /// An error with a specific message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            retries_left: None,
            field: None,
            atr: None,
        }
    }

    /// An error with the code's standard message in `lang`.
    pub fn from_code(code: ErrorCode, lang: Language) -> Self {
        ErrorBody::new(code, code.message(lang))
    }

    /// Adds the PIN tries left.
    pub fn with_retries_left(mut self, retries_left: u8) -> Self {
        self.retries_left = Some(retries_left);
        self
    }

    /// Adds the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds the card's ATR.
    pub fn with_atr(mut self, atr: impl Into<String>) -> Self {
        self.atr = Some(atr.into());
        self
    }
}

/// Sent when even an error response cannot be serialised (cannot happen with these types, but
/// the writer must always have something valid to send).
const FALLBACK: &[u8] =
    br#"{"id":null,"error":{"code":"INTERNAL","message":"the response could not be encoded"}}"#;

impl Response {
    /// A success response.
    pub fn ok(id: impl Into<Option<RequestId>>, result: Value) -> Self {
        Response {
            id: id.into(),
            body: ResponseBody::Result(result),
        }
    }

    /// An error response.
    pub fn error(id: impl Into<Option<RequestId>>, error: ErrorBody) -> Self {
        Response {
            id: id.into(),
            body: ResponseBody::Error(error),
        }
    }

    /// A success response from a typed result (e.g. [`SignResult`]). Should the result fail
    /// to serialise, the response is an `INTERNAL` error instead, so the caller always has a
    /// response to send.
    pub fn result<T: Serialize>(id: impl Into<Option<RequestId>>, result: &T) -> Self {
        let id = id.into();
        match serde_json::to_value(result) {
            Ok(value) => Response::ok(id, value),
            Err(e) => Response::error(
                id,
                ErrorBody::new(
                    ErrorCode::Internal,
                    format!("the result could not be encoded: {e}"),
                ),
            ),
        }
    }

    /// True for an error response.
    pub fn is_error(&self) -> bool {
        matches!(self.body, ResponseBody::Error(_))
    }

    /// The JSON text.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// The framed bytes to write to the browser (stdout of the native host). A response over
    /// [`MAX_BROWSER_MESSAGE`] would make Chrome drop the host, so it is replaced by an
    /// `INTERNAL` error with the same id saying how large it was.
    pub fn frame_for_browser(&self) -> Vec<u8> {
        self.frame_within(MAX_BROWSER_MESSAGE)
    }

    /// The framed bytes to write on the IPC socket; like
    /// [`frame_for_browser`](Self::frame_for_browser) with the [`MAX_FRAME`] limit.
    pub fn frame(&self) -> Vec<u8> {
        self.frame_within(MAX_FRAME)
    }

    fn frame_within(&self, limit: usize) -> Vec<u8> {
        let json = self.to_json().unwrap_or_else(|_| FALLBACK.to_vec());
        if let Ok(framed) = frame::encode_with_limit(&json, limit) {
            return framed;
        }
        let replacement = Response::error(
            self.id.clone(),
            ErrorBody::new(
                ErrorCode::Internal,
                format!(
                    "the response is too large to send ({} bytes; the limit is {limit})",
                    json.len()
                ),
            ),
        );
        let json = replacement.to_json().unwrap_or_else(|_| FALLBACK.to_vec());
        // The replacement is a few hundred bytes at most (the id is bounded), so it always
        // fits; the fallback is there only so this function never fails.
        frame::encode_with_limit(&json, limit)
            .or_else(|_| frame::encode_with_limit(FALLBACK, limit))
            .unwrap_or_default()
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("id", &self.id)?;
        match &self.body {
            ResponseBody::Result(v) => map.serialize_entry("result", v)?,
            ResponseBody::Error(e) => map.serialize_entry("error", e)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Response {
    /// For clients: exactly one of `result` and `error`; unknown top-level keys are refused.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            id: Option<RequestId>,
            result: Option<Value>,
            error: Option<ErrorBody>,
        }
        let raw = Raw::deserialize(deserializer)?;
        let body = match (raw.result, raw.error) {
            (Some(result), None) => ResponseBody::Result(result),
            (None, Some(error)) => ResponseBody::Error(error),
            _ => {
                return Err(D::Error::custom(
                    "a response has exactly one of `result` and `error`",
                ))
            }
        };
        Ok(Response { id: raw.id, body })
    }
}

/// Result of `version`: `{"version": "0.1.0", "protocol": 1, "name": "card-agent"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionResult {
    /// The agent's version.
    pub version: String,
    /// [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// Always `card-agent`.
    pub name: String,
}

impl VersionResult {
    /// The result for an agent of this version.
    pub fn new(version: impl Into<String>) -> Self {
        VersionResult {
            version: version.into(),
            protocol: PROTOCOL_VERSION,
            name: "card-agent".to_owned(),
        }
    }
}

/// Result of `status`: the whole inventory.
pub type StatusResult = Inventory;

/// Result of `get-certificates`: `{"certificates": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificatesResult {
    /// Every certificate on every token.
    pub certificates: Vec<TokenCertificate>,
}

/// A certificate with the serial of the token it is on: the certificate's fields plus
/// `tokenSerial`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCertificate {
    /// The token's serial ([`crate::types::Token::serial`]).
    pub token_serial: String,
    /// The certificate.
    #[serde(flatten)]
    pub certificate: Certificate,
}

/// Result of `sign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignResult {
    /// The signature (`pkcs1`) or the CMS SignedData DER (`cms`, `cms-attached`), base64.
    pub signature: String,
    /// The format, as requested.
    pub format: SignatureFormat,
    /// The signer's certificate, base64 DER.
    pub certificate: String,
}

/// Result of `verify-pin`: `{"verified": true}` (a wrong PIN is an error, not `false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyPinResult {
    /// Always true in a success response.
    pub verified: bool,
}

/// Result of `subscribe` (`{"subscribed": true}`) and `unsubscribe` (`{"subscribed": false}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionResult {
    /// Whether events will be pushed on this connection from now on.
    pub subscribed: bool,
}

/// Result of `legacy-request`: what the legacy HTTP API answered, for the extension to hand
/// back to the page as if it came over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyResult {
    /// HTTP status.
    pub status: u16,
    /// The Content-Type.
    pub content_type: String,
    /// The body, base64 (it may be an image).
    pub body: String,
}

/// Result of `self-test-sign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfTestSignResult {
    /// The sample text that was signed, base64.
    pub data: String,
    /// The bare signature (PKCS#1 v1.5 for RSA, DER ECDSA for EC), base64.
    pub signature: String,
    /// The signer's certificate, base64 DER.
    pub certificate: String,
    /// The hash, `SHA-256`.
    pub hash_algorithm: String,
    /// Whether the agent verified the signature with the certificate's public key.
    pub agent_verified: bool,
}

/// Result of `trusted-sites`: the sites the user approved (each can be removed with
/// `remove-trusted-site`) and the configuration's `trusted_sites` patterns (changed only by
/// editing the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedSitesResult {
    /// Approved sites, oldest approval first.
    pub sites: Vec<TrustedSite>,
    /// The configured patterns, e.g. `https://*.gov.tw`.
    pub configured: Vec<String>,
}

/// A site the user approved in the agent's confirmation dialog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedSite {
    /// The site's origin, e.g. `https://example.gov.tw`.
    pub origin: String,
    /// When the user approved it, RFC 3339.
    pub approved_at: String,
}

/// Result of `remove-trusted-site`: `{"removed": true}`, or `false` when the site was not
/// among the approved ones (a configured pattern cannot be removed this way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveTrustedSiteResult {
    /// Whether an approval was withdrawn.
    pub removed: bool,
}

/// Result of `cancel`: `{"cancelled": true}` when the named request was still running on this
/// connection (its dialog closes and it fails), `false` when there was nothing to cancel (it
/// had already been answered, or no such id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelResult {
    /// Whether a running request was cancelled.
    pub cancelled: bool,
}
