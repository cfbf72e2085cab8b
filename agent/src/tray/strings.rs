//! Every word the tray shows, from the message catalogue (`tray.*` keys in
//! protocol/locales/), which holds each text in zh-TW and English.

use card_agent_protocol::types::CardFamily;
use card_agent_protocol::{i18n, Language};

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
    /// The text in `lang`, from the message catalogue.
    pub fn get(self, lang: Language) -> &'static str {
        i18n::text(lang, self.key())
    }

    /// Its key in the message catalogue (protocol/locales/).
    fn key(self) -> &'static str {
        match self {
            Text::AppName => "tray.app_name",
            Text::NoReader => "tray.no_reader",
            Text::NoReaderHint => "tray.no_reader_hint",
            Text::ServiceDown => "tray.service_down",
            Text::ServiceDownHint => "tray.service_down_hint",
            Text::NoCard => "tray.no_card",
            Text::NoCardHint => "tray.no_card_hint",
            Text::CardUnreadable => "tray.card_unreadable",
            Text::CardUnreadableHint => "tray.card_unreadable_hint",
            Text::CardReady => "tray.card_ready",
            Text::CertificateExpiring => "tray.certificate_expiring",
            Text::CertificateExpiringHint => "tray.certificate_expiring_hint",
            Text::CertificateExpired => "tray.certificate_expired",
            Text::CertificateExpiredHint => "tray.certificate_expired_hint",
            Text::AgentError => "tray.agent_error",
            Text::AgentErrorHint => "tray.agent_error_hint",
            Text::ConnectionLost => "tray.connection_lost",
            Text::Demo => "tray.demo",
            Text::PinLocked => "tray.pin_locked",
            Text::EnvironmentCheck => "tray.environment_check",
            Text::SelfTestPage => "tray.self_test_page",
            Text::TrustedSites => "tray.trusted_sites",
            Text::NoTrustedSites => "tray.no_trusted_sites",
            Text::FromConfiguration => "tray.from_configuration",
            Text::TrustedSitesUnavailable => "tray.trusted_sites_unavailable",
            Text::Remove => "tray.remove",
            Text::OpenLogFolder => "tray.open_log_folder",
            Text::Quit => "tray.quit",
        }
    }
}

/// The name people know a card family by.
pub fn family_name(family: CardFamily, lang: Language) -> &'static str {
    i18n::text(
        lang,
        match family {
            CardFamily::Moica => "tray.family.MOICA",
            CardFamily::Moeaca => "tray.family.MOEACA",
            CardFamily::Gca => "tray.family.GCA",
            CardFamily::Xca => "tray.family.XCA",
            CardFamily::Hca => "tray.family.HCA",
            CardFamily::Unknown => "tray.family.unknown",
        },
    )
}

/// When a certificate expires, with the days left: "expires 2029-01-01 (1200 days left)".
pub fn expiry(date: &str, days_left: i64, lang: Language) -> String {
    let key = match days_left {
        d if d < -1 => "tray.expiry.days_ago",
        -1 => "tray.expiry.one_day_ago",
        0 => "tray.expiry.today",
        1 => "tray.expiry.one_day_left",
        _ => "tray.expiry.days_left",
    };
    i18n::format(lang, key, &[("date", &date), ("days", &days_left.abs())])
}

/// "Approved 2025-01-31" for a trusted site.
pub fn approved_on(date: &str, lang: Language) -> String {
    i18n::format(lang, "tray.approved_on", &[("date", &date)])
}

/// A configured `trusted_sites` pattern in the menu: "https://*.gov.tw (from the
/// configuration file)".
pub fn configured_pattern(pattern: &str, lang: Language) -> String {
    let note = Text::FromConfiguration.get(lang);
    i18n::format(
        lang,
        "tray.configured_pattern",
        &[("pattern", &pattern), ("note", &note)],
    )
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
            let (en, zh) = (text.get(Language::En), text.get(Language::ZhTw));
            assert!(!en.is_empty() && !zh.is_empty(), "{text:?}");
            assert!(
                text == Text::AppName || en != zh,
                "{text:?} is not translated"
            );
            assert!(en.is_ascii(), "{text:?}: English text with non-ASCII");
            assert_ne!(en, text.key(), "{text:?} is missing from the catalogue");
        }
    }
}
