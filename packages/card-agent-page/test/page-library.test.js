// The page library against a fake window and a scripted stand-in for the extension (no
// browser runs in unit tests). bridge.test.js runs it against the real content script.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CardAgentError, createCardAgent, errorFromWire, toBase64 } from "../card-agent.js";
import { FakeWindow, flush } from "./fake-window.js";

const THUMB = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";

/** Answers pings, and each request with `handler(request)` (no answer when it returns null). */
function fakeExtension(win, handler = () => ({ result: {} })) {
  const requests = [];
  win.addEventListener("message", (event) => {
    const data = event.data;
    if (event.source !== win) return;
    if (data?.["card-agent"] === "ping") win.postMessage({ "card-agent": "pong", version: "0.1.0" });
    if (data?.["card-agent"] === "request") {
      requests.push(data);
      const answer = handler(data);
      if (answer) win.postMessage({ "card-agent": "response", id: data.id, ...answer });
    }
  });
  return requests;
}

function setup(handler, options = {}) {
  const win = new FakeWindow();
  const requests = fakeExtension(win, handler);
  const agent = createCardAgent({ window: win, presenceTimeout: 1000, ...options });
  return { win, requests, agent };
}

test("isAvailable: true when the extension answers the ping, false when nothing does", async () => {
  const { agent } = setup();
  assert.equal(await agent.isAvailable(), true);
  const lonely = createCardAgent({ window: new FakeWindow(), presenceTimeout: 20 });
  assert.equal(await lonely.isAvailable(), false);
  assert.equal(await lonely.isAvailable({ timeout: 5 }), false);
});

test("isAvailable: the extension's start-up announcement counts as presence", async () => {
  const win = new FakeWindow();
  const agent = createCardAgent({ window: win, presenceTimeout: 1000 });
  const answer = agent.isAvailable();
  win.postMessage({ "card-agent": "present", version: "0.1.0" });
  assert.equal(await answer, true);
});

test("without the extension every call fails with details.agent extension-missing", async () => {
  const agent = createCardAgent({ window: new FakeWindow(), presenceTimeout: 20 });
  const error = await agent.status().catch((e) => e);
  assert.ok(error instanceof CardAgentError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "CardAgentError");
  assert.equal(error.code, "INTERNAL");
  assert.equal(error.details.agent, "extension-missing");
});

test("concurrent requests are matched to their answers by id, whatever the order", async () => {
  const held = [];
  const { win, agent } = setup((req) => {
    held.push(req);
    return null;
  });
  const v = agent.version();
  const s = agent.status();
  await flush(6);
  assert.equal(held.length, 2);
  assert.notEqual(held[0].id, held[1].id);
  win.postMessage({ "card-agent": "response", id: held[1].id, result: { readers: [] } });
  win.postMessage({ "card-agent": "response", id: held[0].id, result: { version: "0.1.0" } });
  assert.deepEqual(await v, { version: "0.1.0" });
  assert.deepEqual(await s, { readers: [] });
});

test("answers for other ids and from other windows are ignored", async () => {
  const held = [];
  const { win, agent } = setup((req) => {
    held.push(req);
    return null;
  }, { timeouts: { interactive: 200, inventory: 200, quick: 200 } });
  const v = agent.version();
  await flush(6);
  win.postMessage({ "card-agent": "response", id: "someone-else", result: "wrong" });
  win.postFrom({ frame: true }, { "card-agent": "response", id: held[0].id, result: "forged by a frame" });
  await flush();
  win.postMessage({ "card-agent": "response", id: held[0].id, result: "right" });
  assert.equal(await v, "right");
});

test("protocol errors become CardAgentError with code, retriesLeft and details", async () => {
  const { agent } = setup(() => ({
    error: { code: "PIN_INCORRECT", message: "The PIN is incorrect.", retriesLeft: 2 },
  }));
  const error = await agent.verifyPin({ token: "0000000012345678" }).catch((e) => e);
  assert.equal(error.code, "PIN_INCORRECT");
  assert.equal(error.retriesLeft, 2);
  assert.equal(error.message, "The PIN is incorrect.");
  assert.deepEqual(error.details, {});

  const unreachable = errorFromWire({ code: "INTERNAL", message: "not installed", agent: "unreachable" });
  assert.equal(unreachable.details.agent, "unreachable");
  assert.equal("retriesLeft" in unreachable, false);
  const bad = errorFromWire({ code: "BAD_REQUEST", message: "m", field: "arguments.hash" });
  assert.equal(bad.details.field, "arguments.hash");
  assert.equal(errorFromWire("junk").code, "INTERNAL");
  assert.equal(errorFromWire({ message: "no code" }).code, "INTERNAL");
});

