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
pub const POPUP_FORM: &str = r#"<!doctype html>
<html lang="zh-Hant"><head><meta charset="utf-8"><title>card-agent</title>
<style>body{font:16px system-ui,sans-serif;margin:2em;color:#222}</style></head>
<body><p id="status">card-agent 處理中，請稍候… / Working, please wait…</p>
<script>
(function () {
  "use strict";
  var opener = window.opener;
  var status = document.getElementById("status");
  if (!opener) { status.textContent = "請由網頁開啟此視窗。 / Open this window from a web page."; return; }
  var routes = {
    MakeSignature: ["POST", "/sign"], umakeSig: ["POST", "/sign"],
    GetUserCert: ["GET", "/pkcs11info?withcert=true"], CheckEnvir: ["GET", "/pkcs11info"],
    DecryptData: ["POST", "/decrypt"]
  };
  var busy = false;
  function reply(text, origin) {
    opener.postMessage(text, origin);
    setTimeout(function () { window.close(); }, 200);
  }
  window.addEventListener("message", function (ev) {
    if (ev.source !== opener || busy || typeof ev.data !== "string") return;
    if (ev.origin === "null") return;
    var func = "";
    try { func = String(JSON.parse(ev.data).func || ""); } catch (e) {
      reply(JSON.stringify({ func: "", ret_code: 0x7600000B, last_error: 0 }), ev.origin); return;
    }
    busy = true;
    var route = routes[func] || ["POST", "/sign"];
    var init = { method: route[0], headers: { "X-Card-Agent-Opener": ev.origin }, cache: "no-store" };
    if (route[0] === "POST") {
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = "tbsPackage=" + encodeURIComponent(ev.data);
    }
    fetch(route[1], init)
      .then(function (r) { return r.text(); })
      .then(function (t) { reply(t, ev.origin); })
      .catch(function () { reply(JSON.stringify({ func: func, ret_code: 0x7600000D, last_error: 0 }), ev.origin); });
  });
  opener.postMessage('{"func":"getTbs"}', "*");
})();
</script></body></html>
"#;

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
    let text = if approved {
        "已加入信任網站。 / The site was added to your trusted sites."
    } else {
        "未加入信任網站。 / The site was not added."
    };
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

/// `/selfTest.htm`: lists cards and certificates and signs a test text, in the agent's own
/// origin (so it works before any site is trusted).
pub const SELF_TEST: &str = r#"<!doctype html>
<html lang="zh-Hant"><head><meta charset="utf-8"><title>card-agent 自我測試 Self-test</title>
<style>
body{font:16px system-ui,sans-serif;margin:2em;max-width:46em;color:#1a1a1a}
h1{font-size:1.4em} .ok{color:#0a6b2b} .bad{color:#a40000} li{margin:.3em 0}
label{display:block;margin-top:1em} input,button{font-size:1em;padding:.4em}
</style></head>
<body>
<h1>card-agent 自我測試 / Self-test</h1>
<p id="version"></p>
<h2>卡片與憑證 / Cards and certificates</h2>
<ul id="cards"><li>讀取中… / Reading…</li></ul>
<h2>簽章測試 / Signing test</h2>
<form id="form">
<label for="pin">PIN 碼 / PIN</label>
<input id="pin" type="password" inputmode="numeric" autocomplete="off" maxlength="8">
<button type="submit">簽章 / Sign</button>
</form>
<p id="result" role="status"></p>
<script>
(function () {
  "use strict";
  function el(id) { return document.getElementById(id); }
  fetch("/", { cache: "no-store" }).then(function (r) { return r.text(); })
    .then(function (t) { el("version").textContent = t.split("\n")[0]; });
  fetch("/pkcs11info?withcert=true", { cache: "no-store" }).then(function (r) { return r.json(); })
    .then(function (info) {
      var list = el("cards"); list.textContent = "";
      if (info.ret_code !== 0) { list.innerHTML = "<li class=bad></li>"; list.firstChild.textContent = "ret_code 0x" + info.ret_code.toString(16); return; }
      if (!info.slots.length) { var li = document.createElement("li"); li.textContent = "沒有卡片 / No card"; list.appendChild(li); }
      info.slots.forEach(function (s) {
        var li = document.createElement("li");
        var t = s.token;
        li.textContent = s.slotDescription + ": " + (typeof t === "object" && t ? t.label + " (" + t.serialNumber + ")" : (t || "沒有卡片 / no card"));
        if (t && t.certs) t.certs.forEach(function (c) {
          var sub = document.createElement("div");
          sub.textContent = "— " + c.subjectCN + " [" + c.usage + "] 到期 / expires 20" + c.notAfter.slice(0, 2) + "-" + c.notAfter.slice(2, 4) + "-" + c.notAfter.slice(4, 6);
          li.appendChild(sub);
        });
        list.appendChild(li);
      });
    });
  el("form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var pin = el("pin").value; el("pin").value = "";
    var pkg = { func: "MakeSignature", signatureType: "PKCS7", tbs: "card-agent self-test 自我測試", tbsEncoding: "NONE", hashAlgorithm: "SHA256", pin: pin, withCardSN: "true" };
    el("result").textContent = "簽章中… / Signing…";
    fetch("/sign", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "tbsPackage=" + encodeURIComponent(JSON.stringify(pkg)) })
      .then(function (r) { return r.json(); })
      .then(function (res) {
        var ok = res.ret_code === 0;
        el("result").className = ok ? "ok" : "bad";
        el("result").textContent = ok ? "簽章成功 / Signed (" + res.signature.length + " base64 characters, card " + (res.cardSN || "") + ")"
          : "失敗 / Failed: ret_code 0x" + res.ret_code.toString(16) + " last_error 0x" + res.last_error.toString(16) + (res.message ? " — " + res.message : "");
      });
  });
})();
</script></body></html>
"#;

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
