//! What the tray shows, decided from the daemon's `status` alone: a pure function of the
//! inventory (or why the daemon could not be asked), the time and the language, so every case
//! is tested without a desktop.
//!
//! The icon, in order of precedence:
//! - the daemon cannot be reached → [`TrayIcon::AgentError`];
//! - a card with certificates → [`TrayIcon::CertificateExpiring`] when any card's certificate
//!   expires within [`EXPIRING_WITHIN_DAYS`] days (renewal opens a month before expiry) or has
//!   expired (`expired: true`, drawn red), else [`TrayIcon::CardReady`];
//! - a reader but no usable card → [`TrayIcon::NoCard`] (with its own words when a card is in
//!   the reader but cannot be read);
//! - otherwise → [`TrayIcon::NoReader`] (with its own words when the smart-card service is
//!   down).

use card_agent_protocol::types::{CardFamily, Certificate, Inventory, PinStatus, Token};
use card_agent_protocol::Language;

use super::strings::{self, Text};

/// A certificate expiring within this many days is shown as expiring. MOICA renewal (展期)
/// opens a month before expiry, so the warning starts when the user can act on it.
pub const EXPIRING_WITHIN_DAYS: i64 = 30;

/// Taiwan time (UTC+8, no daylight saving), in which expiry dates are shown: the certificates
/// are issued, printed and renewed in Taiwan, and a date shown in UTC could be a day early.
const TAIWAN_OFFSET_SECONDS: i64 = 8 * 3600;

/// The icon's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrayIcon {
    /// No reader (or the smart-card service is down). Grey reader, crossed out.
    NoReader,
    /// A reader without a usable card. Grey reader with an empty slot.
    NoCard,
    /// A card whose certificates are valid for more than [`EXPIRING_WITHIN_DAYS`]. Green check.
    CardReady,
    /// A certificate expires within [`EXPIRING_WITHIN_DAYS`] (yellow warning) or has expired
    /// (`expired`, red warning).
    CertificateExpiring {
        /// At least one certificate has already expired.
        expired: bool,
    },
    /// The daemon cannot be reached. Red cross.
    AgentError,
}

impl TrayIcon {
    /// Every icon state, for drawing them all up front.
    pub const ALL: [TrayIcon; 6] = [
        TrayIcon::NoReader,
        TrayIcon::NoCard,
        TrayIcon::CardReady,
        TrayIcon::CertificateExpiring { expired: false },
        TrayIcon::CertificateExpiring { expired: true },
        TrayIcon::AgentError,
    ];

    /// Whether the user should look at the tray now (a panel may then emphasise the item).
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            TrayIcon::CertificateExpiring { .. } | TrayIcon::AgentError
        )
    }
}

/// One card (token) as the menu and the tooltip show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSummary {
    /// The holder's name (the certificate's CN), or the token label when no certificate names
    /// one.
    pub holder: String,
    /// The card family, from the certificate's issuer.
    pub family: CardFamily,
    /// The earliest end of validity of the card's own certificates, as a date in Taiwan time
    /// (`YYYY-MM-DD`); `None` when the card holds no certificate of its own.
    pub expiry_date: Option<String>,
    /// Whole days left until then (negative once expired).
    pub days_left: Option<i64>,
    /// The built-in demo token.
    pub demo: bool,
    /// The PIN is locked.
    pub pin_locked: bool,
    /// "王小明 · 自然人憑證", marked when it is the demo token.
    pub heading: String,
    /// "expires 2029-01-01 (1200 days left)", with "PIN locked" when it is; empty when there
    /// is nothing to say.
    pub detail: String,
}

impl CardSummary {
    /// Expires within [`EXPIRING_WITHIN_DAYS`] days, or has expired.
    pub fn is_expiring(&self) -> bool {
        self.days_left.is_some_and(|d| d <= EXPIRING_WITHIN_DAYS)
    }

    /// Has expired.
    pub fn is_expired(&self) -> bool {
        self.days_left.is_some_and(|d| d < 0)
    }
}

/// Everything the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayState {
    /// The icon.
    pub icon: TrayIcon,
    /// One line saying what the state is ("Card ready"): the tooltip's title and the first,
    /// inactive menu line.
    pub headline: String,
    /// The tooltip's text: one line per card, then what to do, if anything.
    pub tooltip: String,
    /// The cards, in the daemon's order.
    pub cards: Vec<CardSummary>,
    /// What the user can do about the state, if anything ("Insert your card.").
    pub hint: Option<String>,
}

