//! Every word the tray shows, in zh-TW and English, in one table.
//!
//! A message catalogue for the whole agent is being built separately; until it lands, the
//! tray keeps its strings here, one `match` arm per text with both languages side by side, so
//! that moving them into the catalogue is a mechanical change and no text can exist in only
//! one language (the match is exhaustive).

use card_agent_protocol::types::CardFamily;
use card_agent_protocol::Language;

/// A fixed text of the tray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// The product name, as the tooltip title and the item's title.
    AppName,
    /// Headline: no reader is connected.
    NoReader,
    /// What to do about it.
    NoReaderHint,
    /// Headline: the smart-card service (pcscd) cannot be reached.
    ServiceDown,
    /// What to do about it.
    ServiceDownHint,
    /// Headline: a reader without a card.
    NoCard,
    /// What to do about it.
    NoCardHint,
    /// Headline: a card is in a reader but no driver presents it.
    CardUnreadable,
    /// What to do about it.
    CardUnreadableHint,
    /// Headline: a card is ready to use.
    CardReady,
    /// Headline: a certificate expires within the warning period.
    CertificateExpiring,
    /// What to do about it.
    CertificateExpiringHint,
    /// Headline: a certificate has expired.
    CertificateExpired,
    /// What to do about it.
    CertificateExpiredHint,
    /// Headline: the agent's service cannot be reached.
    AgentError,
    /// What to do about it.
    AgentErrorHint,
    /// Why the daemon is unavailable: the connection to it ended.
    ConnectionLost,
    /// Marks the demo token wherever it is shown.
    Demo,
    /// Shown with a card whose PIN is locked.
    PinLocked,
    /// Menu: run the environment check.
    EnvironmentCheck,
    /// Menu: open the self-test page.
    SelfTestPage,
    /// Menu: the trusted sites submenu.
    TrustedSites,
    /// Trusted sites: none approved.
    NoTrustedSites,
    /// Trusted sites: marks a pattern from the configuration file (not removable here).
    FromConfiguration,
    /// Trusted sites: the list could not be read.
    TrustedSitesUnavailable,
    /// Trusted sites: withdraw an approval.
    Remove,
    /// Menu: open the folder holding the daemon's log.
    OpenLogFolder,
    /// Menu: quit the tray (the service keeps running).
    Quit,
}

impl Text {
    /// The text in `lang`.
    pub fn get(self, lang: Language) -> &'static str {
        let (en, zh) = self.pair();
        match lang {
            Language::En => en,
            Language::ZhTw => zh,
        }
    }

    /// (English, 繁體中文).
    fn pair(self) -> (&'static str, &'static str) {
        match self {
            Text::AppName => ("card-agent", "card-agent 憑證卡"),
            Text::NoReader => ("No card reader", "未偵測到讀卡機"),
            Text::NoReaderHint => ("Plug in your card reader.", "請接上讀卡機。"),
            Text::ServiceDown => ("The smart card service is not running", "智慧卡服務未執行"),
            Text::ServiceDownHint => (
                "Run the environment check from this menu.",
                "請從選單執行「環境檢測」。",
            ),
            Text::NoCard => ("No card in the reader", "讀卡機中沒有卡片"),
            Text::NoCardHint => ("Insert your card.", "請插入憑證卡。"),
            Text::CardUnreadable => (
                "The card in the reader cannot be read",
                "無法讀取讀卡機中的卡片",
            ),
            Text::CardUnreadableHint => (
                "It may not be a government certificate card, or its driver is missing: run the \
                 environment check.",
                "可能不是政府憑證卡，或缺少卡片驅動程式：請執行「環境檢測」。",
            ),
            Text::CardReady => ("Card ready", "憑證卡可以使用"),
            Text::CertificateExpiring => ("Certificate expiring soon", "憑證即將到期"),
            Text::CertificateExpiringHint => (
                "Renew it now: renewal opens a month before expiry.",
                "請辦理展期：到期前一個月起即可申請。",
            ),
            Text::CertificateExpired => ("Certificate expired", "憑證已過期"),
            Text::CertificateExpiredHint => (
                "It can no longer sign or log in; apply for a new certificate.",
                "已無法簽章或登入，請重新申請憑證。",
            ),
            Text::AgentError => (
                "The card-agent service is not available",
                "card-agent 服務無法使用",
            ),
            Text::AgentErrorHint => (
                "Retrying. If this persists, run the environment check or open the log folder.",
                "正在重試。若持續發生，請執行「環境檢測」或開啟紀錄資料夾。",
            ),
            Text::ConnectionLost => (
                "The connection to the service was lost.",
                "與服務的連線中斷。",
            ),
            Text::Demo => ("DEMO, not a real card", "示範卡，不是真的憑證"),
            Text::PinLocked => ("PIN locked", "PIN 碼已鎖住"),
            Text::EnvironmentCheck => ("Environment check", "環境檢測"),
            Text::SelfTestPage => ("Self-test page", "自我測試頁面"),
            Text::TrustedSites => ("Trusted sites", "信任的網站"),
            Text::NoTrustedSites => ("No sites approved yet", "尚未核准任何網站"),
            Text::FromConfiguration => ("from the configuration file", "設定檔指定"),
            Text::TrustedSitesUnavailable => {
                ("The list is not available right now", "目前無法取得清單")
            }
            Text::Remove => ("Remove", "移除"),
            Text::OpenLogFolder => ("Open log folder", "開啟紀錄資料夾"),
            Text::Quit => ("Quit", "結束"),
        }
    }
}

