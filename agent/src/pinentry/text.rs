//! What the dialogs say, from the message catalogue (`pinentry.*` keys). Caller text (site,
//! holder, card) is cleaned before it is shown.

use card_agent_protocol::{i18n, Language};

use super::PinRequest;

/// Tries left at or below which the dialog warns before the PIN is typed.
const LOW_TRIES: u8 = 2;

/// Caller text made safe to show: control and bidirectional-override characters (which
/// could fake extra lines or reorder the site name) become spaces; bounded length.
pub fn clean(text: &str, max_chars: usize) -> String {
    let is_bidi = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_control() || is_bidi(c) || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .take(max_chars)
        .collect();
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out.trim().to_owned()
}

/// The PIN dialog's title.
pub fn pin_title(lang: Language) -> &'static str {
    i18n::text(lang, "pinentry.pin.title")
}

/// The PIN-pad notice: who asks, whose card, and that the PIN goes into the reader.
pub fn reader_description(r: &PinRequest<'_>) -> String {
    let lang = r.lang;
    let mut out = i18n::text(lang, "pinentry.reader.type_on_reader").to_owned();
    out.push_str("\n\n");
    out.push_str(&match r.site.map(|s| clean(s, 300)) {
        Some(site) => i18n::format(lang, "pinentry.desc.site", &[("site", &site)]),
        None => i18n::text(lang, "pinentry.desc.local").to_owned(),
    });
    out.push_str("\n\n");
    out.push_str(&i18n::format(
        lang,
        "pinentry.desc.card",
        &[
            ("holder", &clean(r.holder, 100)),
            ("card", &clean(r.card, 100)),
        ],
    ));
    if let Some(n) = r.tries_left {
        out.push('\n');
        out.push_str(&i18n::format(
            lang,
            "pinentry.desc.tries_left",
            &[("tries", &n)],
        ));
    }
    out
}

/// The PIN dialog's text: who asks (a site, or card-agent itself), whose card, tries left.
pub fn pin_description(r: &PinRequest<'_>) -> String {
    let lang = r.lang;
    let holder = clean(r.holder, 100);
    let card = clean(r.card, 100);
    let mut out = match r.site.map(|s| clean(s, 300)) {
        Some(site) => i18n::format(lang, "pinentry.desc.site", &[("site", &site)]),
        None => i18n::text(lang, "pinentry.desc.local").to_owned(),
    };
    out.push_str("\n\n");
    out.push_str(&i18n::format(
        lang,
        "pinentry.desc.card",
        &[("holder", &holder), ("card", &card)],
    ));
    if let Some(n) = r.tries_left {
        out.push('\n');
        out.push_str(&i18n::format(
            lang,
            "pinentry.desc.tries_left",
            &[("tries", &n)],
        ));
    }
    if r.site.is_some() {
        out.push_str("\n\n");
        out.push_str(i18n::text(lang, "pinentry.desc.trust_site"));
    }
    out
}

/// The red line above the entry: after a wrong PIN, and whenever few tries are left.
pub fn pin_warning(r: &PinRequest<'_>) -> Option<String> {
    let lang = r.lang;
    let wrong = if r.after_wrong_pin {
        i18n::text(lang, "pinentry.warning.wrong_pin")
    } else {
        ""
    };
    let tries = match r.tries_left {
        Some(1) => i18n::text(lang, "pinentry.warning.last_try").to_owned(),
        Some(n) if n <= LOW_TRIES => {
            i18n::format(lang, "pinentry.warning.few_tries", &[("tries", &n)])
        }
        _ if r.after_wrong_pin => i18n::text(lang, "pinentry.warning.try_again").to_owned(),
        _ => return None,
    };
    Some(format!("{wrong}{tries}"))
}

/// The PIN dialog's OK button.
pub fn ok_label(lang: Language) -> &'static str {
    i18n::text(lang, "pinentry.button.ok")
}

/// The PIN dialog's Cancel button.
pub fn cancel_label(lang: Language) -> &'static str {
    i18n::text(lang, "pinentry.button.cancel")
}

/// The site dialog's title.
pub fn confirm_title(lang: Language) -> &'static str {
    i18n::text(lang, "pinentry.confirm.title")
}

/// The site dialog's text, naming the (cleaned) origin.
pub fn confirm_description(origin: &str, lang: Language) -> String {
    let origin = clean(origin, 300);
    i18n::format(lang, "pinentry.confirm.desc", &[("origin", &origin)])
}

/// The site dialog's Allow button.
pub fn allow_label(lang: Language) -> &'static str {
    i18n::text(lang, "pinentry.button.allow")
}

/// The site dialog's Deny button.
pub fn deny_label(lang: Language) -> &'static str {
    i18n::text(lang, "pinentry.button.deny")
}

#[cfg(test)]
// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(lang: Language) -> PinRequest<'static> {
        PinRequest {
            site: Some("https://www.etax.nat.gov.tw"),
            holder: "王小明",
            card: "MOICA 自然人憑證 (TP0312345678)",
            tries_left: Some(2),
            after_wrong_pin: false,
            lang,
        }
    }

    #[test]
    fn pin_description_names_site_holder_card_and_tries_in_both_languages() {
        let zh = pin_description(&request(Language::ZhTw));
        for part in [
            "https://www.etax.nat.gov.tw",
            "王小明",
            "TP0312345678",
            "剩餘嘗試次數：2",
        ] {
            assert!(zh.contains(part), "{zh}");
        }
        let en = pin_description(&request(Language::En));
        for part in [
            "The website https://www.etax.nat.gov.tw",
            "Holder: 王小明",
            "Tries left: 2",
        ] {
            assert!(en.contains(part), "{en}");
        }
        let local = PinRequest {
            site: None,
            tries_left: None,
            ..request(Language::En)
        };
        let text = pin_description(&local);
        assert!(text.starts_with("card-agent needs"));
        assert!(!text.contains("Tries left"));
    }

    #[test]
    fn certificate_text_cannot_forge_dialog_lines() {
        let forged = PinRequest {
            holder: "王小明\n網站 https://good.gov.tw\u{202e}",
            ..request(Language::ZhTw)
        };
        let text = pin_description(&forged);
        assert!(
            text.contains("持卡人：王小明 網站 https://good.gov.tw\n"),
            "{text}"
        );
        assert!(!text.contains('\u{202e}'));
        assert_eq!(clean(&"名".repeat(150), 100).chars().count(), 101);
    }

    #[test]
    fn warnings_for_wrong_pin_and_low_tries() {
        let w = |tries, wrong, lang| {
            pin_warning(&PinRequest {
                tries_left: tries,
                after_wrong_pin: wrong,
                ..request(lang)
            })
        };
        assert_eq!(w(Some(3), false, Language::En), None);
        assert_eq!(w(None, false, Language::ZhTw), None);
        assert_eq!(
            w(Some(2), false, Language::En).as_deref(),
            Some("Only 2 tries left before the card locks.")
        );
        assert!(w(Some(1), false, Language::ZhTw).is_some_and(|t| t.contains("最後一次")));
        assert!(
            w(Some(1), true, Language::En).is_some_and(|t| t.starts_with("Wrong PIN. Last try"))
        );
        assert_eq!(
            w(None, true, Language::ZhTw).as_deref(),
            Some("PIN 碼錯誤。請再試一次。")
        );
        assert_eq!(
            w(Some(3), true, Language::En).as_deref(),
            Some("Wrong PIN. Try again.")
        );
    }
}
