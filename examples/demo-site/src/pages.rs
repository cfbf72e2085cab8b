//! The site's HTML (zh-TW first, English beside it) and its static assets. Everything that
//! comes from a certificate is escaped.

use crate::login::User;

/// The static assets under `/assets/`: content and type.
pub fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    const JS: &str = "text/javascript; charset=utf-8";
    Some(match path {
        "/assets/site.css" => (include_str!("assets/site.css"), "text/css; charset=utf-8"),
        "/assets/messages.js" => (include_str!("assets/messages.js"), JS),
        "/assets/login.js" => (include_str!("assets/login.js"), JS),
        "/assets/sign.js" => (include_str!("assets/sign.js"), JS),
        "/assets/smartpki.js" => (include_str!("assets/smartpki.js"), JS),
        _ => return None,
    })
}

/// The home page: the login form, or who is logged in.
pub fn home(origin: &str, user: Option<&User>) -> String {
    let main = match user {
        None => login_panel(origin),
        Some(user) => welcome_panel(user),
    };
    layout("登入 Log in", user, "home", &main, "/assets/login.js")
}

fn login_panel(origin: &str) -> String {
    format!(
        r#"<section class="panel" aria-labelledby="login-title">
  <h1 id="login-title">憑證卡登入 <span class="en" lang="en">Log in with your card</span></h1>
  <p>使用自然人憑證、工商憑證或其他政府憑證卡登入本網站。<br>
     <span class="en" lang="en">Log in with a Taiwan government PKI card: 自然人憑證 (MOICA), 工商憑證 (MOEACA), GCA, XCA or HCA.</span></p>
  <ol class="steps">
    <li>將憑證卡插入讀卡機。<span class="en" lang="en">Insert your card in the reader.</span></li>
    <li>按「以憑證卡登入」。<span class="en" lang="en">Press “Log in with card”.</span></li>
    <li>在 card-agent 視窗輸入 PIN 碼：PIN 碼不會經過本網頁。<span class="en" lang="en">Type your PIN in card-agent's own window: it never passes through this page.</span></li>
  </ol>
  <button type="button" id="login" class="primary" disabled>以憑證卡登入 <span lang="en">Log in with card</span></button>
  <p id="message" class="message" role="status" aria-live="polite"></p>
  <p id="extension-status" class="hint" data-state="checking">正在檢查 card-agent 擴充功能… <span lang="en">Looking for the card-agent extension…</span></p>
  <p class="hint">本站網址 Site origin: <code>{}</code></p>
</section>"#,
        escape(origin)
    )
}

fn welcome_panel(user: &User) -> String {
    // The date is what a person needs; the time of day is noise.
    let valid_until = time::OffsetDateTime::from_unix_timestamp(user.not_after)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_default();
    format!(
        r#"<section class="panel" aria-labelledby="welcome-title">
  <h1 id="welcome-title">登入成功 <span class="en" lang="en">You are logged in</span></h1>
  <p class="greeting">歡迎，<strong id="holder-name">{name}</strong>。<span class="en" lang="en">Welcome.</span></p>
  <dl class="identity">
    <dt>姓名 <span lang="en">Name</span></dt><dd id="holder">{name}</dd>
    <dt>憑證種類 <span lang="en">Card</span></dt><dd id="card-family" data-family="{family}">{family_name} <span class="tag">{family}</span></dd>
    <dt>憑證主體 <span lang="en">Subject</span></dt><dd><code>{subject}</code></dd>
    <dt>簽發機構 <span lang="en">Issuer</span></dt><dd><code>{issuer}</code></dd>
    <dt>有效期限 <span lang="en">Valid until</span></dt><dd>{valid_until}</dd>
  </dl>
  <div class="actions">
    <a class="button primary" href="/sign">簽署申請書 <span lang="en">Sign an application</span></a>
    <form method="post" action="/logout"><button type="submit" id="logout">登出 <span lang="en">Log out</span></button></form>
  </div>
</section>"#,
        name = escape(&user.name),
        family = escape(&user.card_family),
        family_name = family_name(&user.card_family),
        subject = escape(&user.subject),
        issuer = escape(&user.issuer),
    )
}

/// The signing page.
pub fn sign(user: Option<&User>) -> String {
    let main = r#"<section class="panel" aria-labelledby="sign-title">
  <h1 id="sign-title">簽署申請書 <span class="en" lang="en">Sign an application</span></h1>
  <p>以憑證卡對下列文字做數位簽章（CMS），由伺服器以 openssl 驗證。<br>
     <span class="en" lang="en">Your card signs the text below (CMS, detached); the server verifies it with openssl.</span></p>
  <label for="document">申請內容 <span lang="en">Application</span></label>
  <textarea id="document" rows="7" spellcheck="false">戶籍謄本申請書 Application for a household registration transcript
申請人 Applicant: 王小明
份數 Copies: 1
用途 Purpose: 就學 Enrolment
</textarea>
  <button type="button" id="sign" class="primary" disabled>以憑證卡簽章並送出 <span lang="en">Sign with card and submit</span></button>
  <p id="message" class="message" role="status" aria-live="polite"></p>
  <div id="result" class="result" hidden>
    <p id="verdict"></p>
    <details>
      <summary>簽章內容（CMS，Base64） <span lang="en">Signature (CMS, base64)</span></summary>
      <textarea id="signature" rows="6" readonly spellcheck="false"></textarea>
    </details>
  </div>
  <p id="extension-status" class="hint" data-state="checking">正在檢查 card-agent 擴充功能… <span lang="en">Looking for the card-agent extension…</span></p>
</section>"#;
    layout("簽署 Sign", user, "sign", main, "/assets/sign.js")
}

