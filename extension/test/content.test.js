// The content script, run in a vm with a fake window and a fake runtime (no browser runs in
// unit tests). It is a classic script, so the test loads its source as the browser would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { FakePort, FakeWindow, flush } from "./fakes.js";

const source = readFileSync(new URL("../content.js", import.meta.url), "utf8");

function load({ origin = "https://a.gov.tw", connect } = {}) {
  const win = new FakeWindow(origin);
  const ports = [];
  const runtime = {
    getManifest: () => ({ version: "0.1.0" }),
    connect: connect ?? (({ name }) => {
      const port = new FakePort(name);
      ports.push(port);
      return port;
    }),
  };
  vm.runInNewContext(source, { window: win, chrome: { runtime }, TextEncoder });
  return { win, ports };
}

const request = (id, command, args, extra = {}) =>
  ({ "card-agent": "request", id, command, arguments: args, ...extra });

test("announces itself at start and answers a ping within the same turn of the loop", async () => {
  const { win } = load();
  assert.deepEqual(win.marked("present"), [{ "card-agent": "present", version: "0.1.0" }]);
  win.postMessage({ "card-agent": "ping" });
  await flush();
  assert.deepEqual(win.marked("pong"), [{ "card-agent": "pong", version: "0.1.0" }]);
  // What the content script posts is addressed to the page's origin, not "*".
  const ours = win.posted.filter((p) => ["present", "pong"].includes(p.data["card-agent"]));
  assert.deepEqual(ours.map((p) => p.targetOrigin), ["https://a.gov.tw", "https://a.gov.tw"]);
});

test("forwards a request to the service worker without any origin", async () => {
  const { win, ports } = load();
  win.postMessage(request("p1", "get-certificates", {}));
  await flush();
  assert.equal(ports.length, 1);
  assert.equal(ports[0].name, "card-agent-page");
  assert.deepEqual(ports[0].sent, [{ type: "request", id: "p1", command: "get-certificates", arguments: {} }]);
});

test("forwards a page's cancel for a request in flight, and nothing else", async () => {
  const { win, ports } = load();
  win.postMessage(request("p1", "sign", {}));
  await flush();
  win.postMessage({ "card-agent": "cancel", id: "p1" });
  win.postMessage({ "card-agent": "cancel", id: "never-sent" });
  win.postMessage({ "card-agent": "cancel", id: { junk: true } });
  await flush();
  assert.deepEqual(ports[0].sent.slice(1), [{ type: "cancel", id: "p1" }]);
  // Once answered, the request cannot be cancelled any more.
  ports[0].onMessage.fire({ type: "response", id: "p1", error: { code: "USER_CANCELLED", message: "m" } });
  win.postMessage({ "card-agent": "cancel", id: "p1" });
  await flush();
  assert.equal(ports[0].sent.length, 2);
});

test("refuses a page-supplied origin instead of forwarding it", async () => {
  const { win, ports } = load();
  win.postMessage(request(1, "authenticate", { challengeNonce: "n" }, { origin: "https://bank.example" }));
  await flush();
  assert.equal(ports.length, 0);
  const [answer] = win.marked("response");
  assert.equal(answer.id, 1);
  assert.equal(answer.error.code, "BAD_REQUEST");
  assert.equal(answer.error.field, "origin");
});

test("ignores messages from other windows, non-objects and other markers", async () => {
  const { win, ports } = load();
  const iframe = { name: "an embedded frame" };
  win.postFrom(iframe, request(1, "version"));
  win.postMessage("card-agent");
  win.postMessage(null);
  win.postMessage([request(2, "version")]);
  win.postMessage({ "card-agent": "response", id: 3, result: {} });
  win.postMessage({ type: "request", id: 4, command: "version" });
  await flush();
  assert.equal(ports.length, 0);
  assert.deepEqual(win.marked("response"), [{ "card-agent": "response", id: 3, result: {} }]);
});