/// Decides what the tray shows. `status` is the daemon's `status` result, or the reason it
/// could not be had; `now_unix` is the time (expiry countdowns are computed from it, not from
/// the daemon's `daysToExpiry`, so a tray left running for days stays right).
pub fn tray_state(status: Result<&Inventory, &str>, now_unix: i64, lang: Language) -> TrayState {
    let inventory = match status {
        Ok(inventory) => inventory,
        Err(reason) => {
            let hint = Text::AgentErrorHint.get(lang);
            return TrayState {
                icon: TrayIcon::AgentError,
                headline: Text::AgentError.get(lang).to_owned(),
                tooltip: match reason.trim() {
                    "" => hint.to_owned(),
                    reason => format!("{reason}\n{hint}"),
                },
                cards: Vec::new(),
                hint: Some(Text::AgentErrorHint.get(lang).to_owned()),
            };
        }
    };
    let cards: Vec<CardSummary> = inventory
        .tokens
        .iter()
        .map(|t| summarise(t, now_unix, lang))
        .collect();
    if !cards.is_empty() {
        let expired = cards.iter().any(CardSummary::is_expired);
        let expiring = cards.iter().any(CardSummary::is_expiring);
        let (icon, headline, hint) = if expiring {
            let (headline, hint) = if expired {
                (Text::CertificateExpired, Text::CertificateExpiredHint)
            } else {
                (Text::CertificateExpiring, Text::CertificateExpiringHint)
            };
            (
                TrayIcon::CertificateExpiring { expired },
                headline,
                Some(hint),
            )
        } else {
            (TrayIcon::CardReady, Text::CardReady, None)
        };
        let mut lines: Vec<String> = cards
            .iter()
            .map(|c| match c.detail.is_empty() {
                true => c.heading.clone(),
                false => format!("{}: {}", c.heading, c.detail),
            })
            .collect();
        lines.extend(hint.map(|h| h.get(lang).to_owned()));
        return TrayState {
            icon,
            headline: headline.get(lang).to_owned(),
            tooltip: lines.join("\n"),
            cards,
            hint: hint.map(|h| h.get(lang).to_owned()),
        };
    }
    let (icon, headline, hint) = if inventory.readers.iter().any(|r| r.card_present) {
        (
            TrayIcon::NoCard,
            Text::CardUnreadable,
            Text::CardUnreadableHint,
        )
    } else if !inventory.readers.is_empty() {
        (TrayIcon::NoCard, Text::NoCard, Text::NoCardHint)
    } else if inventory.pcsc_error.is_some() {
        (TrayIcon::NoReader, Text::ServiceDown, Text::ServiceDownHint)
    } else {
        (TrayIcon::NoReader, Text::NoReader, Text::NoReaderHint)
    };
    TrayState {
        icon,
        headline: headline.get(lang).to_owned(),
        tooltip: hint.get(lang).to_owned(),
        cards: Vec::new(),
        hint: Some(hint.get(lang).to_owned()),
    }
}

/// A token as the tray shows it: its holder's own certificates (those with a private key; the
/// CA certificates a card may carry say nothing about the holder), the earliest expiry among
/// them.
fn summarise(token: &Token, now_unix: i64, lang: Language) -> CardSummary {
    let own: Vec<&Certificate> = {
        let with_key: Vec<&Certificate> = token
            .certificates
            .iter()
            .filter(|c| c.has_private_key)
            .collect();
        if with_key.is_empty() {
            // A module that does not show private keys: still skip the CA certificates.
            token
                .certificates
                .iter()
                .filter(|c| !c.key_usage.iter().any(|u| u == "keyCertSign"))
                .collect()
        } else {
            with_key
        }
    };
    let first = own.first();
    let holder = first
        .and_then(|c| c.subject_cn.clone())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| token.label.trim().to_owned());
    let family = first.map_or(CardFamily::Unknown, |c| family_from_wire(&c.card_family));
    let earliest = own
        .iter()
        .map(|c| (seconds_left(c, now_unix), *c))
        .min_by_key(|(left, _)| *left);
    let (expiry_date, days_left) = match earliest {
        Some((left, c)) => (Some(taiwan_date(c)), Some(left.div_euclid(86_400))),
        None => (None, None),
    };
    let pin_locked = token.pin_status == PinStatus::Locked;
    let mut heading = strings::card_heading(&holder, family, lang);
    if token.demo {
        heading = format!("{heading} [{}]", Text::Demo.get(lang));
    }
    let mut detail: Vec<String> = Vec::new();
    if let (Some(date), Some(days)) = (&expiry_date, days_left) {
        detail.push(strings::expiry(date, days, lang));
    }
    if pin_locked {
        detail.push(Text::PinLocked.get(lang).to_owned());
    }
    CardSummary {
        holder,
        family,
        expiry_date,
        days_left,
        demo: token.demo,
        pin_locked,
        heading,
        detail: detail.join(match lang {
            Language::En => "; ",
            Language::ZhTw => "；",
        }),
    }
}

/// Seconds from `now` to the certificate's end of validity, from `notAfter`; the daemon's
/// `daysToExpiry` (as of the status) when `notAfter` cannot be read.
fn seconds_left(c: &Certificate, now_unix: i64) -> i64 {
    match not_after_unix(c) {
        Some(t) => t - now_unix,
        None => c.days_to_expiry.saturating_mul(86_400),
    }
}

fn not_after_unix(c: &Certificate) -> Option<i64> {
    time::OffsetDateTime::parse(&c.not_after, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// The end of validity as a date in Taiwan time; the RFC 3339 text's date part if unreadable.
fn taiwan_date(c: &Certificate) -> String {
    not_after_unix(c)
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t + TAIWAN_OFFSET_SECONDS).ok())
        .map(|t| {
            let d = t.date();
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        })
        .unwrap_or_else(|| c.not_after.chars().take(10).collect())
}

fn family_from_wire(name: &str) -> CardFamily {
    [
        CardFamily::Moica,
        CardFamily::Moeaca,
        CardFamily::Gca,
        CardFamily::Xca,
        CardFamily::Hca,
    ]
    .into_iter()
    .find(|f| f.as_str() == name)
    .unwrap_or(CardFamily::Unknown)
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