/// A login page written the way SmartPKI pages are (the business portal's "憑證登入"): the page
/// takes the PIN itself and runs SmartPKI's sign chain through `navigator.connectSmartPKI()`,
/// which card-agent's extension provides. The signature goes to `/sign/verify` like the sign
/// page's.
pub fn smartpki() -> String {
    let main = r#"<section class="panel" aria-labelledby="smartpki-title">
  <h1 id="smartpki-title">憑證登入（SmartPKI 網頁） <span class="en" lang="en">Card login (a SmartPKI page)</span></h1>
  <p>請插入您的憑證後按憑證登入。<span class="en" lang="en">Insert your card, type its PIN, press Log in.</span></p>
  <label for="pin">憑證 PIN 碼 <span lang="en">Card PIN</span></label>
  <input id="pin" type="password" autocomplete="off" inputmode="numeric">
  <label for="content">簽章內容 <span lang="en">Text to sign</span></label>
  <textarea id="content" rows="3" spellcheck="false">login 登入 2026</textarea>
  <button type="button" id="login" class="primary" disabled>憑證登入 <span lang="en">Log in</span></button>
  <button type="button" id="close">中斷連線 <span lang="en">Close the port</span></button>
  <p id="message" class="message" role="status" aria-live="polite"></p>
  <dl id="record" class="identity" hidden>
    <dt>憑證類別 certType</dt><dd id="cert-type"></dd>
    <dt>姓名 name</dt><dd id="name"></dd>
    <dt>身分識別 id</dt><dd id="owner-id"></dd>
    <dt>主旨 subjectName</dt><dd><code id="subject"></code></dd>
    <dt>卡號 cardNumber</dt><dd id="card-number"></dd>
    <dt>主卡 isMainCard</dt><dd id="main-card"></dd>
    <dt>伺服器驗證 Verdict</dt><dd id="verdict"></dd>
  </dl>
  <textarea id="signed-data" rows="4" readonly hidden></textarea>
  <p id="extension-status" class="hint" data-state="checking">正在檢查 SmartPKI 元件… <span lang="en">Looking for SmartPKI…</span></p>
</section>"#;
    layout("SmartPKI 登入", None, "", main, "/assets/smartpki.js")
}

/// The 404 page.
pub fn not_found() -> String {
    layout(
        "找不到 Not found",
        None,
        "",
        r#"<section class="panel"><h1>找不到這個網頁 <span class="en" lang="en">Page not found</span></h1><p><a href="/">回首頁 Home</a></p></section>"#,
        "",
    )
}

fn layout(title: &str, user: Option<&User>, current: &str, main: &str, script: &str) -> String {
    let nav = |href: &str, id: &str, label: &str| {
        let here = if id == current {
            r#" aria-current="page""#
        } else {
            ""
        };
        format!(r#"<a href="{href}"{here}>{label}</a>"#)
    };
    let who = match user {
        Some(u) => format!(
            r#"<span class="who" id="who">{} · {}</span>"#,
            escape(&u.name),
            escape(&u.card_family)
        ),
        None => r#"<span class="who" id="who">未登入 <span lang="en">Not logged in</span></span>"#
            .to_owned(),
    };
    let script = if script.is_empty() {
        String::new()
    } else {
        format!(r#"<script type="module" src="{script}"></script>"#)
    };
    format!(
        r#"<!doctype html>
<html lang="zh-Hant-TW">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · 示範電子化政府服務網</title>
<link rel="stylesheet" href="/assets/site.css">
{script}
</head>
<body>
<div class="demo-ribbon" role="note">示範網站，僅供測試 · <span lang="en">Demo site for testing only</span></div>
<header class="site-header">
  <div class="brand"><span class="seal" aria-hidden="true">政</span><span>示範電子化政府服務網<small lang="en">Demo e-Government Services</small></span></div>
  <nav>{home}{sign}</nav>
  {who}
</header>
<main>
{main}
</main>
<footer>card-agent 示範網站 · <span lang="en">card-agent demo relying party</span></footer>
</body>
</html>
"#,
        title = escape(title),
        home = nav("/", "home", "首頁 Home"),
        sign = nav("/sign", "sign", "文件簽章 Sign"),
    )
}

/// The family's name in Chinese.
fn family_name(family: &str) -> &'static str {
    match family {
        "MOICA" => "自然人憑證",
        "MOEACA" => "工商憑證",
        "GCA" => "政府機關憑證",
        "XCA" => "組織及團體憑證",
        "HCA" => "醫事憑證",
        _ => "其他憑證",
    }
}

/// HTML text and attribute escaping.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
