// The legacy path without a browser: the shim in the page's world and the real content script
// in its own (both in vms, on one fake window), the real service worker (background.js with a
// fake `chrome`) and a scripted native host. The browser end to end is tests/legacy-browser/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { fakeChrome, flush, linkedPorts } from "./fakes.js";
import { loadShim } from "./legacy-fakes.js";

const EXT = "hccjmiblnokapoamfkgnbbighmnfpoig";
const { chrome } = fakeChrome(EXT);
globalThis.chrome = chrome;
await import("../background.js");

const hostLog = [];
chrome.onNativePort = (port) => {
  const postMessage = port.postMessage.bind(port);
  port.postMessage = (message) => {
    postMessage(message);
    hostLog.push(message);
    // The agent's answer: the legacy API's response, its body in base64.
    const { method, path, body } = message.arguments;
    const text = JSON.stringify({ func: "echo", ret_code: 0, method, path, body: body ?? null, origin: message.origin });
    setTimeout(() => port.receive({
      id: message.id,
      result: { status: 200, contentType: "application/json; charset=utf-8", body: Buffer.from(text).toString("base64") },
    }), 0);
  };
};

/** A tab at `href`: the shim in the page's world, content.js in the isolated world. */
function openTab(href, tabId) {
  const tab = loadShim({ href });
  const origin = new URL(href).origin;
  const runtime = {
    getManifest: () => ({ version: "0.1.0" }),
    connect: ({ name }) => {
      const { near, far } = linkedPorts(name, { id: EXT, tab: { id: tabId }, frameId: 0, origin, url: href });
      setTimeout(() => chrome.runtime.onConnect.fire(far), 0);
      return near;
    },
  };
  vm.runInNewContext(readFileSync(new URL("../content.js", import.meta.url), "utf8"),
    { window: tab.win, chrome: { runtime }, TextEncoder });
  return tab;
}

test("an XHR to localhost:61161 reaches the host as legacy-request with the browser's origin", async () => {
  const { page, xhrSent } = openTab("https://portal.example.gov.tw/sign.html", 1);
  const xhr = new page.XMLHttpRequest();
  const done = new Promise((resolve) => { xhr.onload = resolve; });
  xhr.open("POST", "http://localhost:61161/sign");
  xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
  xhr.send("tbsPackage=%7B%22func%22%3A%22MakeSignature%22%7D");
  await done;
  assert.equal(xhrSent.length, 0);
  const echoed = JSON.parse(xhr.responseText);
  assert.deepEqual(echoed, {
    func: "echo", ret_code: 0, method: "POST", path: "/sign",
    body: "tbsPackage=%7B%22func%22%3A%22MakeSignature%22%7D", origin: "https://portal.example.gov.tw",
  });
  const sent = hostLog.at(-1);
  assert.equal(sent.command, "legacy-request");
  assert.equal(typeof sent.id, "number", "the worker's own id");
});

test("fetch and image probes go the same way; tabs keep their answers apart", async () => {
  const a = openTab("https://a.example.gov.tw/", 2);
  const b = openTab("https://b.example.gov.tw/", 3);
  const [ra, rb] = await Promise.all([
    a.page.fetch("http://127.0.0.1:61161/pkcs11info?withcert=true").then((r) => r.json()),
    b.page.fetch("http://[::1]:61161/pkcs11info").then((r) => r.json()),
  ]);
  assert.equal(ra.origin, "https://a.example.gov.tw");
  assert.equal(ra.path, "/pkcs11info?withcert=true");
  assert.equal(rb.origin, "https://b.example.gov.tw");
  assert.equal(rb.path, "/pkcs11info");
  const img = new a.page.Image();
  img.src = "http://localhost:61161/p11Image.bmp";
  await flush(20);
  assert.equal(hostLog.at(-1).arguments.path, "/p11Image.bmp");
  assert.match(a.loads.at(-1).src, /^data:application\/json;base64,/);
});

test("a plain-http page on a public host is refused by the worker: a network error", async () => {
  const count = hostLog.length;
  const { page } = openTab("http://portal.example.gov.tw/", 4);
  const error = await page.fetch("http://localhost:61161/pkcs11info").catch((e) => e);
  assert.equal(error.name, "TypeError");
  assert.equal(hostLog.length, count, "nothing reached the host");
});
