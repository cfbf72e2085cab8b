// The toolbar popup: is the agent there, which readers and cards, whose certificate and
// when it expires. It asks the service worker (read-only commands only) and renders the
// view computed by lib/popup-model.js.

import { buildView } from "./lib/popup-model.js";

const api = globalThis.chrome ?? globalThis.browser;
const t = (key, ...subs) => api.i18n.getMessage(key, subs);

// Always an answer: `{result}` or `{error}`, also when the worker did not reply at all.
async function ask(command) {
  try {
    const answer = await api.runtime.sendMessage({ type: "popup-request", command });
    if (answer && typeof answer === "object") return answer;
    return { error: { code: "INTERNAL", message: "The extension's service worker did not answer." } };
  } catch (error) {
    return { error: { code: "INTERNAL", message: String(error?.message ?? error) } };
  }
}

function element(tag, { text, className } = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text; // never innerHTML: names come from cards
  if (className) node.className = className;
  return node;
}

function renderReaders(readers) {
  const list = document.getElementById("readers");
  list.replaceChildren();
  if (readers.length === 0) list.append(element("li", { text: t("readersNone") }));
  for (const reader of readers) {
    const item = element("li");
    item.append(element("div", { text: reader.name, className: "name" }),
      element("div", { text: reader.text, className: "detail" }));
    list.append(item);
  }
  document.getElementById("readers-section").hidden = false;
}

function renderCards(cards) {
  const list = document.getElementById("cards");
  list.replaceChildren();
  if (cards.length === 0) list.append(element("li", { text: t("cardsNone") }));
  for (const card of cards) {
    const item = element("li");
    const title = element("div", { text: card.family, className: "name" });
    if (card.demo) {
      const badge = element("span", { text: t("demoBadge"), className: "badge" });
      badge.title = t("demoNote");
      title.append(badge);
    }
    item.append(
      title,
      element("div", { text: t("cardHolder", card.holder) }),
      element("div", { text: t("cardExpires", card.expires), className: "detail" }),
    );
    if (card.expiry.text) {
      item.append(element("div", { text: card.expiry.text, className: `expiry-${card.expiry.level}` }));
    }
    list.append(item);
  }
  document.getElementById("cards-section").hidden = false;
}

async function refresh() {
  const agent = document.getElementById("agent");
  agent.textContent = t("agentChecking");
  agent.className = "";
  const version = await ask("version");
  const status = "error" in version ? undefined : await ask("status");
  const view = buildView({ version, status }, t);
  agent.textContent = view.agent.text;
  agent.className = `level-${view.agent.level}`;
  document.getElementById("readers-section").hidden = true;
  document.getElementById("cards-section").hidden = true;
  if (view.readers) renderReaders(view.readers);
  if (view.cards) renderCards(view.cards);
}

// The self-test page ships later; link to it only once the extension contains it.
async function showSelftestIfPresent() {
  try {
    const response = await fetch(api.runtime.getURL("selftest/selftest.html"), { method: "HEAD" });
    document.getElementById("selftest").hidden = !response.ok;
  } catch {
    // Not in the package: keep the link hidden.
  }
}

function localise() {
  document.documentElement.lang = t("langTag") || "zh-Hant-TW";
  for (const node of document.querySelectorAll("[data-i18n]")) {
    const text = t(node.dataset.i18n);
    if (text) node.textContent = text;
  }
}

localise();
document.getElementById("refresh").addEventListener("click", () => refresh());
showSelftestIfPresent();
refresh();
