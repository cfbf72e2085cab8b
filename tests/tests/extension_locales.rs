//! The extension's `_locales/*/messages.json` (the format browsers require) are generated from
//! the message catalogue (`extension.*` keys in protocol/locales/), so the extension has no
//! words of its own. This test regenerates them and fails when the committed files differ;
//! `CARD_AGENT_UPDATE_TEXTS=1 cargo test -p card-agent-testbed --test extension_locales`
//! rewrites them.

use card_agent_protocol::{i18n, Language};

fn messages_json(lang: Language) -> String {
    let messages: serde_json::Map<String, serde_json::Value> =
        i18n::with_prefix(lang, "extension.")
            .into_iter()
            .map(|(key, text)| (key.to_owned(), serde_json::json!({ "message": text })))
            .collect();
    format!(
        "{}\n",
        serde_json::to_string_pretty(&messages).expect("JSON")
    )
}

#[test]
fn extension_locales_are_the_catalogues() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../extension/_locales");
    let mut stale = Vec::new();
    for (dir, lang) in [("en", Language::En), ("zh_TW", Language::ZhTw)] {
        let path = root.join(dir).join("messages.json");
        let generated = messages_json(lang);
        if std::env::var_os("CARD_AGENT_UPDATE_TEXTS").is_some() {
            std::fs::write(&path, &generated).expect("write messages.json");
        }
        if std::fs::read_to_string(&path).unwrap_or_default() != generated {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date: {stale:?}; run CARD_AGENT_UPDATE_TEXTS=1 cargo test -p card-agent-testbed --test extension_locales"
    );
}
