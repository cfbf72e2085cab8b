// AbortSignal support and byte views of results, against a fake window and a scripted
// stand-in for the extension. The cancel's way on through the extension and the agent is
// tested in extension/test (router, content script) and tests/tests (the daemon).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCardAgent, fromBase64, toBase64 } from "../card-agent.js";
import { FakeWindow, flush } from "./fake-window.js";

const THUMB = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
const NONCE = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM";

/** A stand-in extension that records requests and cancels and answers only when told. */
function setup() {
  const win = new FakeWindow();
  const requests = [];
  const cancels = [];
  win.addEventListener("message", (event) => {
    const data = event.data;
    if (event.source !== win) return;
    if (data?.["card-agent"] === "ping") win.postMessage({ "card-agent": "pong", version: "0.1.0" });
    if (data?.["card-agent"] === "request") requests.push(data);
    if (data?.["card-agent"] === "cancel") cancels.push(data);
  });
  const agent = createCardAgent({ window: win, presenceTimeout: 1000 });
  const answer = (id, body) => win.postMessage({ "card-agent": "response", id, ...body });
  return { win, agent, requests, cancels, answer };
}

test("an abort while sign waits sends a cancel for that request and rejects with the reason", async () => {
  const { agent, requests, cancels, answer } = setup();
  const controller = new AbortController();
  const signing = agent.sign({ certificate: THUMB, data: "form", format: "cms", signal: controller.signal });
  await flush(6);
  assert.equal(requests.length, 1);
  controller.abort();
  const error = await signing.catch((e) => e);
  assert.equal(error.name, "AbortError");
  await flush();
  assert.deepEqual(cancels.map((c) => c.id), [requests[0].id]);
  // The agent's late answer (the dialog it closed) reaches nobody and breaks nothing.
  answer(requests[0].id, { error: { code: "USER_CANCELLED", message: "closed" } });
  await flush();
  // A custom reason is what the caller gets.
  const second = new AbortController();
  const auth = agent.authenticate({ challengeNonce: NONCE, signal: second.signal });
  await flush(6);
  second.abort(new Error("user left the page"));
  assert.equal((await auth.catch((e) => e)).message, "user left the page");
  await flush();
  assert.deepEqual(cancels.map((c) => c.id), [requests[0].id, requests[1].id]);
});

test("an already aborted signal sends nothing at all", async () => {
  const { agent, requests, cancels } = setup();
  const error = await agent
    .authenticate({ challengeNonce: NONCE, signal: AbortSignal.abort() })
    .catch((e) => e);
  assert.equal(error.name, "AbortError");
  await flush(6);
  assert.equal(requests.length, 0);
  assert.equal(cancels.length, 0);
});

test("an abort after the answer changes nothing and sends no cancel", async () => {
  const { agent, requests, cancels, answer } = setup();
  const controller = new AbortController();
  const signing = agent.sign({ certificate: THUMB, data: "x", format: "pkcs1", signal: controller.signal });
  await flush(6);
  answer(requests[0].id, { result: { signature: "AQID", format: "pkcs1", certificate: "BAUG" } });
  const result = await signing;
  controller.abort();
  await flush();
  assert.equal(cancels.length, 0);
  assert.equal(result.signature, "AQID");
});

test("signal must be an AbortSignal", async () => {
  const { agent } = setup();
  await assert.rejects(agent.verifyPin({ signal: {} }), TypeError);
});

test("results carry Uint8Array views that JSON leaves out", async () => {
  const { agent, requests, answer } = setup();
  const token = { format: "card-agent-auth:1", unverifiedCertificate: "MIIB", algorithm: "ES256",
    signature: "q83v", appVersion: "card-agent/0.1.0" };
  const auth = agent.authenticate({ challengeNonce: NONCE });
  await flush(6);
  answer(requests[0].id, { result: { ...token } });
  const got = await auth;
  assert.deepEqual(got.signatureBytes, new Uint8Array([0xab, 0xcd, 0xef]));
  assert.deepEqual(got.unverifiedCertificateBytes, new Uint8Array([0x30, 0x82, 0x01]));
  // What the page posts to its server is the wire token, nothing added.
  assert.deepEqual(JSON.parse(JSON.stringify(got)), token);

  const signing = agent.sign({ certificate: THUMB, data: "x", format: "pkcs1" });
  await flush(6);
  answer(requests[1].id, { result: { signature: "AQID", format: "pkcs1", certificate: "BAUG" } });
  const signed = await signing;
  assert.deepEqual(signed.signatureBytes, new Uint8Array([1, 2, 3]));
  assert.deepEqual(signed.certificateBytes, new Uint8Array([4, 5, 6]));
  assert.deepEqual(Object.keys(signed), ["signature", "format", "certificate"]);
});

test("fromBase64 reads standard and URL-safe base64 and refuses anything else", () => {
  const bytes = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  assert.deepEqual(fromBase64(Buffer.from(bytes).toString("base64url")), bytes);
  assert.deepEqual(fromBase64(""), new Uint8Array(0));
  for (const bad of ["a b", "%%", 42, "QQ===", "Q"]) assert.throws(() => fromBase64(bad), TypeError, String(bad));
});
