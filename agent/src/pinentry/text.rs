//! What the dialogs say, in zh-TW and English. Caller text (site, holder, card) is cleaned
//! before it is shown.

use card_agent_protocol::Language;

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

pub fn pin_title(lang: Language) -> &'static str {
    match lang {
        Language::ZhTw => "card-agent：輸入 PIN 碼",
        Language::En => "card-agent: enter PIN",
    }
}

pub fn pin_description(r: &PinRequest<'_>) -> String {
    let holder = clean(r.holder, 100);
    let card = clean(r.card, 100);
    let mut out = match (r.site.map(|s| clean(s, 300)), r.lang) {
        (Some(site), Language::ZhTw) => format!("網站 {site} 要求使用您的憑證卡。\n\n"),
        (Some(site), Language::En) => format!("The website {site} asks to use your card.\n\n"),
        (None, Language::ZhTw) => "card-agent 需要您憑證卡的 PIN 碼。\n\n".to_owned(),
        (None, Language::En) => "card-agent needs your card's PIN.\n\n".to_owned(),
    };
    match r.lang {
        Language::ZhTw => out.push_str(&format!("持卡人：{holder}\n卡片：{card}")),
        Language::En => out.push_str(&format!("Holder: {holder}\nCard: {card}")),
    }
    if let Some(n) = r.tries_left {
        match r.lang {
            Language::ZhTw => out.push_str(&format!("\n剩餘嘗試次數：{n}")),
            Language::En => out.push_str(&format!("\nTries left: {n}")),
        }
    }
    match (r.site.is_some(), r.lang) {
        (true, Language::ZhTw) => out.push_str("\n\n請只在您信任此網站時輸入 PIN 碼。"),
        (true, Language::En) => out.push_str("\n\nEnter the PIN only if you trust this website."),
        (false, _) => {}
    }
    out
}

/// The red line above the entry: after a wrong PIN, and whenever few tries are left.
pub fn pin_warning(r: &PinRequest<'_>) -> Option<String> {
    let wrong = match (r.after_wrong_pin, r.lang) {
        (false, _) => "",
        (true, Language::ZhTw) => "PIN 碼錯誤。",
        (true, Language::En) => "Wrong PIN. ",
    };
    let tries = match (r.tries_left, r.lang) {
        (Some(1), Language::ZhTw) => {
            "最後一次機會：再輸錯一次卡片就會鎖住，須攜卡至受理窗口解鎖。".to_owned()
        }
        (Some(1), Language::En) => "Last try: one more wrong PIN locks the card, and \
            unlocking it needs a visit to a registration office."
            .to_owned(),
        (Some(n), Language::ZhTw) if n <= LOW_TRIES => {
            format!("剩餘 {n} 次嘗試機會，全部輸錯卡片就會鎖住。")
        }
        (Some(n), Language::En) if n <= LOW_TRIES => {
            format!("Only {n} tries left before the card locks.")
        }
        (_, Language::ZhTw) if r.after_wrong_pin => "請再試一次。".to_owned(),
        (_, Language::En) if r.after_wrong_pin => "Try again.".to_owned(),
        _ => return None,
    };
    Some(format!("{wrong}{tries}"))
}

pub fn ok_label(lang: Language) -> &'static str {
    match lang {
        Language::ZhTw => "確定",
        Language::En => "OK",
    }
}

pub fn cancel_label(lang: Language) -> &'static str {
    match lang {
        Language::ZhTw => "取消",
        Language::En => "Cancel",
    }
}

pub fn confirm_title(lang: Language) -> &'static str {
    match lang {
        Language::ZhTw => "card-agent：允許此網站使用憑證卡？",
        Language::En => "card-agent: allow this website to use your card?",
    }
}

pub fn confirm_description(origin: &str, lang: Language) -> String {
    let origin = clean(origin, 300);
    match lang {
        Language::ZhTw => format!(
            "網站\n\n{origin}\n\n要求使用您的憑證卡（讀取憑證、簽章）。\n\n\
             請只在您信任此網站時允許。允許後此網站之後可再要求使用憑證卡，\
             每次仍須輸入 PIN 碼。"
        ),
        Language::En => format!(
            "The website\n\n{origin}\n\nasks to use your smart card (read certificates, \
             sign).\n\nAllow it only if you trust this website. Once allowed, it can ask \
             again later; the PIN is still asked for every time."
        ),
    }
}

pub fn allow_label(lang: Language) -> &'static str {
    match lang {
        Language::ZhTw => "允許",
        Language::En => "Allow",
    }
}

pub fn deny_label(lang: Language) -> &'static str {
    match lang {
        Language::ZhTw => "拒絕",
        Language::En => "Deny",
    }
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
