// card-agent self-test page. One source for both places it is shown: served by the agent at
// http://127.0.0.1:61161/selftest (talking to /selftest/api/*) and, later, as an extension page.
// The signature is verified here with WebCrypto against the certificate, independently of the
// agent, which verifies it too.
(function () {
  "use strict";

  // The texts come from the message catalogue (protocol/locales/), through texts.js, which
  // a test regenerates from it: the page has no words of its own.
  const TEXT = globalThis.CARD_AGENT_SELFTEST_TEXTS;
  let lang = localStorage.getItem("card-agent-lang") === "en" ? "en" : "zh-TW";
  const t = (key, n) => TEXT[lang][key].replace("{n}", n);
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };

  // Served by the agent, the page calls its same-origin API; as an extension page it talks to
  // the agent through the service worker (the agent's own dialog then asks for the PIN, since
  // the extension never carries a PIN from a page).
  const inExtension = location.protocol === "chrome-extension:" || location.protocol === "moz-extension:";
  const api = inExtension ? extensionApi() : httpApi();

  function httpApi() {
    const post = async (name, body) => {
      const r = await fetch("/selftest/api/" + name, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      return r.json();
    };
    return {
      canFix: true,
      async get(name) {
        const r = await fetch("/selftest/api/" + name, { cache: "no-store" });
        return r.json();
      },
      post,
      sign: (body) => post("sign", body),
      events(onEvent) {
        const source = new EventSource("/selftest/api/events");
        source.onmessage = (m) => onEvent(JSON.parse(m.data));
      }
    };
  }

  function extensionApi() {
    const ext = globalThis.chrome ?? globalThis.browser;
    const port = ext.runtime.connect({ name: "card-agent-extension-page" });
    const pending = new Map();
    let nextId = 1;
    let onEvent = () => {};
    port.onMessage.addListener((m) => {
      if (m.type === "event") { onEvent(m.event); return; }
      const resolve = pending.get(m.id);
      if (!resolve) return;
      pending.delete(m.id);
      resolve(m.error ? { error: m.error } : m.result);
    });
    const call = (command, args) => new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      port.postMessage({ type: "request", id, command, arguments: args || {} });
    });
    return {
      canFix: false,
      get(name) {
        if (name.startsWith("checks")) return call("environment-check");
        return call("status");
      },
      sign: (body) => call("self-test-sign", body.certificate ? { certificate: body.certificate } : {}),
      events(handler) { onEvent = handler; call("subscribe"); }
    };
  }

  function applyLanguage() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-Hant";
    document.title = t("title");
    document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
    $("lang").textContent = t("switchTo");
  }

  async function refresh() {
    await Promise.all([showChecks(), showCards()]);
  }

  async function showChecks() {
    const list = $("checks");
    try {
      const report = await api.get("checks?lang=" + lang);
      list.textContent = "";
      for (const c of report.checks || []) {
        const li = el("li", c.status);
        li.append(el("span", "sym", SYMBOL[c.status] || "–"));
        li.append(el("span", "title", c.title));
        if (c.explanation) li.append(el("span", "detail", c.explanation));
        for (const item of c.items || []) li.append(el("span", "detail", (SYMBOL[item.status] || "·") + " " + item.text));
        if (c.fix) li.append(fixLine(c.fix));
        list.append(li);
      }
    } catch (e) {
      list.textContent = "";
      list.append(el("li", "failed", t("checksUnavailable")));
    }
  }

  const SYMBOL = { ok: "✔", warning: "!", failed: "✘", skipped: "–" };

  // A fix is a command to run, a setting to add, or an action the agent can do itself (then a
  // button does it).
  function fixLine(fix) {
    const line = el("span", "fix", t("fix") + ": " + (fix.label || "") + " ");
    if (fix.kind === "command") line.append(el("code", null, fix.command));
    if (fix.kind === "setting") line.append(el("code", null, fix.key + " = " + fix.value + (fix.file ? "  (" + fix.file + ")" : "")));
    if (fix.kind === "action" && !api.canFix) line.append(el("code", null, "card-agent doctor --fix " + fix.id));
    if (fix.kind === "action" && api.canFix) {
      const button = el("button", null, t("doIt"));
      button.type = "button";
      button.addEventListener("click", async () => {
        button.disabled = true;
        const r = await api.post("fix", { id: fix.id });
        line.append(el("span", r.error ? "bad" : "ok", " " + (r.error ? r.error.message : r.message)));
        showChecks();
      });
      line.append(button);
    }
    return line;
  }

  async function showCards() {
    const box = $("cards");
    let inv;
    try { inv = await api.get("status"); } catch (e) { box.textContent = t("agentDown"); return; }
    if (inv.error) { box.textContent = inv.error.message; return; }
    box.textContent = "";
    if (!inv.readers.length && !inv.tokens.some((tk) => tk.demo)) box.append(el("p", "muted", inv.pcscError || t("noReader")));
    for (const r of inv.readers) {
      const p = el("p", null, r.name + " — " + (r.cardPresent ? t("cardIn") + (r.cardFamily ? " (" + r.cardFamily + ")" : "") : t("noCard")));
      box.append(p);
    }
    if (!inv.tokens.length) box.append(el("p", "muted", t("noToken")));
    const select = $("cert");
    const previous = select.value;
    select.textContent = "";
    for (const tk of inv.tokens) {
      const card = el("div", "card");
      const h = el("h3", null, tk.label + " · " + tk.serial);
      if (tk.demo) h.append(el("span", "demo", t("demo")));
      card.append(h);
      card.append(el("p", null, t("pinState") + ": " + pinText(tk)));
      for (const c of tk.certificates.filter((c) => c.hasPrivateKey)) {
        card.append(certBlock(c));
        if (c.keyUsage.includes("digitalSignature") || c.keyUsage.includes("nonRepudiation")) {
          const o = el("option", null, (c.subjectCn || c.subject) + " (" + c.cardFamily + ", " + c.sha256.slice(0, 8) + "…)");
          o.value = c.sha256;
          select.append(o);
        }
      }
      box.append(card);
    }
    if (previous) select.value = previous;
    $("sign").disabled = !select.options.length;
  }

  function pinText(tk) {
    const state = { ok: "pinOk", countLow: "pinLow", finalTry: "pinFinal", locked: "pinLocked" }[tk.pinStatus];
    const comma = lang === "en" ? ", " : "，";
    return t(state) + (tk.pinTriesLeft !== undefined ? comma + t("triesLeft", tk.pinTriesLeft) : "");
  }

  function certBlock(c) {
    const box = el("div", "cert");
    const dl = el("dl");
    const row = (k, v) => { if (v) { dl.append(el("dt", null, t(k))); dl.append(el("dd", null, v)); } };
    row("holder", c.subjectCn || c.subject);
    row("family", c.cardFamily);
    row("idLast4", c.idLast4);
    row("business", c.businessNumber);
    row("issuer", c.issuer);
    row("valid", c.notBefore.slice(0, 10) + " – " + c.notAfter.slice(0, 10) + " (" + (c.daysToExpiry < 0 ? t("expired") : t("daysLeft", c.daysToExpiry)) + ")");
    box.append(dl);
    const from = Date.parse(c.notBefore), to = Date.parse(c.notAfter), now = Date.now();
    const left = Math.max(0, Math.min(1, (to - now) / (to - from)));
    const bar = el("div", "bar" + (c.daysToExpiry < 0 ? " bad" : c.daysToExpiry < 30 ? " warn" : ""));
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", c.daysToExpiry < 0 ? t("expired") : t("daysLeft", c.daysToExpiry));
    const fill = el("span");
    fill.style.width = Math.round(left * 100) + "%";
    bar.append(fill);
    box.append(bar);
    return box;
  }

  async function signAndVerify(ev) {
    ev.preventDefault();
    const result = $("result");
    const pin = $("pin").value;
    $("pin").value = "";
    const certificate = $("cert").value;
    if (!certificate) { result.textContent = t("noSigningCert"); return; }
    $("sign").disabled = true;
    result.textContent = t("signing");
    try {
      const r = await api.sign(pin ? { certificate, pin } : { certificate });
      result.textContent = "";
      if (r.error) {
        result.append(el("p", "bad", t("failed") + ": " + r.error.message + (r.error.retriesLeft !== undefined ? " (" + t("triesLeft", r.error.retriesLeft) + ")" : "")));
        return;
      }
      const inPage = await verifyInPage(r);
      result.append(el("p", inPage ? "ok" : "bad", (inPage ? "✔ " : "✘ ") + t(inPage ? "pageOk" : "pageBad")));
      result.append(el("p", r.agentVerified ? "ok" : "bad", (r.agentVerified ? "✔ " : "✘ ") + t(r.agentVerified ? "agentOk" : "agentBad")));
      if (inPage && r.agentVerified) result.append(el("p", "ok", t("allOk")));
    } catch (e) {
      result.textContent = t("agentDown");
    } finally {
      $("sign").disabled = false;
      showCards();
    }
  }

  // --- independent verification with WebCrypto ---------------------------------------------
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

  function tlv(bytes, at) {
    let len = bytes[at + 1], head = 2;
    if (len & 0x80) { const n = len & 0x7f; len = 0; for (let i = 0; i < n; i++) len = len * 256 + bytes[at + 2 + i]; head = 2 + n; }
    return { tag: bytes[at], start: at, body: at + head, end: at + head + len };
  }
  function children(bytes, node) {
    const out = []; let at = node.body;
    while (at < node.end) { const c = tlv(bytes, at); out.push(c); at = c.end; }
    return out;
  }
  // Certificate ::= SEQUENCE { tbsCertificate, ... }; the SubjectPublicKeyInfo is the 7th field
  // of tbsCertificate when the [0] version is present, else the 6th.
  function spkiOf(der) {
    const tbs = children(der, tlv(der, 0))[0];
    const fields = children(der, tbs);
    const spki = fields[fields[0].tag === 0xa0 ? 6 : 5];
    return { der: der.slice(spki.start, spki.end), isEc: der.slice(spki.start, spki.end).join(",").includes("42,134,72,206,61,2,1") };
  }
  function ecdsaDerToRaw(sig, size) {
    const seq = tlv(sig, 0), [r, s] = children(sig, seq);
    const fix = (n) => { let v = sig.slice(n.body, n.end); while (v.length > size && v[0] === 0) v = v.slice(1); const out = new Uint8Array(size); out.set(v, size - v.length); return out; };
    const raw = new Uint8Array(size * 2); raw.set(fix(r), 0); raw.set(fix(s), size); return raw;
  }
  async function verifyInPage(r) {
    try {
      const cert = b64(r.certificate), spki = spkiOf(cert), data = b64(r.data), sig = b64(r.signature);
      if (spki.isEc) {
        const key = await crypto.subtle.importKey("spki", spki.der, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
        return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, ecdsaDerToRaw(sig, 32), data);
      }
      const key = await crypto.subtle.importKey("spki", spki.der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
      return crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, sig, data);
    } catch (e) {
      return false;
    }
  }

  $("lang").addEventListener("click", () => {
    lang = lang === "en" ? "zh-TW" : "en";
    localStorage.setItem("card-agent-lang", lang);
    applyLanguage();
    refresh();
  });
  $("sign-form").addEventListener("submit", signAndVerify);
  if (inExtension) {
    // No PIN field in the extension: the agent's own dialog asks for it.
    $("pin").closest("form").querySelectorAll("label[for=pin], #pin").forEach((e) => { e.hidden = true; });
    $("pin-help").dataset.t = "pinDialog";
  }
  applyLanguage();
  refresh();
  api.events(() => refresh());
})();
