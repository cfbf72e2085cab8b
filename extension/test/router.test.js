// The service worker's routing, with a fake native connection and a fake clock (no browser
// runs in unit tests).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Router, checkRequest } from "../lib/router.js";
import { DEFAULT_TIMEOUTS, MAX_FRAME } from "../lib/protocol.js";
import { FakeClock } from "./fakes.js";

function setup({ failPost = false } = {}) {
  const clock = new FakeClock();
  const native = {
    sent: [],
    closed: 0,
    post(message) {
      if (failPost) throw new Error("Specified native messaging host not found.");
      this.sent.push(message);
    },
    close() {
      this.closed += 1;
    },
  };
  const router = new Router({ native, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
  const client = (origin = "https://a.gov.tw", originError = null) => {
    const inbox = [];
    const c = router.addClient({ origin, originError, post: (m) => inbox.push(m) });
    c.inbox = inbox;
    return c;
  };
  return { clock, native, router, client };
}

const req = (id, command, args) => ({ type: "request", id, command, arguments: args });

test("the router assigns its own ids and maps answers back to the page's id", () => {
  const { native, router, client } = setup();
  const a = client();
  router.request(a, req("page-1", "version"));
  assert.equal(native.sent.length, 1);
  const wire = native.sent[0];
  assert.deepEqual(wire, { id: 1, command: "version", origin: "https://a.gov.tw", arguments: {} });
  router.handleNativeMessage({ id: 1, result: { version: "0.1.0", protocol: 1 } });
  assert.deepEqual(a.inbox, [
    { type: "response", id: "page-1", result: { version: "0.1.0", protocol: 1 } },
  ]);
  assert.equal(router.pendingCount, 0);
});

test("two tabs using the same page id get their own answers", () => {
  const { native, router, client } = setup();
  const a = client("https://a.gov.tw");
  const b = client("https://b.gov.tw");
  router.request(a, req(1, "status"));
  router.request(b, req(1, "status"));
  const [wa, wb] = native.sent;
  assert.notEqual(wa.id, wb.id);
  assert.equal(wa.origin, "https://a.gov.tw");
  assert.equal(wb.origin, "https://b.gov.tw");
  // Answers arrive in the other order.
  router.handleNativeMessage({ id: wb.id, result: { who: "b" } });
  router.handleNativeMessage({ id: wa.id, error: { code: "NO_READER", message: "none" } });
  assert.deepEqual(a.inbox, [{ type: "response", id: 1, error: { code: "NO_READER", message: "none" } }]);
  assert.deepEqual(b.inbox, [{ type: "response", id: 1, result: { who: "b" } }]);
});

test("the origin comes from the client, never from the message", () => {
  const { native, router, client } = setup();
  const a = client("https://a.gov.tw");
  router.request(a, { ...req(1, "authenticate", { challengeNonce: "x" }), origin: "https://bank.example" });
  assert.equal(native.sent[0].origin, "https://a.gov.tw");
  assert.deepEqual(Object.keys(native.sent[0]).sort(), ["arguments", "command", "id", "origin"]);
});

test("a client with an origin error is answered without reaching the host", () => {
  const { native, router, client } = setup();
  const a = client("http://a.gov.tw", { code: "SITE_NOT_TRUSTED", message: "insecure" });
  router.request(a, req(5, "get-certificates"));
  assert.equal(native.sent.length, 0);
  assert.equal(a.inbox[0].error.code, "SITE_NOT_TRUSTED");
  assert.equal(a.inbox[0].id, 5);
});

test("malformed requests are BAD_REQUEST naming the field", () => {
  assert.equal(checkRequest(null).field, "type");
  assert.equal(checkRequest({ type: "request", id: {}, command: "version" }).field, "id");
  assert.equal(checkRequest({ type: "request", id: "x".repeat(129), command: "version" }).field, "id");
  assert.equal(checkRequest({ type: "request", id: 1.5, command: "version" }).field, "id");
  assert.equal(checkRequest({ type: "request", id: 1, command: "format-disk" }).field, "command");
  assert.equal(checkRequest({ type: "request", id: 1, command: "sign", arguments: [] }).field, "arguments");
  assert.equal(checkRequest({ type: "request", id: 1, command: "version" }), null);
  assert.equal(checkRequest({ type: "request", id: "x".repeat(128), command: "version", arguments: null }), null);
});

test("a page may never send a PIN", () => {
  const { native, router, client } = setup();
  const a = client();
  router.request(a, req(2, "verify-pin", { token: "0001", pin: "123456" }));
  assert.equal(native.sent.length, 0);
  assert.equal(a.inbox[0].error.code, "BAD_REQUEST");
  assert.equal(a.inbox[0].error.field, "arguments.pin");
  assert.ok(!JSON.stringify(a.inbox).includes("123456"), "the PIN is not echoed");
});

test("an unreadable id is answered with id null", () => {
  const { router, client } = setup();
  const a = client();
  router.request(a, { type: "request", id: { x: 1 }, command: "version" });
  assert.equal(a.inbox[0].id, null);
  assert.equal(a.inbox[0].error.code, "BAD_REQUEST");
});

test("requests over the 1 MiB frame limit are refused before sending", () => {
  const { native, router, client } = setup();
  const a = client();
  // Multi-byte characters: the limit is in UTF-8 bytes, not in string length.
  const big = "字".repeat(Math.ceil(MAX_FRAME / 3) + 1);
  router.request(a, req(3, "sign", { data: big }));
  assert.equal(native.sent.length, 0);
  assert.equal(a.inbox[0].error.code, "BAD_REQUEST");
  assert.match(a.inbox[0].error.message, /1 MiB/);
  // Just under the limit goes through.
  router.request(a, req(4, "sign", { data: "A".repeat(MAX_FRAME - 200) }));
  assert.equal(native.sent.length, 1);
});

test("each request times out with TIMEOUT: 280 s when a PIN may be asked, shorter otherwise", () => {
  const { clock, native, router, client } = setup();
  const a = client();
  router.request(a, req("v", "version"));
  router.request(a, req("c", "get-certificates"));
  router.request(a, req("s", "sign", { certificate: "00" }));
  clock.advance(DEFAULT_TIMEOUTS.quick);
  assert.deepEqual(a.inbox.map((m) => [m.id, m.error?.code]), [["v", "TIMEOUT"]]);
  assert.match(a.inbox[0].error.message, /"version" within 15 s/);
  clock.advance(DEFAULT_TIMEOUTS.inventory - DEFAULT_TIMEOUTS.quick);
  assert.deepEqual(a.inbox.map((m) => m.id), ["v", "c"]);
  clock.advance(DEFAULT_TIMEOUTS.interactive - DEFAULT_TIMEOUTS.inventory - 1);
  assert.equal(a.inbox.length, 2, "sign still waits: a PIN dialog may be open");
  clock.advance(1);
  assert.deepEqual(a.inbox.map((m) => m.id), ["v", "c", "s"]);
  assert.match(a.inbox[2].error.message, /within 280 s/);
  // Only the sign may hold a dialog open: the host is told to cancel it, and that alone.
  assert.deepEqual(native.sent.slice(3), [
    { id: 4, command: "cancel", origin: "https://a.gov.tw", arguments: { id: 3 } },
  ]);
  assert.equal(router.pendingCount, 1, "our own cancel waits for its answer");
});

test("an answer after the timeout is dropped, not delivered twice", () => {
  const { clock, native, router, client } = setup();
  const a = client();
  router.request(a, req(1, "version"));
  clock.advance(DEFAULT_TIMEOUTS.quick);
  router.handleNativeMessage({ id: native.sent[0].id, result: {} });
  assert.equal(a.inbox.length, 1);
  assert.equal(a.inbox[0].error.code, "TIMEOUT");
});

test("a host that cannot be started is INTERNAL with agent unreachable", () => {
  const { router, client } = setup({ failPost: true });
  const a = client();
  router.request(a, req(1, "version"));
  assert.equal(a.inbox[0].error.code, "INTERNAL");
  assert.equal(a.inbox[0].error.agent, "unreachable");
  assert.match(a.inbox[0].error.message, /tw\.card_agent.*not installed or not running/);
  assert.match(a.inbox[0].error.message, /host not found/);
});

test("a host disconnect fails every request in flight and ends subscriptions", () => {
  const { clock, native, router, client } = setup();
  const a = client();
  const b = client("https://b.gov.tw");
  router.request(a, req(1, "subscribe"));
  router.handleNativeMessage({ id: native.sent[0].id, result: { subscribed: true } });
  router.request(a, req(2, "sign", {}));
  router.request(b, req(3, "status"));
  router.handleNativeDisconnect("Native host has exited.");
  const last = (c) => c.inbox.filter((m) => m.type === "response").at(-1);
  assert.equal(last(a).id, 2);
  assert.equal(last(a).error.agent, "unreachable");
  assert.match(last(a).error.message, /Native host has exited/);
  assert.equal(last(b).id, 3);
  assert.deepEqual(a.inbox.at(-1).type, "subscription-ended");
  assert.equal(router.pendingCount, 0);
  assert.equal(router.subscriberCount, 0);
  assert.equal(clock.pending, 0, "no timer left behind");
});

test("a closed tab's requests are forgotten, its dialogs cancelled and its late answers dropped", () => {
  const { clock, native, router, client } = setup();
  const a = client();
  router.request(a, req(1, "sign", {}));
  router.request(a, req(2, "status"));
  router.removeClient(a);
  // The sign may hold a PIN dialog open: the host is told to cancel it. The status is not.
  assert.deepEqual(native.sent.slice(2), [
    { id: 3, command: "cancel", origin: "https://a.gov.tw", arguments: { id: native.sent[0].id } },
  ]);
  assert.equal(router.pendingCount, 1, "only our own cancel waits");
  router.handleNativeMessage({ id: native.sent[0].id, error: { code: "USER_CANCELLED", message: "m" } });
  router.handleNativeMessage({ id: 3, result: { cancelled: true } });
  assert.equal(a.inbox.length, 0);
  router.request(a, req(2, "version"));
  assert.equal(native.sent.length, 3, "a closed client sends nothing");
  // Only the idle-close timer remains.
  assert.equal(router.pendingCount, 0);
  assert.equal(clock.pending, 1);
});

test("a page's cancel reaches the host for its own waiting sign only", () => {
  const { native, router, client } = setup();
  const a = client();
  const b = client("https://b.gov.tw");
  router.request(a, req("p1", "sign", {}));
  router.request(a, req("p2", "version"));
  router.request(b, req("p1", "authenticate", {}));
  router.request(a, { type: "cancel", id: "p1" });
  assert.deepEqual(native.sent[3], {
    id: 4, command: "cancel", origin: "https://a.gov.tw", arguments: { id: native.sent[0].id },
  });
  // Nothing to cancel: a quick command, an unknown id, another tab's request, a junk id.
  router.request(a, { type: "cancel", id: "p2" });
  router.request(a, { type: "cancel", id: "nope" });
  router.request(a, { type: "cancel", id: { x: 1 } });
  assert.equal(native.sent.length, 4);
  // The host's answer to the cancelled sign still reaches the page (which ignores it); the
  // answer to the cancel itself is the router's.
  router.handleNativeMessage({ id: 4, result: { cancelled: true } });
  router.handleNativeMessage({ id: native.sent[0].id, error: { code: "USER_CANCELLED", message: "m" } });
  assert.deepEqual(a.inbox.map((m) => [m.id, m.error?.code]), [["p1", "USER_CANCELLED"]]);
  assert.equal(b.inbox.length, 0);
});

test("a client whose port throws does not break the router", () => {
  const { native, router } = setup();
  const broken = router.addClient({ origin: "https://a.gov.tw", post: () => { throw new Error("gone"); } });
  router.request(broken, req(1, "version"));
  assert.doesNotThrow(() => router.handleNativeMessage({ id: native.sent[0].id, result: {} }));
});

test("the native port is closed after it has been idle, and not while anything waits", () => {
  const { clock, native, router, client } = setup();
  const a = client();
  router.request(a, req(1, "sign", {}));
  clock.advance(60_000);
  assert.equal(native.closed, 0);
  router.handleNativeMessage({ id: native.sent[0].id, result: {} });
  clock.advance(4 * 60_000);
  router.request(a, req(2, "version")); // activity restarts the idle period
  router.handleNativeMessage({ id: native.sent[1].id, result: {} });
  clock.advance(4 * 60_000);
  assert.equal(native.closed, 0);
  clock.advance(60_000);
  assert.equal(native.closed, 1);
});

test("popup clients are limited to read-only commands", () => {
  const { native, router } = setup();
  const inbox = [];
  const popup = router.addClient({
    origin: "chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig",
    commands: ["version", "status"],
    post: (m) => inbox.push(m),
  });
  router.request(popup, req(1, "sign", {}));
  assert.equal(inbox[0].error.code, "BAD_REQUEST");
  router.request(popup, req(2, "status"));
  assert.equal(native.sent[0].origin, "chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig");
});

test("the default timers work where setTimeout insists on being called unbound", () => {
  // Browsers throw "Illegal invocation" for window.setTimeout called as a method of another
  // object; Node does not, so this test makes the global strict for its duration.
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const strict = (real) => function (...args) {
    if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
    return real(...args);
  };
  globalThis.setTimeout = strict(realSet);
  globalThis.clearTimeout = strict(realClear);
  try {
    const native = { sent: [], post(m) { this.sent.push(m); }, close() {} };
    const router = new Router({ native, idleCloseMs: 1 });
    const inbox = [];
    const client = router.addClient({ origin: "https://a.gov.tw", post: (m) => inbox.push(m) });
    router.request(client, req(1, "version"));
    assert.equal(router.pendingCount, 1);
    router.handleNativeMessage({ id: native.sent[0].id, result: { ok: true } });
    assert.deepEqual(inbox, [{ type: "response", id: 1, result: { ok: true } }]);
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  }
});
