//! The message catalogue: every text card-agent shows a person, in zh-TW and English, one file
//! per language (`protocol/locales/zh-TW.toml`, `protocol/locales/en.toml`).
//!
//! Keys are flat and dotted (`error.PIN_INCORRECT`, `doctor.pcscd.title`); values may hold
//! `{name}` placeholders that [`format`] fills in. The files are embedded in the binary and
//! parsed once, on first use.
//!
//! The files are TOML, but only the part of it a catalogue needs: comment lines, blank lines
//! and `key = "basic string"` lines (escapes `\"`, `\\`, `\n`, `\t`, `\uXXXX`, `\UXXXXXXXX`).
//! That small reader keeps the protocol crate, which web servers depend on, free of a TOML
//! library; a test checks that a real TOML parser reads the files the same way.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::OnceLock;

use crate::Language;

/// The zh-TW catalogue, as shipped.
pub const ZH_TW_SOURCE: &str = include_str!("../locales/zh-TW.toml");
/// The English catalogue, as shipped.
pub const EN_SOURCE: &str = include_str!("../locales/en.toml");

/// A parsed catalogue: key to text.
type Catalogue = HashMap<String, String>;

/// Both catalogues, parsed on first use. A line the reader cannot parse is left out (the
/// catalogue tests fail on any such line, so a shipped build has none).
fn catalogue(lang: Language) -> &'static Catalogue {
    static ZH_TW: OnceLock<Catalogue> = OnceLock::new();
    static EN: OnceLock<Catalogue> = OnceLock::new();
    let (cell, source) = match lang {
        Language::ZhTw => (&ZH_TW, ZH_TW_SOURCE),
        Language::En => (&EN, EN_SOURCE),
    };
    cell.get_or_init(|| parse(source).0.into_iter().collect())
}

/// The text for `key` in `lang`. Falls back to English when `lang` lacks the key, and to the
/// key itself when neither has it, so a missing text shows up as a visible key rather than as
/// Every entry whose key starts with `prefix`, with the prefix removed, sorted by key: what a
/// web page served by card-agent needs of the catalogue (see extension/selftest/texts.js).
pub fn with_prefix(lang: Language, prefix: &str) -> Vec<(&'static str, &'static str)> {
    let mut entries: Vec<(&'static str, &'static str)> = catalogue(lang)
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|rest| (rest, v.as_str())))
        .collect();
    entries.sort();
    entries
}

/// a blank (the catalogue tests keep both files complete).
pub fn text(lang: Language, key: &str) -> &str {
    catalogue(lang)
        .get(key)
        .or_else(|| catalogue(Language::En).get(key))
        .map(String::as_str)
        .unwrap_or(key)
}

/// Whether the catalogue of `lang` has `key`.
pub fn has(lang: Language, key: &str) -> bool {
    catalogue(lang).contains_key(key)
}

/// The text for `key` with each `{name}` replaced by the value paired with `name`.
///
/// Replacement is one pass over the template: a value that itself contains `{name}` (a site
/// name, a file path) is inserted as it is, never expanded. A placeholder without a value is
/// left in place.
pub fn format(lang: Language, key: &str, args: &[(&str, &dyn Display)]) -> String {
    fill(text(lang, key), args)
}

