//! Stable error codes. A code's spelling never changes once released: pages and scripts match
//! on it. Messages are for people and may be improved at any time.

use serde::{Deserialize, Serialize};

/// The language of a message shown to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Language {
    /// Traditional Chinese as used in Taiwan (the default: most users read it first).
    #[default]
    #[serde(rename = "zh-TW")]
    ZhTw,
    /// English.
    #[serde(rename = "en")]
    En,
}

impl Language {
    /// Picks the language from a POSIX-style locale string such as `zh_TW.UTF-8` or `en_US`.
    /// Anything Chinese becomes zh-TW; anything else that names a language becomes English.
    pub fn from_locale(locale: &str) -> Self {
        let l = locale.to_ascii_lowercase();
        if l.starts_with("zh") {
            Language::ZhTw
        } else {
            Language::En
        }
    }
}

macro_rules! error_codes {
    ($($variant:ident => $wire:literal, $en:literal, $zh:literal;)+) => {
        /// A stable, machine-readable failure code, shared by the CLI, the native protocol and
        /// (through its own mapping) the legacy HiPKI API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = $en]
                // Serde takes the spelling from the table, not from a case rule on the variant
                // name, so the wire spelling is written down exactly once.
                #[serde(rename = $wire)]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The wire spelling, e.g. `PIN_INCORRECT`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $wire,)+ }
            }

            /// A short explanation for a person, in the given language.
            pub fn message(self, lang: Language) -> &'static str {
                match (self, lang) {
                    $(
                        (ErrorCode::$variant, Language::En) => $en,
                        (ErrorCode::$variant, Language::ZhTw) => $zh,
                    )+
                }
            }

            /// Parses the wire spelling.
            pub fn from_wire(s: &str) -> Option<Self> {
                match s { $($wire => Some(ErrorCode::$variant),)+ _ => None }
            }
        }
    };
}

error_codes! {
    NoReader => "NO_READER", "No smart card reader was found. Plug in the reader.", "找不到讀卡機，請接上讀卡機。";
    NoCard => "NO_CARD", "No card is in the reader. Insert your card.", "讀卡機內沒有卡片，請插入憑證卡。";
    UnknownCard => "UNKNOWN_CARD", "The card in the reader is not one card-agent knows how to use.", "無法識別讀卡機內的卡片。";
    NoModule => "NO_MODULE", "No card driver (PKCS#11 module) could be loaded.", "找不到可用的卡片驅動程式（PKCS#11 模組）。";
    NoToken => "NO_TOKEN", "The requested card or token is not present.", "找不到指定的憑證卡。";
    CertNotFound => "CERT_NOT_FOUND", "The requested certificate is not on the card.", "卡片上沒有指定的憑證。";
    KeyNotFound => "KEY_NOT_FOUND", "The card has no private key for this certificate.", "卡片上找不到此憑證對應的私密金鑰。";
    CertExpired => "CERT_EXPIRED", "The certificate has expired. Renew it at a registration office or online before signing.", "憑證已過期，請先辦理展期或重新申請。";
    CertNotYetValid => "CERT_NOT_YET_VALID", "The certificate is not valid yet. Check the computer's date and time.", "憑證尚未生效，請檢查電腦的日期與時間。";
    PinIncorrect => "PIN_INCORRECT", "The PIN is incorrect.", "PIN 碼錯誤。";
    PinLocked => "PIN_LOCKED", "The PIN is locked after too many wrong tries. Take the card to a registration office to unlock it.", "PIN 碼已鎖住（錯誤次數過多），請攜卡至受理窗口解鎖。";
    PinFormat => "PIN_FORMAT", "The PIN must be digits only, of the length the card accepts (6 to 8 digits on government cards). It was not sent to the card.", "PIN 碼格式不符（政府憑證卡為 6 至 8 位數字），未送至卡片，不會扣除嘗試次數。";
    PinRequired => "PIN_REQUIRED", "A PIN is needed for this operation.", "此操作需要輸入 PIN 碼。";
    UserCancelled => "USER_CANCELLED", "The operation was cancelled.", "使用者已取消操作。";
    SiteNotTrusted => "SITE_NOT_TRUSTED", "This website is not on your list of trusted sites.", "此網站不在您的信任網站清單中。";
    BadRequest => "BAD_REQUEST", "The request was malformed.", "請求格式錯誤。";
    UnsupportedAlgorithm => "UNSUPPORTED_ALGORITHM", "The card's key does not support this algorithm.", "卡片金鑰不支援此演算法。";
    Timeout => "TIMEOUT", "The operation took too long and was stopped.", "操作逾時。";
    CardRemoved => "CARD_REMOVED", "The card was removed during the operation. Insert it again and retry.", "操作中卡片被移除，請重新插入後再試一次。";
    IoError => "IO_ERROR", "A file could not be read or written.", "無法讀取或寫入檔案。";
    Internal => "INTERNAL", "An internal error occurred in card-agent.", "card-agent 發生內部錯誤。";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_round_trips_and_matches_serde() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!(!code.message(Language::En).is_empty());
            assert!(!code.message(Language::ZhTw).is_empty());
        }
    }

    #[test]
    fn locale_picks_language() {
        assert_eq!(Language::from_locale("zh_TW.UTF-8"), Language::ZhTw);
        assert_eq!(Language::from_locale("en_US.UTF-8"), Language::En);
        assert_eq!(Language::from_locale("C"), Language::En);
    }
}