test("getCertificates returns the list; authenticate sends the nonce exactly as issued", async () => {
  const nonce = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM";
  const { agent, requests } = setup((req) => {
    if (req.command === "get-certificates") return { result: { certificates: [{ sha256: THUMB }] } };
    return { result: { format: "card-agent-auth:1", signature: "c2ln" } };
  });
  assert.deepEqual(await agent.getCertificates(), [{ sha256: THUMB }]);
  const token = await agent.authenticate({ challengeNonce: nonce });
  assert.equal(token.format, "card-agent-auth:1");
  assert.deepEqual(requests[1].arguments, { challengeNonce: nonce });
  assert.equal("origin" in requests[1], false, "the page library never sends an origin");
  const missing = await agent.authenticate({}).catch((e) => e);
  assert.equal(missing.code, "BAD_REQUEST");
});

test("sign encodes data (bytes or UTF-8 text) and hex or byte hashes as base64", async () => {
  const { agent, requests } = setup(() => ({ result: { signature: "c2ln", format: "cms" } }));
  await agent.sign({ certificate: THUMB, data: "王小明", format: "cms" });
  assert.equal(requests[0].arguments.data, Buffer.from("王小明", "utf8").toString("base64"));
  assert.equal(requests[0].arguments.hashAlgorithm, "SHA-256");
  assert.equal(requests[0].arguments.certificate, THUMB);

  const digest = Buffer.alloc(32, 7);
  await agent.sign({ certificate: THUMB, hash: digest.toString("hex"), format: "pkcs1" });
  assert.equal(requests[1].arguments.hash, digest.toString("base64"));
  assert.equal("data" in requests[1].arguments, false);

  await agent.sign({ certificate: THUMB, hash: new Uint8Array(digest).buffer, format: "pkcs1" });
  assert.equal(requests[2].arguments.hash, digest.toString("base64"));

  const sha384 = new Uint8Array(48).fill(1);
  await agent.sign({ certificate: THUMB, hash: sha384, hashAlgorithm: "SHA-384", format: "pkcs1", nonce: new Uint8Array([1, 2, 3]) });
  assert.equal(requests[3].arguments.hash, Buffer.from(sha384).toString("base64"));
  assert.equal(requests[3].arguments.nonce, "AQID");

  // A view into a larger buffer sends only its own bytes.
  const whole = new Uint8Array([9, 9, 1, 2, 3, 9]);
  await agent.sign({ certificate: THUMB, data: whole.subarray(2, 5), format: "cms-attached" });
  assert.equal(requests[4].arguments.data, "AQID");
});

test("sign normalises a thumbprint written with colons and capitals", async () => {
  const { agent, requests } = setup();
  const pretty = THUMB.toUpperCase().match(/../g).join(":");
  await agent.sign({ certificate: pretty, data: "x", format: "cms" });
  assert.equal(requests[0].arguments.certificate, THUMB);
});

test("sign refuses bad arguments before anything is sent", async () => {
  const { agent, requests } = setup();
  const cases = [
    [{ certificate: THUMB, format: "cms" }, "arguments"],
    [{ certificate: THUMB, data: "x", hash: "00", format: "cms" }, "arguments"],
    [{ certificate: "abc", data: "x", format: "cms" }, "arguments.certificate"],
    [{ certificate: THUMB, data: "x" }, "arguments.format"],
    [{ certificate: THUMB, data: "x", format: "cms", hashAlgorithm: "sha256" }, "arguments.hashAlgorithm"],
    [{ certificate: THUMB, hash: "00ff", format: "pkcs1" }, "arguments.hash"],
    [{ certificate: THUMB, hash: "not hex", format: "pkcs1" }, "arguments.hash"],
    [{ certificate: THUMB, data: 42, format: "cms" }, "arguments.data"],
    [{ certificate: THUMB, data: "", format: "cms" }, "arguments.data"],
  ];
  for (const [options, field] of cases) {
    const error = await agent.sign(options).catch((e) => e);
    assert.ok(error instanceof CardAgentError, JSON.stringify(options));
    assert.equal(error.code, "BAD_REQUEST");
    assert.equal(error.details.field, field, JSON.stringify(options));
  }
  await flush();
  assert.equal(requests.length, 0);
});

test("toBase64 matches Node's encoder on large input", () => {
  const bytes = new Uint8Array(200_003);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = (i * 31 + 7) & 0xff;
  assert.equal(toBase64(bytes), Buffer.from(bytes).toString("base64"));
  assert.equal(toBase64(new Uint8Array(0)), "");
});

test("a request nobody answers fails with TIMEOUT", async () => {
  const { agent } = setup(() => null, { timeouts: { interactive: 40, inventory: 30, quick: 20 } });
  const error = await agent.version().catch((e) => e);
  assert.equal(error.code, "TIMEOUT");
  assert.equal(error.details.timeoutMs, 20);
});