test("refuses oversized and malformed requests with BAD_REQUEST", async () => {
  const { win, ports } = load();
  win.postMessage(request(1, "sign", { data: "A".repeat(1024 * 1024) }));
  win.postMessage(request({ not: "an id" }, "version"));
  win.postMessage(request(3, "version", "not an object"));
  win.postMessage(request(4, 42));
  win.postMessage(request(5, "x".repeat(65)));
  await flush();
  assert.equal(ports.length, 0);
  const answers = win.marked("response");
  assert.deepEqual(answers.map((a) => [a.id, a.error.code, a.error.field]), [
    [1, "BAD_REQUEST", "arguments"],
    [null, "BAD_REQUEST", "id"],
    [3, "BAD_REQUEST", "arguments"],
    [4, "BAD_REQUEST", "command"],
    [5, "BAD_REQUEST", "command"],
  ]);
  assert.match(answers[0].error.message, /1 MiB/);
});

test("forwards only JSON: non-JSON values are dropped by the re-serialisation", async () => {
  const { win, ports } = load();
  win.postMessage(request(1, "sign", { hashAlgorithm: "SHA-256", when: new Date(0), nothing: undefined }));
  await flush();
  assert.deepEqual(ports[0].sent[0].arguments, { hashAlgorithm: "SHA-256", when: "1970-01-01T00:00:00.000Z" });
});

test("passes answers, events and subscription ends back to the page", async () => {
  const { win, ports } = load();
  win.postMessage(request("a", "subscribe"));
  await flush();
  const port = ports[0];
  port.receive({ type: "response", id: "a", result: { subscribed: true } });
  port.receive({ type: "event", event: { type: "card-removed", reader: "R" } });
  port.receive({ type: "response", id: "b", error: { code: "TIMEOUT", message: "late" } });
  port.receive({ type: "subscription-ended", error: { code: "INTERNAL", message: "x", agent: "unreachable" } });
  port.receive("junk");
  await flush();
  const fromExt = win.posted.map((p) => p.data).filter((d) =>
    ["response", "event", "subscription-ended"].includes(d["card-agent"]));
  assert.deepEqual(fromExt, [
    { "card-agent": "response", id: "a", result: { subscribed: true } },
    { "card-agent": "event", event: { type: "card-removed", reader: "R" } },
    { "card-agent": "response", id: "b", error: { code: "TIMEOUT", message: "late" } },
    { "card-agent": "subscription-ended", error: { code: "INTERNAL", message: "x", agent: "unreachable" } },
  ]);
});

test("one port serves every request; a lost port answers what was waiting and is reopened", async () => {
  const { win, ports } = load();
  win.postMessage(request(1, "sign", {}));
  win.postMessage(request(2, "version"));
  await flush();
  assert.equal(ports.length, 1);
  ports[0].receive({ type: "response", id: 2, result: {} });
  ports[0].drop();
  await flush();
  const failed = win.marked("response").filter((a) => a.error);
  assert.deepEqual(failed.map((a) => [a.id, a.error.code, a.error.agent]), [
    [1, "INTERNAL", "extension-disconnected"],
  ]);
  assert.equal(win.marked("subscription-ended").length, 1);
  win.postMessage(request(3, "version"));
  await flush();
  assert.equal(ports.length, 2);
  assert.deepEqual(ports[1].sent.map((m) => m.id), [3]);
});

test("an invalidated extension context is reported, not thrown into the void", async () => {
  const { win } = load({
    connect: () => {
      throw new Error("Extension context invalidated.");
    },
  });
  win.postMessage(request(9, "version"));
  await flush();
  const [answer] = win.marked("response");
  assert.equal(answer.id, 9);
  assert.equal(answer.error.code, "INTERNAL");
  assert.equal(answer.error.agent, "extension-disconnected");
  assert.match(answer.error.message, /context invalidated/);
});

test("stays silent in a document with an opaque origin", async () => {
  const { win, ports } = load({ origin: "null" });
  win.postMessage({ "card-agent": "ping" });
  win.postMessage(request(1, "version"));
  await flush();
  assert.equal(ports.length, 0);
  assert.deepEqual(win.marked("pong"), []);
  assert.deepEqual(win.marked("present"), []);
});
