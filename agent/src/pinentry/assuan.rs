//! The Assuan wire format as a pinentry speaks it: pure functions, no I/O.
//!
//! Lines end with LF and are at most [`MAX_LINE`] bytes; parameters and `D` data escape `%`,
//! CR and LF as `%XX`. Answers are `OK [text]`, `ERR <code> [text]`, `D <data>`, `S <status>`,
//! `# comment` or `INQUIRE <keyword>`.

use super::MAX_LINE;

/// libgpg-error codes (the low 16 bits of an Assuan `ERR` code; the high bits name the source).
pub mod gpg_err {
    pub const TIMEOUT: u32 = 62;
    pub const CANCELED: u32 = 99;
    pub const NOT_CONFIRMED: u32 = 114;
    pub const FULLY_CANCELED: u32 = 198;
    pub const ASS_CANCELED: u32 = 277;
    /// System errors set this bit; the low bits index libgpg-error's errno table.
    pub const SYSTEM_ERROR: u32 = 0x8000;
    /// ENOTTY's index in that table (it is not the platform's errno number).
    pub const ENOTTY_INDEX: u32 = 0x66;

    /// True for the codes a pinentry uses when the user closes or refuses the dialog.
    pub fn is_cancel(code: u32) -> bool {
        matches!(code & 0xffff, CANCELED | FULLY_CANCELED | ASS_CANCELED)
    }

    /// True when the program's own timeout closed the dialog.
    pub fn is_timeout(code: u32) -> bool {
        code & 0xffff == TIMEOUT
    }

    /// True for a system error ENOTTY: a terminal pinentry without a terminal.
    pub fn is_no_terminal(code: u32) -> bool {
        code & 0xffff == SYSTEM_ERROR | ENOTTY_INDEX
    }

    /// True for the "not confirmed" answer to `CONFIRM`.
    pub fn is_not_confirmed(code: u32) -> bool {
        code & 0xffff == NOT_CONFIRMED
    }
}

/// One line from the server (the pinentry), classified.
#[derive(Debug, PartialEq, Eq)]
pub enum Response<'a> {
    /// `OK [text]`: the command succeeded.
    Ok,
    /// `ERR <code> [text]`: the command failed.
    Err { code: u32, text: String },
    /// `D <escaped data>`.
    Data(&'a [u8]),
    /// `S <keyword> …`: progress or status, not an answer.
    Status,
    /// `# …`: a comment.
    Comment,
    /// `INQUIRE <keyword>`: the server asks us for data.
    Inquire,
    /// Anything else.
    Unknown,
}

/// Classifies one line (without its LF).
pub fn parse_line(line: &[u8]) -> Response<'_> {
    let (word, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &line[line.len()..]),
    };
    match word {
        b"OK" => Response::Ok,
        b"D" => Response::Data(rest),
        b"S" => Response::Status,
        b"INQUIRE" => Response::Inquire,
        b"ERR" => {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let code = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            let text = String::from_utf8_lossy(&rest[digits..]);
            Response::Err {
                code,
                text: printable(text.trim(), 200),
            }
        }
        _ if line.first() == Some(&b'#') => Response::Comment,
        _ => Response::Unknown,
    }
}

/// Escapes a command parameter: `%`, CR, LF (which Assuan requires) and every other
/// control character (which would confuse a line-based peer) become `%XX`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    if c == '%' || c.is_ascii_control() {
        out.push_str(&format!("%{:02X}", u32::from(c)));
    } else {
        out.push(c);
    }
}

/// `VERB escaped-text\n`, shortened (with `…`) so the line stays within [`MAX_LINE`].
/// Shortening beats failing: the start of a description names the site, which is what
/// matters, and an over-long certificate field must not stop the dialog.
pub fn command_line(verb: &str, text: &str) -> String {
    // Room for the verb, its space and the final LF.
    let budget = MAX_LINE - verb.len() - 2;
    let escaped = escape(text);
    if escaped.len() <= budget {
        return format!("{verb} {escaped}\n");
    }
    let mut kept = String::with_capacity(budget);
    let mut piece = String::new();
    for c in text.chars() {
        piece.clear();
        push_escaped(&mut piece, c);
        if kept.len() + piece.len() + '…'.len_utf8() > budget {
            break;
        }
        kept.push_str(&piece);
    }
    format!("{verb} {kept}…\n")
}

