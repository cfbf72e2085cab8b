//! Strict JSON reading shared by the request parser: duplicate keys refused, and field readers
//! whose errors name the field but never echo its value (a value may be a PIN).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::RequestError;

/// Longest piece of a caller-chosen key quoted back in an error message.
const MAX_QUOTED_KEY: usize = 64;

/// Parses JSON text like `serde_json::from_str`, but refuses duplicate object keys anywhere.
/// serde_json would silently keep the last one, letting two readers of the same message (the
/// extension and the agent) disagree about, say, which certificate was asked for.
pub(crate) fn parse_strict(text: &str) -> Result<Value, RequestError> {
    serde_json::from_str::<StrictValue>(text)
        .map(|v| v.0)
        .map_err(|e| RequestError::InvalidJson {
            // serde_json's messages give the position and the kind of problem, never the
            // offending value, so they are safe to return as they are.
            detail: e.to_string(),
        })
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
        // JSON has no NaN or infinity, so this is always representable.
        Ok(StrictValue(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_none<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(StrictValue(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictValue, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{}`",
                    quote_key(&key)
                )));
            }
            let StrictValue(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(StrictValue(Value::Object(out)))
    }
}

/// A caller-chosen key made safe to quote: at most [`MAX_QUOTED_KEY`] characters, control
/// characters replaced, so an error message cannot be used to smuggle text into a log line.
pub(crate) fn quote_key(key: &str) -> String {
    let mut out: String = key
        .chars()
        .take(MAX_QUOTED_KEY)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if key.chars().count() > MAX_QUOTED_KEY {
        out.push('…');
    }
    out
}

/// The name of a JSON value's type, for "expected X, found Y" messages (the value itself is
/// never shown).
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the fields of one JSON object, checking the key set first. Each reader removes the
/// field it reads; a missing optional field and an explicit `null` both read as absent.
pub(crate) struct Fields {
    /// Dotted prefix for field paths in errors, e.g. `arguments.`.
    prefix: &'static str,
    map: Map<String, Value>,
}

impl Fields {
    /// Checks that `map` only has keys from `allowed`; the first stray key is reported.
    pub(crate) fn new(
        prefix: &'static str,
        map: Map<String, Value>,
        allowed: &'static [&'static str],
    ) -> Result<Self, RequestError> {
        if let Some(stray) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(RequestError::UnknownField {
                field: format!("{prefix}{}", quote_key(stray)),
                allowed,
            });
        }
        Ok(Fields { prefix, map })
    }

    fn path(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    /// An optional string of at most `max_chars` characters.
    pub(crate) fn opt_string(
        &mut self,
        field: &'static str,
        max_chars: usize,
    ) -> Result<Option<String>, RequestError> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                if s.chars().count() > max_chars {
                    return Err(RequestError::TooLong {
                        field: self.path(field),
                        max_chars,
                    });
                }
                Ok(Some(s))
            }
            Some(other) => Err(RequestError::WrongType {
                field: self.path(field),
                expected: "a string",
                found: type_name(&other),
            }),
        }
    }

    /// A required string of at most `max_chars` characters.
    pub(crate) fn string(
        &mut self,
        field: &'static str,
        max_chars: usize,
    ) -> Result<String, RequestError> {
        match self.map.get(field) {
            None => Err(RequestError::MissingField {
                field: self.path(field),
            }),
            // An explicit null for a required field is a type error, not an absence.
            Some(Value::Null) => Err(RequestError::WrongType {
                field: self.path(field),
                expected: "a string",
                found: "null",
            }),
            Some(_) => {
                self.opt_string(field, max_chars)?
                    .ok_or_else(|| RequestError::MissingField {
                        field: self.path(field),
                    })
            }
        }
    }

    /// An optional integer that fits in an i64 (a fraction or a string is a type error).
    pub(crate) fn opt_i64(&mut self, field: &'static str) -> Result<Option<i64>, RequestError> {
        match self.map.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(other) => Err(RequestError::WrongType {
                field: self.path(field),
                expected: "an integer",
                found: type_name(&other),
            }),
        }
    }

    /// The full path of a field of this object, for errors raised by the caller.
    pub(crate) fn field_path(&self, field: &str) -> String {
        self.path(field)
    }
}
