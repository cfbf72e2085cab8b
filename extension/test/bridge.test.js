// The whole JavaScript path without a browser: the page library, the real content script
// (in a vm), the real service worker module (background.js, imported with a fake `chrome`)
// and a scripted native host on a fake port. Browser end-to-end tests come separately.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { createCardAgent } from "../../packages/card-agent-page/card-agent.js";
import { FakeWindow, fakeChrome, flush, linkedPorts } from "./fakes.js";

const EXT = "hccjmiblnokapoamfkgnbbighmnfpoig";
const { chrome, natives } = fakeChrome(EXT);
globalThis.chrome = chrome;
await import("../background.js");

// The scripted host: answers as the agent would, and records what it was sent.
const hostLog = [];
let hostMode = "normal";
chrome.onNativePort = (port) => {
  const postMessage = port.postMessage.bind(port);
  port.postMessage = (message) => {
    if (hostMode === "missing") {
      // Chrome opens the port, then disconnects it with lastError set.
      setTimeout(() => {
        chrome.runtime.lastError = { message: "Specified native messaging host not found." };
        port.drop();
        chrome.runtime.lastError = undefined;
      }, 0);
      return;
    }
    postMessage(message);
    hostLog.push(message);
    const answer = (body) => setTimeout(() => port.receive({ id: message.id, ...body }), 0);
    switch (message.command) {
      case "version": return answer({ result: { version: "0.1.0", protocol: 1, name: "card-agent" } });
      case "authenticate":
        return answer({ result: { format: "card-agent-auth:1", signature: "c2ln", origin: message.origin } });
      // A sign waits (a PIN dialog) until the page cancels it; then the agent answers both.
      case "sign": return undefined;
      case "cancel":
        setTimeout(() => port.receive({ id: message.arguments.id, error: { code: "USER_CANCELLED", message: "closed" } }), 0);
        return answer({ result: { cancelled: true } });
      case "subscribe":
      case "unsubscribe":
        return answer({ result: { subscribed: message.command === "subscribe" } });
      default: return answer({ error: { code: "NO_READER", message: "No reader." } });
    }
  };
};

/** Opens a tab at `origin`: a window with the content script and a page library. */
function openTab(origin, tabId) {
  const win = new FakeWindow(origin);
  const runtime = {
    getManifest: () => ({ version: "0.1.0" }),
    connect: ({ name }) => {
      const { near, far } = linkedPorts(name, { id: EXT, tab: { id: tabId }, frameId: 0, origin, url: `${origin}/login` });
      setTimeout(() => chrome.runtime.onConnect.fire(far), 0);
      return near;
    },
  };
  vm.runInNewContext(readFileSync(new URL("../content.js", import.meta.url), "utf8"),
    { window: win, chrome: { runtime }, TextEncoder });
  return { win, agent: createCardAgent({ window: win, presenceTimeout: 200 }) };
}

test("authenticate goes page -> content -> worker -> host with the browser's origin", async () => {
  const { agent } = openTab("https://a.gov.tw", 1);
  assert.equal(await agent.isAvailable(), true);
  const nonce = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM";
  const token = await agent.authenticate({ challengeNonce: nonce });
  assert.equal(token.format, "card-agent-auth:1");
  assert.equal(token.origin, "https://a.gov.tw");
  const sent = hostLog.at(-1);
  assert.equal(sent.command, "authenticate");
  assert.equal(sent.origin, "https://a.gov.tw");
  assert.deepEqual(sent.arguments, { challengeNonce: nonce });
  assert.equal(typeof sent.id, "number", "the worker's own id, not the page's");
  assert.equal(natives.at(-1).name, "tw.card_agent");
});

test("two tabs share one native port and each gets its own answers", async () => {
  const before = natives.length;
  const a = openTab("https://a.gov.tw", 2);
  const b = openTab("https://b.gov.tw", 3);
  const [va, vb, sa] = await Promise.all([
    a.agent.version(), b.agent.version(), a.agent.status().catch((e) => e),
  ]);
  assert.equal(va.protocol, 1);
  assert.equal(vb.protocol, 1);
  assert.equal(sa.code, "NO_READER");
  assert.ok(natives.length - before <= 1, "at most one port opened for both tabs");
});

test("an http page that is not loopback is refused by the worker", async () => {
  const count = hostLog.length;
  const { agent } = openTab("http://a.gov.tw", 4);
  const error = await agent.version().catch((e) => e);
  assert.equal(error.code, "SITE_NOT_TRUSTED");
  assert.equal(error.details.reason, "insecure-context");
  assert.equal(hostLog.length, count, "nothing reached the host");
});

test("http://localhost is allowed for development", async () => {
  const { agent } = openTab("http://localhost:8080", 5);
  assert.equal((await agent.version()).name, "card-agent");
  assert.equal(hostLog.at(-1).origin, "http://localhost:8080");
});

test("card events reach the subscribed page", async () => {
  const { agent } = openTab("https://a.gov.tw", 6);
  const seen = [];
  agent.onCardEvent((e) => seen.push(e));
  await flush(20);
  assert.equal(hostLog.at(-1).command, "subscribe");
  natives.at(-1).receive({ event: { type: "card-removed", reader: "R 00 00" } });
  await flush(6);
  assert.deepEqual(seen, [{ type: "card-removed", reader: "R 00 00" }]);
});

test("a missing native host is INTERNAL with details.agent unreachable, and is retried later", async () => {
  hostMode = "missing";
  const { agent } = openTab("https://a.gov.tw", 7);
  const error = await agent.version().catch((e) => e);
  assert.equal(error.code, "INTERNAL");
  assert.equal(error.details.agent, "unreachable");
  assert.match(error.message, /not installed or not running \(Specified native messaging host not found\.\)/);
  hostMode = "normal";
  const opened = natives.length;
  assert.equal((await agent.version()).protocol, 1);
  assert.equal(natives.length, opened + 1, "the next request opened a new port");
});

test("the popup asks read-only questions with the extension's own origin", async () => {
  const answer = await new Promise((resolve) => {
    const handled = chrome.runtime.onMessage.listeners.map((fn) =>
      fn({ type: "popup-request", command: "version" },
        { id: EXT, url: `chrome-extension://${EXT}/popup.html` }, resolve));
    assert.ok(handled.includes(true), "the worker answers asynchronously");
  });
  assert.equal(answer.result.name, "card-agent");
  assert.equal(hostLog.at(-1).origin, `chrome-extension://${EXT}`);
  // A content script (a tab sender) cannot use the popup's channel.
  const fromTab = chrome.runtime.onMessage.listeners.map((fn) =>
    fn({ type: "popup-request", command: "version" },
      { id: EXT, tab: { id: 1 }, url: "https://a.gov.tw/" }, () => assert.fail("answered a tab")));
  assert.ok(!fromTab.includes(true));
});

test("an aborted sign is cancelled page -> content -> worker -> host by the worker's own id", async () => {
  const { agent } = openTab("https://c.gov.tw", 7);
  const controller = new AbortController();
  const signing = agent.sign({
    certificate: "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
    data: "form", format: "cms", signal: controller.signal,
  });
  await flush(10);
  const sent = hostLog.at(-1);
  assert.equal(sent.command, "sign");
  controller.abort();
  assert.equal((await signing.catch((e) => e)).name, "AbortError");
  await flush(10);
  const cancel = hostLog.at(-1);
  assert.deepEqual(cancel.arguments, { id: sent.id });
  assert.equal(cancel.command, "cancel");
  assert.equal(cancel.origin, "https://c.gov.tw");
});
