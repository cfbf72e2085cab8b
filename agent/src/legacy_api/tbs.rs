//! The `tbsPackage` JSON pages post, read liberally: pages wrap values in
//! `encodeURIComponent()`, send `"__NotExistedTag__"` or `""` for "absent", booleans as strings,
//! and numbers as strings. Everything here is pure.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The string some pages send for "this field is absent".
pub const NOT_EXISTED: &str = "__NotExistedTag__";
/// Largest `tbsPackage` accepted (the request body limit bounds it too).
pub const MAX_PACKAGE: usize = 2 * 1024 * 1024;

/// A parsed `tbsPackage`.
#[derive(Debug, Default)]
pub struct TbsPackage {
    fields: Map<String, Value>,
}

impl TbsPackage {
    /// Parses the JSON text of a `tbsPackage` (already taken out of the form body).
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_PACKAGE {
            return Err(Error::BadInput("tbsPackage is too large".to_owned()));
        }
        // Some pages wrap the whole package in encodeURIComponent() as well.
        let trimmed = text.trim();
        let decoded;
        let json = if trimmed.starts_with('%') {
            decoded = percent_decode(trimmed)
                .ok_or_else(|| Error::BadInput("tbsPackage is not valid JSON".to_owned()))?;
            decoded.as_str()
        } else {
            trimmed
        };
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(fields)) => Ok(TbsPackage { fields }),
            _ => Err(Error::BadInput(
                "tbsPackage is not a JSON object".to_owned(),
            )),
        }
    }

    /// The `tbsPackage` of a request body, parsed; `None` when the body has none.
    ///
    /// Each layer of encoding a page applies is undone exactly once (the rule is written out
    /// in [`decode_value`] and in MALFORMED_INPUT.md):
    /// - a body that is JSON itself (`Content-Type: text/plain`, some pages) is the package;
    /// - `tbsPackage={...}`, the JSON posted unencoded (most pages: `"tbsPackage="+json` with
    ///   `+` pre-escaped as `%2B`): the field is taken as it is, never form-decoded, so a value's
    ///   escapes are decoded once, by [`TbsPackage::text`], and nowhere else;
    /// - `tbsPackage=%7B...`, the JSON form-encoded (the popup bridge, `URLSearchParams`,
    ///   `encodeURIComponent(json)`): the field is form-decoded once, then its values once.
    ///
    /// A form decode of an unencoded package would turn a value's `%2541` into `%41` and the
    /// value decode then into `A`: the text signed would not be the text the page meant.
    pub fn from_body(body: &[u8]) -> Option<Result<Self>> {
        let Ok(text) = std::str::from_utf8(body) else {
            return form_urlencoded::parse(body)
                .any(|(k, _)| k == "tbsPackage")
                .then(|| Err(Error::BadInput("the body is not UTF-8".to_owned())));
        };
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            return Some(TbsPackage::parse(trimmed));
        }
        let raw = raw_field(text, "tbsPackage")?;
        if raw.trim_start().starts_with('{') {
            return Some(parse_unencoded(raw));
        }
        let end = raw.find('&').unwrap_or(raw.len());
        let decoded = zeroize::Zeroizing::new(
            form_urlencoded::parse(format!("v={}", &raw[..end]).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default(),
        );
        Some(TbsPackage::parse(&decoded))
    }

    /// A text field: absent, `null`, `""` and `"__NotExistedTag__"` are all `None`;
    /// numbers and booleans are given as text; `encodeURIComponent` wrapping is undone.
    pub fn text(&self, key: &str) -> Option<String> {
        let raw = match self.fields.get(key)? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        if raw.is_empty() || raw == NOT_EXISTED {
            return None;
        }
        let value = decode_value(&raw).unwrap_or(raw);
        (!value.is_empty() && value != NOT_EXISTED).then_some(value)
    }

    /// Takes a secret field (the PIN) out of the package: decoded like [`TbsPackage::text`],
    /// moved into a zeroizing buffer, and the package's own copy wiped.
    pub fn take_secret(&mut self, key: &str) -> Option<card_agent_protocol::SecretString> {
        use zeroize::Zeroize as _;
        let mut raw = match self.fields.remove(key)? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let value = decode_value(&raw).or_else(|| Some(raw.clone()));
        raw.zeroize();
        value
            .filter(|v| !v.is_empty() && v != NOT_EXISTED)
            .map(card_agent_protocol::SecretString::new)
    }

    /// A yes/no field: `true`, `"true"`, `1`, `"1"`, `"yes"` are yes; anything else is no.
    pub fn flag(&self, key: &str) -> bool {
        self.text(key)
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "y"))
            .unwrap_or(false)
    }

    /// The `func` field.
    pub fn func(&self) -> Option<String> {
        self.text("func")
    }
}