/// The name people know a card family by.
pub fn family_name(family: CardFamily, lang: Language) -> &'static str {
    let (en, zh) = match family {
        CardFamily::Moica => ("Citizen certificate (MOICA)", "自然人憑證"),
        CardFamily::Moeaca => ("Business certificate (MOEACA)", "工商憑證"),
        CardFamily::Gca => ("Government agency certificate (GCA)", "政府機關憑證"),
        CardFamily::Xca => ("Organisation certificate (XCA)", "組織及團體憑證"),
        CardFamily::Hca => ("Healthcare certificate (HCA)", "醫事憑證"),
        CardFamily::Unknown => ("Certificate card", "憑證卡"),
    };
    match lang {
        Language::En => en,
        Language::ZhTw => zh,
    }
}

/// When a certificate expires, with the days left: "expires 2029-01-01 (1200 days left)".
pub fn expiry(date: &str, days_left: i64, lang: Language) -> String {
    match (lang, days_left) {
        (Language::En, d) if d < 0 => {
            let ago = -d;
            let unit = if ago == 1 { "day" } else { "days" };
            format!("expired {date} ({ago} {unit} ago)")
        }
        (Language::En, 0) => format!("expires {date} (today)"),
        (Language::En, 1) => format!("expires {date} (1 day left)"),
        (Language::En, d) => format!("expires {date} ({d} days left)"),
        (Language::ZhTw, d) if d < 0 => format!("已於 {date} 到期（{} 天前）", -d),
        (Language::ZhTw, 0) => format!("到期日 {date}（今天到期）"),
        (Language::ZhTw, d) => format!("到期日 {date}（剩 {d} 天）"),
    }
}

/// "Approved 2025-01-31" for a trusted site.
pub fn approved_on(date: &str, lang: Language) -> String {
    match lang {
        Language::En => format!("Approved {date}"),
        Language::ZhTw => format!("核准於 {date}"),
    }
}

/// A configured `trusted_sites` pattern in the menu: "https://*.gov.tw (from the
/// configuration file)".
pub fn configured_pattern(pattern: &str, lang: Language) -> String {
    let note = Text::FromConfiguration.get(lang);
    match lang {
        Language::En => format!("{pattern} ({note})"),
        Language::ZhTw => format!("{pattern}（{note}）"),
    }
}

/// A card's heading in menus and the tooltip: "王小明 · 自然人憑證".
pub fn card_heading(holder: &str, family: CardFamily, lang: Language) -> String {
    format!("{holder} · {}", family_name(family, lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_wording_in_both_languages() {
        let en = |d| expiry("2029-01-01", d, Language::En);
        let zh = |d| expiry("2029-01-01", d, Language::ZhTw);
        assert_eq!(en(1200), "expires 2029-01-01 (1200 days left)");
        assert_eq!(en(1), "expires 2029-01-01 (1 day left)");
        assert_eq!(en(0), "expires 2029-01-01 (today)");
        assert_eq!(en(-1), "expired 2029-01-01 (1 day ago)");
        assert_eq!(en(-40), "expired 2029-01-01 (40 days ago)");
        assert_eq!(zh(1200), "到期日 2029-01-01（剩 1200 天）");
        assert_eq!(zh(0), "到期日 2029-01-01（今天到期）");
        assert_eq!(zh(-3), "已於 2029-01-01 到期（3 天前）");
    }

    #[test]
    fn configured_patterns_use_each_languages_parentheses() {
        assert_eq!(
            configured_pattern("https://*.gov.tw", Language::En),
            "https://*.gov.tw (from the configuration file)"
        );
        assert_eq!(
            configured_pattern("https://*.gov.tw", Language::ZhTw),
            "https://*.gov.tw（設定檔指定）"
        );
    }

    #[test]
    fn every_text_exists_in_both_languages() {
        // The match is exhaustive; this checks no arm was left empty or untranslated.
        let all = [
            Text::AppName,
            Text::NoReader,
            Text::NoReaderHint,
            Text::ServiceDown,
            Text::ServiceDownHint,
            Text::NoCard,
            Text::NoCardHint,
            Text::CardUnreadable,
            Text::CardUnreadableHint,
            Text::CardReady,
            Text::CertificateExpiring,
            Text::CertificateExpiringHint,
            Text::CertificateExpired,
            Text::CertificateExpiredHint,
            Text::AgentError,
            Text::AgentErrorHint,
            Text::ConnectionLost,
            Text::Demo,
            Text::PinLocked,
            Text::EnvironmentCheck,
            Text::SelfTestPage,
            Text::TrustedSites,
            Text::NoTrustedSites,
            Text::FromConfiguration,
            Text::TrustedSitesUnavailable,
            Text::Remove,
            Text::OpenLogFolder,
            Text::Quit,
        ];
        for text in all {
            let (en, zh) = text.pair();
            assert!(!en.is_empty() && !zh.is_empty(), "{text:?}");
            assert!(
                text == Text::AppName || en != zh,
                "{text:?} is not translated"
            );
            assert!(en.is_ascii(), "{text:?}: English text with non-ASCII");
        }
    }
}
