//! Requests: `{"id", "command", "origin"?, "arguments"?}`, parsed strictly.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::command::{parse_command, Command};
use super::error::{InvalidRequest, RequestError};
use super::json::{parse_strict, quote_key, type_name};
use super::limits::{MAX_ID_CHARS, MAX_ORIGIN_CHARS};

/// A request's `id`, chosen by the client and echoed in its response: a string of at most
/// [`MAX_ID_CHARS`] characters or an integer that fits in an `i64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl From<i64> for RequestId {
    fn from(n: i64) -> Self {
        RequestId::Number(n)
    }
}

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        RequestId::String(s.to_owned())
    }
}

impl From<String> for RequestId {
    fn from(s: String) -> Self {
        RequestId::String(s)
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Echoed in the response.
    pub id: RequestId,
    /// The page's origin (e.g. `https://example.gov.tw`), set by the extension from the
    /// browser's sender, never by the page. Absent for local clients (CLI, tray); whether a
    /// command needs it is the daemon's decision.
    pub origin: Option<String>,
    /// The command and its arguments.
    pub command: Command,
}

/// The top-level keys a request may have.
const REQUEST_FIELDS: &[&str] = &["id", "command", "origin", "arguments"];

impl Request {
    /// A request without an origin (what a local client sends).
    pub fn new(id: impl Into<RequestId>, command: Command) -> Self {
        Request {
            id: id.into(),
            origin: None,
            command,
        }
    }

    /// Sets the origin (what the extension does).
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Parses one frame's payload. See [`parse_request`].
    pub fn parse(payload: &[u8]) -> Result<Request, InvalidRequest> {
        parse_request(payload)
    }

    /// The JSON text of this request (what a client frames and sends).
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("command", self.command.name())?;
        if let Some(origin) = &self.origin {
            map.serialize_entry("origin", origin)?;
        }
        match &self.command {
            Command::VerifyPin(args) => map.serialize_entry("arguments", args)?,
            Command::Sign(args) => map.serialize_entry("arguments", args)?,
            Command::Authenticate(args) => map.serialize_entry("arguments", args)?,
            Command::LegacyRequest(args) => map.serialize_entry("arguments", args)?,
            Command::SelfTestSign(args) => map.serialize_entry("arguments", args)?,
            Command::RemoveTrustedSite(args) => map.serialize_entry("arguments", args)?,
            Command::SmartPkiCall(args) => map.serialize_entry("arguments", args)?,
            Command::SmartPkiClose(args) => map.serialize_entry("arguments", args)?,
            Command::Version
            | Command::SmartPkiOpen
            | Command::EnvironmentCheck
            | Command::Status
            | Command::GetCertificates
            | Command::Subscribe
            | Command::Unsubscribe
            | Command::TrustedSites => {}
        }
        map.end()
    }
}

/// Parses one frame's payload into a [`Request`].
///
/// Refused, each with its own [`RequestError`]: invalid UTF-8, invalid JSON or a repeated key,
/// a non-object, an unknown top-level key, a missing or malformed `id`, a missing, non-string
/// or unknown `command`, a malformed `origin`, non-object `arguments`, and, per command,
/// unknown argument keys, missing required arguments, wrong types, over-long strings and
/// invalid values. The error carries the `id` whenever the id itself was readable.
pub fn parse_request(payload: &[u8]) -> Result<Request, InvalidRequest> {
    let no_id = |error| InvalidRequest { id: None, error };
    let text = std::str::from_utf8(payload).map_err(|e| {
        no_id(RequestError::NotUtf8 {
            offset: e.valid_up_to(),
        })
    })?;
    let mut map = match parse_strict(text).map_err(no_id)? {
        Value::Object(map) => map,
        other => {
            return Err(no_id(RequestError::NotAnObject {
                found: type_name(&other),
            }))
        }
    };
    // The id first, so that every later error can be matched to the request.
    let id = parse_id(map.remove("id")).map_err(no_id)?;
    let with_id = |error| InvalidRequest {
        id: Some(id.clone()),
        error,
    };
    if let Some(stray) = map.keys().find(|k| !REQUEST_FIELDS.contains(&k.as_str())) {
        return Err(with_id(RequestError::UnknownField {
            field: quote_key(stray),
            allowed: REQUEST_FIELDS,
        }));
    }
    let command_name = match map.remove("command") {
        Some(Value::String(s)) => s,
        None => {
            return Err(with_id(RequestError::MissingField {
                field: "command".to_owned(),
            }))
        }
        Some(other) => {
            return Err(with_id(RequestError::WrongType {
                field: "command".to_owned(),
                expected: "a string",
                found: type_name(&other),
            }))
        }
    };
    let origin = parse_origin(map.remove("origin")).map_err(with_id)?;
    let command = parse_command(&command_name, map.remove("arguments")).map_err(with_id)?;
    Ok(Request {
        id: id.clone(),
        origin,
        command,
    })
}

fn parse_id(value: Option<Value>) -> Result<RequestId, RequestError> {
    let field = || "id".to_owned();
    match value {
        None => Err(RequestError::MissingField { field: field() }),
        Some(Value::String(s)) if s.chars().count() <= MAX_ID_CHARS => Ok(RequestId::String(s)),
        Some(Value::String(_)) => Err(RequestError::TooLong {
            field: field(),
            max_chars: MAX_ID_CHARS,
        }),
        Some(Value::Number(n)) => {
            n.as_i64()
                .map(RequestId::Number)
                .ok_or_else(|| RequestError::InvalidValue {
                    field: field(),
                    reason: "must be an integer between -2^63 and 2^63-1, or a string".to_owned(),
                })
        }
        Some(other) => Err(RequestError::WrongType {
            field: field(),
            expected: "a string or an integer",
            found: type_name(&other),
        }),
    }
}

fn parse_origin(value: Option<Value>) -> Result<Option<String>, RequestError> {
    let field = || "origin".to_owned();
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > MAX_ORIGIN_CHARS => {
            Err(RequestError::TooLong {
                field: field(),
                max_chars: MAX_ORIGIN_CHARS,
            })
        }
        // Origins are ASCII (hosts are punycode in their serialisation); refusing anything else
        // keeps control characters and look-alikes out of the daemon's prompts and logs.
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(s))
        }
        Some(Value::String(_)) => Err(RequestError::InvalidValue {
            field: field(),
            reason: "must be a serialised origin such as https://example.gov.tw (printable \
                     ASCII, no spaces)"
                .to_owned(),
        }),
        Some(other) => Err(RequestError::WrongType {
            field: field(),
            expected: "a string",
            found: type_name(&other),
        }),
    }
}
