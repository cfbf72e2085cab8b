// The service worker's handling of `legacy-request`: only on the legacy port, checked,
// timed out after the agent's own limit, with the origin from the browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Router, checkRequest } from "../lib/router.js";
import { DEFAULT_TIMEOUTS, LEGACY_COMMANDS, PAGE_COMMANDS, timeoutFor } from "../lib/protocol.js";
import { FakeClock } from "./fakes.js";

function setup() {
  const clock = new FakeClock();
  const native = { sent: [], post(m) { this.sent.push(m); }, close() {} };
  const router = new Router({ native, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
  const client = (commands, origin = "https://portal.example.gov.tw") => {
    const inbox = [];
    const c = router.addClient({ origin, commands, post: (m) => inbox.push(m) });
    c.inbox = inbox;
    return c;
  };
  return { clock, native, router, client };
}

const legacy = (id, args) => ({ type: "request", id, command: "legacy-request", arguments: args });

test("the legacy port carries legacy-request with the browser's origin, and its answer back", () => {
  const { native, router, client } = setup();
  const tab = client(LEGACY_COMMANDS);
  router.request(tab, legacy("legacy-x-1", { method: "POST", path: "/sign", body: "tbsPackage=%7B%7D" }));
  assert.deepEqual(native.sent, [{
    id: 1, command: "legacy-request", origin: "https://portal.example.gov.tw",
    arguments: { method: "POST", path: "/sign", body: "tbsPackage=%7B%7D" },
  }]);
  const result = { status: 200, contentType: "application/json", body: "e30=" };
  router.handleNativeMessage({ id: 1, result });
  assert.deepEqual(tab.inbox, [{ type: "response", id: "legacy-x-1", result }]);
});

test("legacy-request only on the legacy port, and only legacy-request there", () => {
  const { native, router, client } = setup();
  const page = client(PAGE_COMMANDS);
  router.request(page, legacy(1, { method: "GET", path: "/" }));
  const tab = client(LEGACY_COMMANDS);
  router.request(tab, { type: "request", id: 2, command: "sign", arguments: {} });
  assert.equal(native.sent.length, 0);
  assert.deepEqual([...page.inbox, ...tab.inbox].map((m) => [m.id, m.error.code, m.error.field]), [
    [1, "BAD_REQUEST", "command"],
    [2, "BAD_REQUEST", "command"],
  ]);
});

test("legacy arguments are checked before they reach the host", () => {
  const bad = (args) => checkRequest(legacy(1, args), LEGACY_COMMANDS)?.field;
  assert.equal(bad({ method: "GET", path: "/" }), undefined);
  assert.equal(bad({ method: "POST", path: "/sign", body: "tbsPackage=x" }), undefined);
  assert.equal(bad({ method: "DELETE", path: "/" }), "arguments.method");
  assert.equal(bad({ path: "/" }), "arguments.method");
  assert.equal(bad({ method: "GET", path: "sign" }), "arguments.path");
  assert.equal(bad({ method: "GET", path: "/a\nb" }), "arguments.path");
  assert.equal(bad({ method: "GET", path: `/${"a".repeat(2048)}` }), "arguments.path");
  assert.equal(bad({ method: "POST", path: "/sign", body: 5 }), "arguments.body");
  assert.equal(bad({ method: "GET", path: "/", origin: "https://x" }), "arguments.origin");
  // The form body may hold the PIN the page asked for, as HiPKI pages do: it is the agent's
  // legacy rules (trusted sites only) that decide, as over HTTP.
  assert.equal(bad({ method: "POST", path: "/sign", body: "tbsPackage=%7B%22pin%22%3A%22123456%22%7D" }), undefined);
});

test("legacy-request waits 160 s, past the agent's own 150 s, then TIMEOUT", () => {
  assert.equal(timeoutFor("legacy-request"), 160_000);
  assert.equal(timeoutFor("legacy-request", { interactive: 5, inventory: 1, quick: 1 }), 5);
  const { clock, router, client } = setup();
  const tab = client(LEGACY_COMMANDS);
  router.request(tab, legacy("l1", { method: "POST", path: "/sign", body: "tbsPackage=x" }));
  clock.advance(DEFAULT_TIMEOUTS.legacy - 1);
  assert.equal(tab.inbox.length, 0);
  clock.advance(1);
  assert.equal(tab.inbox[0].error.code, "TIMEOUT");
  assert.equal(tab.inbox[0].id, "l1");
});
