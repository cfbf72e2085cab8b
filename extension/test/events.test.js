// Event fan-out and subscription bookkeeping in the router (fake native side, no browser).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Router } from "../lib/router.js";
import { FakeClock } from "./fakes.js";

function setup() {
  const clock = new FakeClock();
  const native = { sent: [], post(m) { this.sent.push(m); }, close() {} };
  const router = new Router({ native, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
  const client = (origin) => {
    const inbox = [];
    const c = router.addClient({ origin, post: (m) => inbox.push(m) });
    c.inbox = inbox;
    return c;
  };
  // Sends a request and lets the host answer it.
  const call = (c, id, command, answer) => {
    router.request(c, { type: "request", id, command });
    const wire = native.sent.at(-1);
    if (answer) router.handleNativeMessage({ id: wire.id, ...answer });
    return wire;
  };
  return { clock, native, router, client, call };
}

const inserted = { type: "card-inserted", reader: "R 00 00", atr: "3B", cardFamily: "MOICA" };
const events = (c) => c.inbox.filter((m) => m.type === "event").map((m) => m.event);

test("events go to every subscribed tab and to no other", () => {
  const { router, client, call } = setup();
  const a = client("https://a.gov.tw");
  const b = client("https://b.gov.tw");
  const quiet = client("https://c.gov.tw");
  call(a, 1, "subscribe", { result: { subscribed: true } });
  call(b, 1, "subscribe", { result: { subscribed: true } });
  router.handleNativeMessage({ event: inserted });
  assert.deepEqual(events(a), [inserted]);
  assert.deepEqual(events(b), [inserted]);
  assert.deepEqual(events(quiet), []);
  assert.equal(router.subscriberCount, 2);
});

test("every tab's subscribe reaches the host with that tab's origin", () => {
  // The agent decides per site whether it may watch the reader; sharing one host connection
  // must not let a second site ride on the first one's approval.
  const { native, client, call } = setup();
  call(client("https://a.gov.tw"), 1, "subscribe", { result: { subscribed: true } });
  call(client("https://b.gov.tw"), 1, "subscribe");
  assert.deepEqual(native.sent.map((m) => [m.command, m.origin]), [
    ["subscribe", "https://a.gov.tw"],
    ["subscribe", "https://b.gov.tw"],
  ]);
});

test("a refused subscribe adds no subscriber", () => {
  const { router, client, call } = setup();
  const a = client("https://a.gov.tw");
  call(a, 1, "subscribe", { error: { code: "SITE_NOT_TRUSTED", message: "no" } });
  router.handleNativeMessage({ event: inserted });
  assert.deepEqual(events(a), []);
  assert.equal(a.inbox[0].error.code, "SITE_NOT_TRUSTED");
});

test("unsubscribe is answered locally while other tabs still listen", () => {
  const { native, router, client, call } = setup();
  const a = client("https://a.gov.tw");
  const b = client("https://b.gov.tw");
  call(a, 1, "subscribe", { result: { subscribed: true } });
  call(b, 1, "subscribe", { result: { subscribed: true } });
  const before = native.sent.length;
  router.request(a, { type: "request", id: 2, command: "unsubscribe" });
  assert.equal(native.sent.length, before, "the host connection stays subscribed for b");
  assert.deepEqual(a.inbox.at(-1), { type: "response", id: 2, result: { subscribed: false } });
  router.handleNativeMessage({ event: inserted });
  assert.deepEqual(events(a), []);
  assert.deepEqual(events(b), [inserted]);
});

test("the last subscriber's unsubscribe goes to the host", () => {
  const { native, router, client, call } = setup();
  const a = client("https://a.gov.tw");
  call(a, 1, "subscribe", { result: { subscribed: true } });
  const wire = call(a, 2, "unsubscribe", { result: { subscribed: false } });
  assert.equal(wire.command, "unsubscribe");
  assert.equal(router.subscriberCount, 0);
  assert.deepEqual(a.inbox.at(-1), { type: "response", id: 2, result: { subscribed: false } });
  assert.equal(native.sent.length, 2);
});

test("unsubscribe without a subscription does not bother the host", () => {
  const { native, client, call } = setup();
  const a = client("https://a.gov.tw");
  call(a, 1, "unsubscribe");
  assert.equal(native.sent.length, 0);
  assert.deepEqual(a.inbox, [{ type: "response", id: 1, result: { subscribed: false } }]);
});

test("closing the last subscribed tab unsubscribes the host; closing another does not", () => {
  const { native, router, client, call } = setup();
  const a = client("https://a.gov.tw");
  const b = client("https://b.gov.tw");
  call(a, 1, "subscribe", { result: { subscribed: true } });
  call(b, 1, "subscribe", { result: { subscribed: true } });
  router.removeClient(a);
  assert.equal(native.sent.at(-1).command, "subscribe");
  router.removeClient(b);
  const last = native.sent.at(-1);
  assert.equal(last.command, "unsubscribe");
  assert.equal(last.origin, "https://b.gov.tw");
  // Its answer belongs to nobody and is dropped quietly.
  router.handleNativeMessage({ id: last.id, result: { subscribed: false } });
  assert.equal(router.pendingCount, 0);
});

test("a tab that closes while its subscribe is in flight leaves the host unsubscribed", () => {
  const { native, router, client } = setup();
  const a = client("https://a.gov.tw");
  router.request(a, { type: "request", id: 1, command: "subscribe" });
  const wire = native.sent.at(-1);
  router.removeClient(a);
  router.handleNativeMessage({ id: wire.id, result: { subscribed: true } });
  assert.equal(router.subscriberCount, 0);
  assert.equal(native.sent.at(-1).command, "unsubscribe");
  assert.deepEqual(a.inbox, []);
});

test("events with no subscriber and malformed host messages are ignored", () => {
  const { router } = setup();
  assert.doesNotThrow(() => {
    router.handleNativeMessage({ event: inserted });
    router.handleNativeMessage("junk");
    router.handleNativeMessage(null);
    router.handleNativeMessage({ id: 999, result: {} });
    router.handleNativeMessage({ id: null, error: { code: "BAD_REQUEST", message: "?" } });
  });
});