/// Fills the `{name}` placeholders of `template` (see [`format`]).
pub fn fill(template: &str, args: &[(&str, &dyn Display)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            args.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (v.to_string(), close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(&value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholder names in a template, in order of appearance, e.g. `["tries"]`.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                names.push(&after[..close]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    names
}

/// Every key of the catalogue of `lang` (unordered).
pub fn keys(lang: Language) -> impl Iterator<Item = &'static str> {
    catalogue(lang).keys().map(String::as_str)
}

/// The environment variable that picks the language over the locale: `zh-TW` or `en`.
pub const LANG_ENV: &str = "CARD_AGENT_LANG";

/// The language to speak: the `--lang` flag, else [`LANG_ENV`], else the first non-empty of
/// `LC_ALL`, `LC_MESSAGES`, `LANG` (through [`Language::from_locale`]), else zh-TW, which most
/// people who use these cards read first. `env` looks a variable up (the crate does no I/O;
/// the agent passes `std::env::var`).
pub fn choose_language(flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Language {
    let non_empty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    flag.map(str::to_owned)
        .and_then(|f| non_empty(Some(f)))
        .or_else(|| non_empty(env(LANG_ENV)))
        .or_else(|| {
            ["LC_ALL", "LC_MESSAGES", "LANG"]
                .iter()
                .find_map(|v| non_empty(env(v)))
        })
        .map(|l| Language::from_locale(&l))
        .unwrap_or(Language::ZhTw)
}

/// A line of a catalogue file the reader could not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Line number, from 1.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Reads a catalogue file: the entries in file order, and every line that could not be read.
/// A repeated key is an error (the first value is kept).
pub fn parse(source: &str) -> (Vec<(String, String)>, Vec<ParseError>) {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in source.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |reason: &str| ParseError {
            line: index + 1,
            reason: reason.to_owned(),
        };
        let Some((key, value)) = line.split_once('=') else {
            errors.push(error("expected key = \"value\""));
            continue;
        };
        let key = key.trim();
        let key_ok = !key.is_empty()
            && key.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        if !key_ok {
            errors.push(error("a key is dotted words of A-Z a-z 0-9 _ -"));
            continue;
        }
        match basic_string(value.trim()) {
            Ok(text) => {
                if entries.iter().any(|(k, _)| k == key) {
                    errors.push(error(&format!("{key} is defined twice")));
                } else {
                    entries.push((key.to_owned(), text));
                }
            }
            Err(reason) => errors.push(error(&reason)),
        }
    }
    (entries, errors)
}

/// A TOML basic string (`"..."`) with nothing but an optional comment after it.
fn basic_string(input: &str) -> Result<String, String> {
    let body = input
        .strip_prefix('"')
        .ok_or("the value must be a \"double-quoted\" string")?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                let tail = body[at + 1..].trim();
                if tail.is_empty() || tail.starts_with('#') {
                    return Ok(out);
                }
                return Err("text after the closing quote".to_owned());
            }
            '\\' => {
                let escaped = match chars.next().map(|(_, e)| e) {
                    Some('"') => '"',
                    Some('\\') => '\\',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some(u @ ('u' | 'U')) => {
                        let digits = if u == 'u' { 4 } else { 8 };
                        let hex: String = chars.by_ref().take(digits).map(|(_, h)| h).collect();
                        u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == digits)
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("bad \\{u} escape"))?
                    }
                    other => return Err(format!("unsupported escape \\{}", other.unwrap_or(' '))),
                };
                out.push(escaped);
            }
            c if c.is_control() && c != '\t' => {
                return Err("control character in a string".to_owned());
            }
            c => out.push(c),
        }
    }
    Err("the string has no closing quote".to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ErrorCode;

    const SOURCES: [(&str, &str); 2] = [("zh-TW", ZH_TW_SOURCE), ("en", EN_SOURCE)];

    #[test]
    fn both_files_parse_without_errors() {
        for (name, source) in SOURCES {
            let (entries, errors) = parse(source);
            assert!(errors.is_empty(), "{name}: {errors:?}");
            assert!(!entries.is_empty(), "{name} is empty");
        }
    }

    #[test]
    fn both_files_have_the_same_keys_and_placeholders() {
        let zh: HashMap<String, String> = parse(ZH_TW_SOURCE).0.into_iter().collect();
        let en: HashMap<String, String> = parse(EN_SOURCE).0.into_iter().collect();
        let zh_keys: BTreeSet<&String> = zh.keys().collect();
        let en_keys: BTreeSet<&String> = en.keys().collect();
        assert_eq!(
            zh_keys.symmetric_difference(&en_keys).collect::<Vec<_>>(),
            Vec::<&&String>::new(),
            "keys in only one language"
        );
        for (key, zh_text) in &zh {
            let mut a = placeholders(zh_text);
            let mut b = placeholders(&en[key]);
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b, "placeholders of {key}");
            for name in a {
                assert!(
                    !name.is_empty()
                        && name
                            .bytes()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
                    "{key}: placeholder {{{name}}} must be lower-case letters, digits and _"
                );
            }
            assert!(
                !zh_text.trim().is_empty() && !en[key].trim().is_empty(),
                "{key} is blank"
            );
        }
    }

    #[test]
    fn every_error_code_has_its_message() {
        for &code in ErrorCode::ALL {
            let key = format!("error.{}", code.as_str());
            assert!(has(Language::ZhTw, &key), "zh-TW lacks {key}");
            assert!(has(Language::En, &key), "en lacks {key}");
        }
    }

    /// The files are real TOML: a TOML parser reads the same keys and texts (and refuses a
    /// key that is also a prefix of another, which TOML forbids).
    #[test]
    fn a_toml_parser_reads_the_same_catalogue() {
        fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    toml::Value::Table(t) => flatten(&key, t, out),
                    toml::Value::String(s) => {
                        out.insert(key, s.clone());
                    }
                    other => panic!("{key} is not a string: {other:?}"),
                }
            }
        }
        for (name, source) in SOURCES {
            let table: toml::Table =
                toml::from_str(source).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut theirs = HashMap::new();
            flatten("", &table, &mut theirs);
            let ours: HashMap<String, String> = parse(source).0.into_iter().collect();
            assert_eq!(ours, theirs, "{name}");
        }
    }

    #[test]
    fn format_fills_placeholders_once_and_leaves_unknown_ones() {
        let n = 2;
        assert_eq!(
            fill(
                "{message} {tries} tries left.",
                &[("message", &"Wrong."), ("tries", &n)]
            ),
            "Wrong. 2 tries left."
        );
        // A value is never expanded again: a site named "{tries}" stays that name.
        assert_eq!(fill("site {site}", &[("site", &"{site}")]), "site {site}");
        assert_eq!(fill("{absent} and {", &[]), "{absent} and {");
        assert_eq!(placeholders("a {b} c {d_e}"), vec!["b", "d_e"]);
        assert!(format(Language::En, "error.PIN_INCORRECT", &[]).contains("PIN"));
    }

    #[test]
    fn text_falls_back_to_english_then_to_the_key() {
        assert_eq!(text(Language::ZhTw, "no.such.key"), "no.such.key");
        assert_eq!(
            text(Language::En, "error.PIN_INCORRECT"),
            "The PIN is incorrect."
        );
        assert_eq!(text(Language::ZhTw, "error.PIN_INCORRECT"), "PIN 碼錯誤。");
    }

    #[test]
    fn language_flag_then_env_then_locale_then_zh_tw() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let all = env(&[
            ("CARD_AGENT_LANG", "en"),
            ("LC_ALL", "zh_TW.UTF-8"),
            ("LANG", "zh_TW.UTF-8"),
        ]);
        assert_eq!(choose_language(Some("zh-TW"), all), Language::ZhTw);
        assert_eq!(choose_language(None, all), Language::En);
        let locale = env(&[("LC_ALL", ""), ("LC_MESSAGES", "en_GB"), ("LANG", "zh_TW")]);
        assert_eq!(choose_language(None, locale), Language::En);
        assert_eq!(choose_language(None, env(&[])), Language::ZhTw);
        assert_eq!(
            choose_language(Some(""), env(&[("LANG", "en_US")])),
            Language::En
        );
    }

    #[test]
    fn the_reader_refuses_what_it_does_not_understand() {
        let (entries, errors) = parse(
            "# comment\n\na = \"x\\n\\u00e9\\\"\" # trailing\nb = 'literal'\nc = \"open\nd e = \"x\"\na = \"again\"\nf = \"\\q\"\n",
        );
        assert_eq!(entries, vec![("a".to_owned(), "x\né\"".to_owned())]);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7, 8]);
    }
}
