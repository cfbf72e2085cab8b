//! Why a request was refused before any command ran. Every variant maps to
//! [`ErrorCode::BadRequest`]; the message names the field and never includes a field's value
//! (a value may be a PIN), only caller-chosen key or command names, shortened and sanitised.

use thiserror::Error;

use super::request::RequestId;
use super::response::{ErrorBody, Response};
use crate::ErrorCode;

/// A specific problem with a request. Field paths are dotted wire names, e.g. `id`,
/// `arguments.hashAlgorithm`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The frame is not UTF-8.
    #[error("the message is not valid UTF-8 (first invalid byte at offset {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// The frame is not JSON, or repeats an object key.
    #[error("the message is not valid JSON: {detail}")]
    InvalidJson {
        /// serde_json's description (position and kind of problem), or the duplicated key.
        detail: String,
    },
    /// The JSON is not an object.
    #[error("the message must be a JSON object, not {found}")]
    NotAnObject {
        /// What it was instead.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("missing field `{field}`")]
    MissingField {
        /// The field's path.
        field: String,
    },
    /// A field that this message or command does not have.
    #[error("unknown field `{field}` ({})", describe_allowed(.allowed))]
    UnknownField {
        /// The stray field's path (its key shortened and sanitised).
        field: String,
        /// The fields that are allowed at that level.
        allowed: &'static [&'static str],
    },
    /// A field of the wrong JSON type.
    #[error("`{field}` must be {expected}, not {found}")]
    WrongType {
        /// The field's path.
        field: String,
        /// What it must be, e.g. `a string`.
        expected: &'static str,
        /// What it was.
        found: &'static str,
    },
    /// A string over its bound.
    #[error("`{field}` is longer than {max_chars} characters")]
    TooLong {
        /// The field's path.
        field: String,
        /// The bound.
        max_chars: usize,
    },
    /// A field of the right type with a value that is not allowed.
    #[error("`{field}` {reason}")]
    InvalidValue {
        /// The field's path.
        field: String,
        /// What is wrong, phrased to follow the field name; never contains the value of a
        /// secret field.
        reason: String,
    },
    /// Two fields of which exactly one must be given were both given, or neither.
    #[error("exactly one of `{first}` and `{second}` must be given")]
    ExactlyOneOf {
        /// One field's path.
        first: String,
        /// The other field's path.
        second: String,
    },
    /// A command name the agent does not know.
    #[error("unknown command `{command}` (known: {})", super::command::COMMAND_NAMES.join(", "))]
    UnknownCommand {
        /// The name as sent (shortened and sanitised).
        command: String,
    },
}

fn describe_allowed(allowed: &[&str]) -> String {
    if allowed.is_empty() {
        "no fields are allowed here".to_owned()
    } else {
        format!("allowed: {}", allowed.join(", "))
    }
}

impl RequestError {
    /// The wire code: always [`ErrorCode::BadRequest`].
    pub fn code(&self) -> ErrorCode {
        ErrorCode::BadRequest
    }

    /// The path of the field at fault, when one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            RequestError::MissingField { field }
            | RequestError::UnknownField { field, .. }
            | RequestError::WrongType { field, .. }
            | RequestError::TooLong { field, .. }
            | RequestError::InvalidValue { field, .. }
            | RequestError::ExactlyOneOf { first: field, .. } => Some(field),
            RequestError::UnknownCommand { .. } => Some("command"),
            RequestError::NotUtf8 { .. }
            | RequestError::InvalidJson { .. }
            | RequestError::NotAnObject { .. } => None,
        }
    }

    /// The error body for a response: code `BAD_REQUEST`, this error's message, and the field.
    pub fn to_error_body(&self) -> ErrorBody {
        let body = ErrorBody::new(self.code(), self.to_string());
        match self.field() {
            Some(field) => body.with_field(field),
            None => body,
        }
    }
}

/// A request that could not be parsed, with its `id` when the id itself was readable, so the
/// response can still be matched to it (`"id": null` otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{error}")]
pub struct InvalidRequest {
    /// The request's id, if it could be read.
    pub id: Option<RequestId>,
    /// What was wrong.
    pub error: RequestError,
}

impl InvalidRequest {
    /// The `BAD_REQUEST` response to send back.
    pub fn to_response(&self) -> Response {
        Response::error(self.id.clone(), self.error.to_error_body())
    }
}
