// The content script's side of the legacy shim: shim messages in, `legacy-request` out on
// the "card-agent-legacy" port, answers back to the shim. Run in a vm with a fake window and
// runtime, like content.test.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { FakePort, FakeWindow, flush } from "./fakes.js";

const source = readFileSync(new URL("../content.js", import.meta.url), "utf8");

function load({ origin = "https://portal.example.gov.tw", connect } = {}) {
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

const shim = (id, method, path, body) =>
  ({ "card-agent-legacy": "request", id, method, path, ...(body === undefined ? {} : { body }) });
const toShim = (win) => win.posted.filter((p) => p.data?.["card-agent-legacy"] === "response");

test("a shim request goes to the worker as legacy-request on its own port, without an origin", async () => {
  const { win, ports } = load();
  win.postMessage(shim("legacy-a-1", "POST", "/sign", "tbsPackage=%7B%7D"));
  win.postMessage(shim("legacy-a-2", "GET", "/pkcs11info?withcert=true"));
  await flush();
  assert.equal(ports.length, 1);
  assert.equal(ports[0].name, "card-agent-legacy");
  assert.deepEqual(ports[0].sent, [
    { type: "request", id: "legacy-a-1", command: "legacy-request", arguments: { method: "POST", path: "/sign", body: "tbsPackage=%7B%7D" } },
    { type: "request", id: "legacy-a-2", command: "legacy-request", arguments: { method: "GET", path: "/pkcs11info?withcert=true" } },
  ]);
});

test("answers go back to the shim, addressed to the page's origin", async () => {
  const { win, ports } = load();
  win.postMessage(shim("legacy-a-1", "GET", "/"));
  win.postMessage(shim("legacy-a-2", "GET", "/"));
  await flush();
  const result = { status: 200, contentType: "text/plain", body: "dmVyc2lvbjox" };
  ports[0].receive({ type: "response", id: "legacy-a-1", result });
  ports[0].receive({ type: "response", id: "legacy-a-2", error: { code: "TIMEOUT", message: "late" } });
  ports[0].receive({ type: "event", event: {} });
  await flush();
  assert.deepEqual(toShim(win).map((p) => [p.data, p.targetOrigin]), [
    [{ "card-agent-legacy": "response", id: "legacy-a-1", result }, "https://portal.example.gov.tw"],
    [{ "card-agent-legacy": "response", id: "legacy-a-2", error: { code: "TIMEOUT", message: "late" } }, "https://portal.example.gov.tw"],
  ]);
});

test("malformed shim requests are refused with BAD_REQUEST; without a usable id, silently", async () => {
  const { win, ports } = load();
  win.postMessage(shim("a", "PUT", "/sign"));
  win.postMessage(shim("b", "GET", "sign"));
  win.postMessage(shim("c", "GET", `/${"x".repeat(2048)}`));
  win.postMessage(shim("d", "POST", "/sign", { tbsPackage: "{}" }));
  win.postMessage(shim("e", "POST", "/sign", "x".repeat(1024 * 1024)));
  win.postMessage(shim(7, "GET", "/"));
  win.postMessage(shim("x".repeat(129), "GET", "/"));
  await flush();
  assert.equal(ports.length, 0);
  assert.deepEqual(toShim(win).map((p) => [p.data.id, p.data.error.code, p.data.error.field]), [
    ["a", "BAD_REQUEST", "arguments.method"],
    ["b", "BAD_REQUEST", "arguments.path"],
    ["c", "BAD_REQUEST", "arguments.path"],
    ["d", "BAD_REQUEST", "arguments.body"],
    ["e", "BAD_REQUEST", "arguments.body"],
  ]);
  assert.match(toShim(win)[4].data.error.message, /1 MiB/);
});

test("the page's message listeners never see the shim's requests; other messages pass", async () => {
  const { win } = load();
  const seen = [];
  win.addEventListener("message", (e) => seen.push(e.data));
  win.addEventListener("message", (e) => seen.push(e.data), true);
  win.postMessage(shim("legacy-a-1", "GET", "/"));
  win.postMessage('{"func":"getTbs"}');
  await flush();
  assert.deepEqual(seen.filter((d) => typeof d === "string"), ['{"func":"getTbs"}', '{"func":"getTbs"}']);
  assert.deepEqual(seen.filter((d) => d?.["card-agent-legacy"]), []);
});

test("requests from other windows are ignored", async () => {
  const { win, ports } = load();
  win.postFrom({ name: "an iframe" }, shim("legacy-a-1", "GET", "/"));
  await flush();
  assert.equal(ports.length, 0);
});

test("the page library's requests keep their own port", async () => {
  const { win, ports } = load();
  win.postMessage({ "card-agent": "request", id: 1, command: "version" });
  win.postMessage(shim("legacy-a-1", "GET", "/"));
  await flush();
  assert.deepEqual(ports.map((p) => [p.name, p.sent.length]), [["card-agent-page", 1], ["card-agent-legacy", 1]]);
});

test("a lost legacy port answers what waited and is reopened for the next call", async () => {
  const { win, ports } = load();
  win.postMessage(shim("legacy-a-1", "POST", "/sign", "tbsPackage=x"));
  win.postMessage(shim("legacy-a-2", "GET", "/"));
  await flush();
  ports[0].receive({ type: "response", id: "legacy-a-2", result: { status: 200, contentType: "text/plain", body: "" } });
  ports[0].drop();
  await flush();
  const failed = toShim(win).filter((p) => p.data.error).map((p) => [p.data.id, p.data.error.code, p.data.error.agent]);
  assert.deepEqual(failed, [["legacy-a-1", "INTERNAL", "extension-disconnected"]]);
  assert.deepEqual(win.marked("subscription-ended"), [], "the page library's subscription is not concerned");
  win.postMessage(shim("legacy-a-3", "GET", "/"));
  await flush();
  assert.equal(ports.length, 2);
  assert.deepEqual(ports[1].sent.map((m) => m.id), ["legacy-a-3"]);
});

test("an invalidated extension context is answered, not thrown", async () => {
  const { win } = load({ connect: () => { throw new Error("Extension context invalidated."); } });
  win.postMessage(shim("legacy-a-1", "GET", "/"));
  await flush();
  const [answer] = toShim(win);
  assert.equal(answer.data.error.agent, "extension-disconnected");
  assert.match(answer.data.error.message, /context invalidated/);
});
