//! The HTML the legacy API serves. Static, except for `/addDomain`'s answer, whose only
//! variable parts are JSON-encoded (never raw page input) so nothing a page sends can become
//! markup or script on our origin.

/// `/popupForm` and `/ChtPopupForm`: the postMessage bridge most pages use.
///
/// 1. tells the opener it is ready (`{"func":"getTbs"}`, the message pages wait for);
/// 2. takes the opener's tbsPackage, calls this server itself (same origin) and names the
///    opener's origin — which the browser, not the page, put in `event.origin` — in a header
///    only this origin's pages can send;
/// 3. posts the raw response text back to that origin only, and closes.
pub fn popup_form() -> String {
    POPUP_FORM
        .replace("{working}", &both("legacy.popup.working"))
        .replace("{open_from_page}", &both("legacy.popup.open_from_page"))
}

/// The bridge page, with `{working}` and `{open_from_page}` filled in by [`popup_form`].
const POPUP_FORM: &str = r#"<!doctype html>
<html lang="zh-Hant"><head><meta charset="utf-8"><title>card-agent</title>
<style>body{font:16px system-ui,sans-serif;margin:2em;color:#222}</style></head>
<body><p id="status">{working}</p>
<script>
(function () {
  "use strict";
  var opener = window.opener;
  var status = document.getElementById("status");
  if (!opener) { status.textContent = "{open_from_page}"; return; }
  // Request func -> [method, path, the response's func (what pages dispatch on)].
  var routes = {
    MakeSignature: ["POST", "/sign", "sign"], umakeSig: ["POST", "/umakeSig", "umakeSig"],
    GetUserCert: ["GET", "/pkcs11info?withcert=true", "pkcs11info"],
    CheckEnvir: ["GET", "/pkcs11info", "pkcs11info"],
    DecryptData: ["POST", "/decrypt", "decrypt"]
  };
  var busy = false;
  // Closed at once, as HiPKI's does. A page that opens its next popup under the same window
  // name right after the answer (some libraries retry within 100 ms) must get a new window,
  // not this one closing under it: closing takes a while, and a window.open that finds the
  // closing window by name loses its navigation with it (the page then says "not installed").
  // So the window gives up its name first; the browser tells the opener before the answer.
  function reply(text, origin) {
    window.name = "";
    opener.postMessage(text, origin);
    window.close();
  }
  window.addEventListener("message", function (ev) {
    if (ev.source !== opener || busy || typeof ev.data !== "string") return;
    if (ev.origin === "null") return;
    var func = "";
    try { func = String(JSON.parse(ev.data).func || ""); } catch (e) {
      reply(JSON.stringify({ func: "", ret_code: 0x7600000B, last_error: 0 }), ev.origin); return;
    }
    busy = true;
    var route = routes[func] || ["POST", "/sign", func];
    var init = { method: route[0], headers: { "X-Card-Agent-Opener": ev.origin }, cache: "no-store" };
    if (route[0] === "POST") {
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = "tbsPackage=" + encodeURIComponent(ev.data);
    }
    fetch(route[1], init)
      .then(function (r) { return r.text(); })
      .then(function (t) { reply(t, ev.origin); })
      .catch(function () { reply(JSON.stringify({ func: route[2], ret_code: 0x7600000D, last_error: 0 }), ev.origin); });
  });
  // First, before anything else: pages give up when this has not arrived within 3.5 s.
  opener.postMessage('{"func":"getTbs"}', "*");
})();
</script></body></html>
"#;

/// A text in both languages, as legacy pages show them (the page cannot know the user's
/// language): `zh-TW / English`, from the message catalogue.
fn both(key: &str) -> String {
    use card_agent_protocol::{i18n, Language};
    format!(
        "{} / {}",
        i18n::text(Language::ZhTw, key),
        i18n::text(Language::En, key)
    )
}

/// The page `/addDomain` answers with, after the user decided in the native dialog.
pub fn add_domain_answer(ret_code: u32, target_origin: Option<&str>, approved: bool) -> String {
    let message = serde_json::json!({ "func": "addDomain", "ret_code": ret_code, "last_error": 0 })
        .to_string();
    // JSON string literals are valid JavaScript; escaping `<` keeps `</script>` out.
    let js = |v: &str| {
        serde_json::Value::from(v)
            .to_string()
            .replace('<', "\\u003c")
    };
    let target = target_origin.map(js).unwrap_or_else(|| "null".to_owned());
    let text = both(if approved {
        "legacy.add_domain.added"
    } else {
        "legacy.add_domain.not_added"
    });
    format!(
        r#"<!doctype html>
<html lang="zh-Hant"><head><meta charset="utf-8"><title>card-agent</title></head>
<body><p>{text}</p>
<script>
(function () {{
  var target = {target};
  if (window.opener && target) {{ window.opener.postMessage({message}, target); }}
  setTimeout(function () {{ window.close(); }}, 500);
}})();
</script></body></html>
"#,
        message = js(&message),
    )
}

/// `/waiting.gif`: a 16×16 grey "please wait" square.
pub fn waiting_gif() -> Vec<u8> {
    let mut gif = Vec::new();
    gif.extend_from_slice(b"GIF89a");
    gif.extend_from_slice(&[16, 0, 16, 0, 0x80, 0, 0]); // 16x16, global colour table of 2
    gif.extend_from_slice(&[0xcc, 0xcc, 0xcc, 0x66, 0x66, 0x66]);
    gif.extend_from_slice(&[0x2c, 0, 0, 0, 0, 16, 0, 16, 0, 0]); // image descriptor
                                                                 // LZW minimum code size 2, then the codes for 256 pixels of colour 0: clear, runs, end.
    let data: Vec<u8> = lzw_all_zero(256);
    gif.push(2);
    for chunk in data.chunks(255) {
        gif.push(chunk.len() as u8);
        gif.extend_from_slice(chunk);
    }
    gif.push(0);
    gif.push(0x3b);
    gif
}

/// LZW-encodes `count` pixels of colour 0 with code size 2, emitting a clear code before every
/// pixel so the code width never grows (simple, valid, and tiny at this size).
fn lzw_all_zero(count: usize) -> Vec<u8> {
    let (clear, end, width) = (4u32, 5u32, 3u32);
    let mut bits: u64 = 0;
    let mut nbits = 0u32;
    let mut out = Vec::new();
    let mut emit = |code: u32, out: &mut Vec<u8>| {
        bits |= u64::from(code) << nbits;
        nbits += width;
        while nbits >= 8 {
            out.push((bits & 0xff) as u8);
            bits >>= 8;
            nbits -= 8;
        }
    };
    for _ in 0..count {
        emit(clear, &mut out);
        emit(0, &mut out);
    }
    emit(end, &mut out);
    if nbits > 0 {
        out.push((bits & 0xff) as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_domain_answer_cannot_be_broken_out_of() {
        let page = add_domain_answer(0, Some("https://x</script><script>alert(1)//"), true);
        assert!(!page.contains("</script><script>alert"));
        assert!(page.contains("\\u003c/script>"));
    }

    #[test]
    fn gif_is_well_formed() {
        let gif = waiting_gif();
        assert!(gif.starts_with(b"GIF89a") && gif.ends_with(&[0x3b]));
    }
}