/// Appends the decoded form of escaped data to `out`, keeping at most `cap` bytes in total
/// (`out` must have that capacity, so it never reallocates). Returns whether bytes were
/// dropped; `Err` for a malformed escape.
pub fn decode_data(escaped: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<bool, ()> {
    let mut overflow = false;
    let mut i = 0;
    while i < escaped.len() {
        let byte = if escaped[i] == b'%' {
            let hex = escaped.get(i + 1..i + 3).ok_or(())?;
            i += 3;
            (hex_value(hex[0]).ok_or(())? << 4) | hex_value(hex[1]).ok_or(())?
        } else {
            i += 1;
            escaped[i - 1]
        };
        if out.len() < cap {
            out.push(byte);
        } else {
            overflow = true;
        }
    }
    Ok(overflow)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Text from a peer, made safe for an error message: control characters dropped, at most
/// `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_percent_cr_lf_and_controls_and_keeps_chinese() {
        assert_eq!(escape("100% 王\r\n\tx"), "100%25 王%0D%0A%09x");
        assert_eq!(escape("plain text"), "plain text");
    }

    #[test]
    fn decode_data_round_trips_and_rejects_bad_escapes() {
        let mut out = Vec::with_capacity(64);
        assert_eq!(
            decode_data(b"12%2534%0A%0d%e7%8e%8b", &mut out, 64),
            Ok(false)
        );
        assert_eq!(out, "12%34\n\r王".as_bytes());
        for bad in [&b"%"[..], b"%4", b"%zz", b"1%G0"] {
            assert!(
                decode_data(bad, &mut Vec::with_capacity(8), 8).is_err(),
                "{bad:?}"
            );
        }
        let mut capped = Vec::with_capacity(3);
        assert_eq!(decode_data(b"12345", &mut capped, 3), Ok(true));
        assert_eq!((capped.as_slice(), capped.capacity()), (&b"123"[..], 3));

        let text = "行1\n100%\r\n第三行 ok";
        let mut back = Vec::with_capacity(64);
        assert_eq!(
            decode_data(escape(text).as_bytes(), &mut back, 64),
            Ok(false)
        );
        assert_eq!(back, text.as_bytes());
    }

    #[test]
    fn command_lines_are_escaped_and_bounded() {
        assert_eq!(command_line("SETDESC", "a\nb%"), "SETDESC a%0Ab%25\n");
        let long = "王".repeat(400); // 1200 bytes
        let line = command_line("SETDESC", &long);
        assert!(line.len() <= MAX_LINE, "{}", line.len());
        assert!(line.ends_with("…\n"));
        assert!(line.starts_with("SETDESC 王王"));
        let newlines = "\n".repeat(400); // 1200 escaped bytes
        let line = command_line("SETDESC", &newlines);
        assert!(line.len() <= MAX_LINE);
        assert!(
            line.trim_end_matches(['\n', '…']).ends_with("%0A"),
            "escapes are never split"
        );
        let exact = "x".repeat(MAX_LINE - "SETDESC ".len() - 1);
        assert_eq!(command_line("SETDESC", &exact).len(), MAX_LINE);
    }

    #[test]
    fn parse_line_classifies_answers() {
        assert_eq!(parse_line(b"OK"), Response::Ok);
        assert_eq!(parse_line(b"OK Pleased to meet you"), Response::Ok);
        assert_eq!(parse_line(b"D 12%25"), Response::Data(b"12%25"));
        assert_eq!(parse_line(b"D"), Response::Data(b""));
        assert_eq!(parse_line(b"S PIN_REPEATED"), Response::Status);
        assert_eq!(parse_line(b"# comment"), Response::Comment);
        assert_eq!(parse_line(b"INQUIRE QUALITY 1234"), Response::Inquire);
        assert_eq!(
            parse_line(b"ERR 83886179 Operation cancelled <Pinentry>"),
            Response::Err {
                code: 83886179,
                text: "Operation cancelled <Pinentry>".into()
            }
        );
        assert_eq!(
            parse_line(b"ERR"),
            Response::Err {
                code: 0,
                text: String::new()
            }
        );
        assert_eq!(parse_line(b"OKAY"), Response::Unknown);
        assert_eq!(parse_line(b"123456"), Response::Unknown);
        match parse_line(b"ERR 1 a\x1b[31mb") {
            Response::Err { text, .. } => assert_eq!(text, "a[31mb"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gpg_error_codes() {
        assert!(gpg_err::is_cancel(83886179));
        assert!(gpg_err::is_cancel(83886278)); // fully cancelled
        assert!(gpg_err::is_cancel(277));
        assert!(gpg_err::is_not_confirmed(83886194));
        assert!(gpg_err::is_timeout(83886142));
        assert!(!gpg_err::is_cancel(83886194));
        // What pinentry-curses 1.2.1 answers GETPIN with when it has no terminal.
        assert!(gpg_err::is_no_terminal(83918950));
    }
}
