import { test } from "node:test";
import assert from "node:assert/strict";
import { buildView, expiry, errorText, familyName, WARN_DAYS } from "../lib/popup-model.js";

const en = JSON.parse(
  (await import("node:fs")).readFileSync(new URL("../_locales/en/messages.json", import.meta.url), "utf8"),
);
const zh = JSON.parse(
  (await import("node:fs")).readFileSync(new URL("../_locales/zh_TW/messages.json", import.meta.url), "utf8"),
);
// chrome.i18n.getMessage: the message with $1, $2 replaced; "" for an unknown key.
const i18n = (catalog) => (key, ...subs) =>
  (catalog[key]?.message ?? "").replace(/\$(\d)/g, (_, n) => subs[Number(n) - 1] ?? "");
const t = i18n(en);

const cert = (over) => ({
  subjectCn: "王小明", subject: "C=TW, CN=王小明", cardFamily: "MOICA",
  notAfter: "2029-01-01T00:00:00Z", daysToExpiry: 1200, ...over,
});

test("the locales hold the same keys", () => {
  assert.deepEqual(Object.keys(zh).sort(), Object.keys(en).sort());
});

test("expiry warns under 30 days and says when a certificate has expired", () => {
  assert.equal(WARN_DAYS, 30);
  assert.deepEqual(expiry(30, t), { text: "30 days left", level: "ok" });
  assert.equal(expiry(29, t).level, "warn");
  assert.match(expiry(29, t).text, /29 days left/);
  assert.equal(expiry(0, t).level, "warn");
  assert.deepEqual(expiry(-1, t), { text: "Expired", level: "expired" });
  assert.equal(i18n(zh)("daysLeft", "5"), "尚餘 5 天");
});

test("an unreachable agent is said plainly", () => {
  const view = buildView({ version: { error: { code: "INTERNAL", message: "x", agent: "unreachable" } } }, t);
  assert.equal(view.agent.level, "error");
  assert.match(view.agent.text, /not installed or not running/);
  assert.equal(view.readers, null);
});

test("errors are shown in the user's language by code", () => {
  assert.equal(errorText({ code: "NO_READER", message: "x" }, i18n(zh)), "找不到讀卡機，請接上讀卡機。");
  assert.equal(errorText({ code: "SOMETHING_NEW", message: "agent text" }, t), "agent text");
  const view = buildView({ version: { result: { version: "0.1.0", protocol: 1 } },
    status: { error: { code: "SITE_NOT_TRUSTED", message: "m" } } }, t);
  assert.match(view.agent.text, /trusted sites/);
});

test("readers, card families and the soonest expiry per card", () => {
  const view = buildView({
    version: { result: { version: "0.1.0", protocol: 1, name: "card-agent" } },
    status: { result: {
      readers: [
        { name: "CASTLES EZ100PU 00 00", cardPresent: true, cardFamily: "MOICA" },
        { name: "Other 00 01", cardPresent: false },
      ],
      tokens: [
        { label: "HiCOS PKI Smart Card", serial: "TP42", certificates: [
          cert({ daysToExpiry: 800 }),
          cert({ daysToExpiry: 12, notAfter: "2025-01-12T00:00:00Z" }),
        ] },
        { label: "DEMO", serial: "D1", demo: true, certificates: [cert({ cardFamily: "MOEACA", subjectCn: "示範公司" })] },
        { label: "empty", serial: "E", certificates: [] },
      ],
    } },
  }, t);
  assert.deepEqual(view.agent, { level: "ok", text: "Connected: card-agent 0.1.0 (protocol 1)" });
  assert.deepEqual(view.readers, [
    { name: "CASTLES EZ100PU 00 00", text: "Card inserted (Citizen Digital Certificate (MOICA))" },
    { name: "Other 00 01", text: "No card" },
  ]);
  assert.equal(view.cards.length, 2, "a token without certificates is not a card to show");
  assert.equal(view.cards[0].holder, "王小明");
  assert.equal(view.cards[0].expires, "2025-01-12");
  assert.equal(view.cards[0].expiry.level, "warn");
  assert.equal(view.cards[1].demo, true);
  assert.equal(view.cards[1].family, "Business certificate (MOEACA)");
});

test("an unknown family is named as such", () => {
  assert.equal(familyName("SOMETHING", i18n(zh)), "無法識別的卡片");
  assert.equal(familyName(undefined, t), "Unrecognised card");
});