/// The undecoded text of the form field `key` and everything after it (an unencoded JSON may
/// hold a `&` of its own). The field is the first one of that name.
fn raw_field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let head = format!("{key}=");
    if let Some(rest) = body.strip_prefix(&head) {
        return Some(rest);
    }
    body.find(&format!("&{head}"))
        .map(|at| &body[at + head.len() + 1..])
}

/// An unencoded package: the JSON object, and possibly further form fields after it.
fn parse_unencoded(raw: &str) -> Result<TbsPackage> {
    let first = TbsPackage::parse(raw);
    if first.is_ok() {
        return first;
    }
    // `tbsPackage={...}&other=1`: the object ends at its last `}` before a `&`.
    match raw.rfind("}&") {
        Some(at) => TbsPackage::parse(&raw[..=at]).or(first),
        None => first,
    }
}

/// The value layer of the rule in [`TbsPackage::from_body`]: pages wrap values (`tbs`, `pin`,
/// `cipher`) in `encodeURIComponent()`, or send them raw with `+` pre-escaped as `%2B`. Every
/// `%XX` escape (two hex digits) is decoded once; a `%` not followed by two hex digits stays a
/// `%` (raw text such as `100% sure`); `+` stays `+`. `None` when the value has no escape or
/// its decoded bytes are not UTF-8 (then the value is taken as it came).
///
/// So a page that means the text `literal %41` sends `literal%20%2541` (encodeURIComponent)
/// and it is signed as `literal %41`; raw text that itself holds `%41` reads as `A`, which is
/// why pages wrap their values.
pub fn decode_value(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    if !looks_uri_encoded(raw) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3);
        match hex {
            Some(h) if b[i] == b'%' && h.iter().all(u8::is_ascii_hexdigit) => {
                out.push(hex_byte(h[0]) << 4 | hex_byte(h[1]));
                i += 3;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A value "looks encoded" when it has `%XX` escapes.
fn looks_uri_encoded(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

fn hex_byte(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// decodeURIComponent: `%XX` escapes to bytes, the result must be UTF-8. `+` stays `+`
/// (encodeURIComponent never produces it for a space).
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Exactly two hex digits, as decodeURIComponent demands: from_str_radix alone
            // would also take a sign ("%+1" as 0x01), so a page and the agent would read the
            // same text differently.
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quirks_are_accepted() {
        let p = TbsPackage::parse(
            r#"{"func":"MakeSignature","tbs":"%E7%94%B3%E8%AB%8B%20a%2Bb","pin":"%31%32%33%34%35%36","nonce":"__NotExistedTag__","slotDescription":"","withCardSN":"true","withSigningTime":true,"hashAlgorithm":"SHA256","n":5}"#,
        )
        .unwrap();
        assert_eq!(p.func().as_deref(), Some("MakeSignature"));
        assert_eq!(p.text("tbs").as_deref(), Some("申請 a+b"));
        let mut p = p;
        assert_eq!(p.take_secret("pin").unwrap().expose(), "123456");
        assert!(p.take_secret("pin").is_none(), "taken once, then gone");
        assert_eq!(p.text("nonce"), None);
        assert_eq!(p.text("slotDescription"), None);
        assert_eq!(p.text("absent"), None);
        assert!(p.flag("withCardSN") && p.flag("withSigningTime") && !p.flag("absent"));
        assert_eq!(p.text("n").as_deref(), Some("5"));
    }

    #[test]
    fn plain_values_and_literal_percent_signs_survive() {
        let p = TbsPackage::parse(r#"{"tbs":"100% sure","b64":"QUJD+/=="}"#).unwrap();
        assert_eq!(p.text("tbs").as_deref(), Some("100% sure"));
        assert_eq!(p.text("b64").as_deref(), Some("QUJD+/=="));
    }

    #[test]
    fn an_unencoded_package_whose_values_hold_quotes_backslashes_and_line_breaks() {
        // As a page builds it: encodeURIComponent(tbs), JSON.stringify, "+" -> "%2B", posted
        // without form-encoding the JSON.
        let tbs = "line 1\nsays \"hi\" a+b\\c & 100%";
        let encoded: String = form_urlencoded::byte_serialize(tbs.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        let body = format!(
            "tbsPackage={{\"func\":\"MakeSignature\",\"tbs\":\"{encoded}\",\"pin\":\"%31%32%33%34%35%36\",\"b64\":\"QUJD%2B/==\"}}"
        );
        let mut p = TbsPackage::from_body(body.as_bytes()).unwrap().unwrap();
        assert_eq!(p.text("tbs").as_deref(), Some(tbs));
        assert_eq!(p.text("b64").as_deref(), Some("QUJD+/=="));
        assert_eq!(p.take_secret("pin").unwrap().expose(), "123456");
        // Also as a later field.
        let later = format!("x=1&{body}");
        let p = TbsPackage::from_body(later.as_bytes()).unwrap().unwrap();
        assert_eq!(p.text("tbs").as_deref(), Some(tbs));
    }

    #[test]
    fn form_bodies_that_parsed_before_parse_the_same() {
        // Form-encoded JSON (the popup bridge, most libraries): decoded once, as before.
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("tbsPackage", r#"{"func":"GetUserCert","tbs":"a b+c"}"#)
            .finish();
        let p = TbsPackage::from_body(body.as_bytes()).unwrap().unwrap();
        assert_eq!(p.text("tbs").as_deref(), Some("a b+c"));
        // Unencoded JSON whose values have only plain characters: "+" pre-escaped, "%" alone.
        let p = TbsPackage::from_body(br#"tbsPackage={"tbs":"a%2Bb 100%"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(p.text("tbs").as_deref(), Some("a+b 100%"));
        assert!(TbsPackage::from_body(b"other=1").is_none());
        assert!(TbsPackage::from_body(b"tbsPackage=%7Bnot-json")
            .unwrap()
            .is_err());
        assert!(TbsPackage::from_body(b"tbsPackage={\"a\":")
            .unwrap()
            .is_err());
    }

    #[test]
    fn each_layer_is_decoded_once() {
        // The page means `literal %41%42` and wraps it (encodeURIComponent), posting the JSON
        // unencoded: the form layer is not decoded, the value once.
        let wrapped = "literal%20%2541%2542";
        let body = format!(r#"tbsPackage={{"tbs":"{wrapped}"}}"#);
        let p = TbsPackage::from_body(body.as_bytes()).unwrap().unwrap();
        assert_eq!(p.text("tbs").as_deref(), Some("literal %41%42"));
        // The same JSON form-encoded (the popup bridge): two layers, two decodes.
        let json = format!(r#"{{"tbs":"{wrapped}"}}"#);
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("tbsPackage", &json)
            .finish();
        let p = TbsPackage::from_body(form.as_bytes()).unwrap().unwrap();
        assert_eq!(p.text("tbs").as_deref(), Some("literal %41%42"));
        // A raw JSON body (text/plain).
        let p = TbsPackage::from_body(json.as_bytes()).unwrap().unwrap();
        assert_eq!(p.text("tbs").as_deref(), Some("literal %41%42"));
        // Edge cases of the value layer.
        for (raw, read) in [
            ("100%", "100%"),
            ("100% sure", "100% sure"),
            ("%", "%"),
            ("%4", "%4"),
            ("%zz%41", "%zzA"),
            ("a+b", "a+b"),
            ("a%2Bb", "a+b"),
            ("%252B", "%2B"),
            ("%E7%94%B3", "申"),
            ("%E7%94", "%E7%94"),
            ("QUJD+/==", "QUJD+/=="),
        ] {
            let p = TbsPackage::parse(&format!(r#"{{"tbs":"{raw}"}}"#)).unwrap();
            assert_eq!(p.text("tbs").as_deref(), Some(read), "{raw}");
        }
        // A field after the unencoded JSON, and a `&` inside it.
        let p = TbsPackage::from_body(br#"tbsPackage={"tbs":"a&b"}&x=1"#)
            .unwrap()
            .unwrap();
        assert_eq!(p.text("tbs").as_deref(), Some("a&b"));
        assert!(TbsPackage::from_body(b"x=1").is_none());
        assert!(TbsPackage::from_body(b"tbsPackage=\xff").unwrap().is_err());
    }

    #[test]
    fn a_wrapped_package_and_garbage() {
        let p = TbsPackage::parse("%7B%22func%22%3A%22GetUserCert%22%7D").unwrap();
        assert_eq!(p.func().as_deref(), Some("GetUserCert"));
        assert!(TbsPackage::parse("not json").is_err());
        assert!(TbsPackage::parse("[1,2]").is_err());
        assert!(TbsPackage::parse("%ZZ").is_err());
        assert_eq!(percent_decode("%E7%94"), None);
        // Found by fuzzing (legacy_tbs): a sign is not a hex digit.
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%-1"), None);
        assert_eq!(percent_decode("%2b").as_deref(), Some("+"));
    }
}
