// The SmartPKI page script (smartpki-shim.js) in a vm with a fake window: ziRSAKey against
// Node's RSA, the port's messages and msgIds, the PIN encryption, answers that are not ours.
// The content script (smartpki-content.js) with a fake runtime: what it forwards, what it
// answers, and its error numbers against the agent's table.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";
import { FakePort, FakeWindow, flush } from "./fakes.js";

/** Values made in the vm have the vm's prototypes: compare them as plain JSON. */
const plain = (v) => JSON.parse(JSON.stringify(v));

const SHIM = readFileSync(new URL("../smartpki-shim.js", import.meta.url), "utf8");

/** A window as the shim sees it: posted messages are recorded, `deliver` sends one to it. */
function fakeWindow(extra = {}) {
  const target = new EventTarget();
  const posted = [];
  const win = {
    location: { origin: "https://portal.example.gov.tw", href: "https://portal.example.gov.tw/login" },
    navigator: {},
    postMessage: (data, targetOrigin) => posted.push({ data, targetOrigin }),
    addEventListener: target.addEventListener.bind(target),
    dispatchEvent: target.dispatchEvent.bind(target),
    ...extra,
  };
  win.window = win;
  const deliver = (data) => {
    const event = new Event("message");
    Object.defineProperty(event, "source", { value: win });
    Object.defineProperty(event, "data", { value: data });
    target.dispatchEvent(event);
  };
  const context = vm.createContext({
    window: win, BigInt, TextEncoder, crypto: globalThis.crypto, Promise, Symbol, Object, Math,
    Uint8Array, Error, String, Number, Map,
  });
  vm.runInContext(SHIM, context);
  return { win, posted, deliver };
}

function nodeKey() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const modulus = Buffer.from(publicKey.export({ format: "jwk" }).n, "base64url").toString("hex");
  // Node no longer decrypts PKCS#1 v1.5 itself: take the raw block and check the padding here
  // (00 02, at least 8 non-zero random bytes, 00, the message).
  const decrypt = (hex) => {
    const block = crypto.privateDecrypt(
      { key: privateKey, padding: crypto.constants.RSA_NO_PADDING },
      Buffer.from(hex.padStart(512, "0"), "hex"),
    );
    assert.equal(block[0], 0);
    assert.equal(block[1], 2);
    const end = block.indexOf(0, 2);
    assert.ok(end >= 10, "at least 8 padding bytes");
    return block.subarray(end + 1).toString();
  };
  return { modulus, decrypt };
}

test("ziRSAKey encrypts with PKCS#1 v1.5 type 2 as jsbn does", () => {
  const { win } = fakeWindow();
  const { modulus, decrypt } = nodeKey();
  const key = new win.ziRSAKey();
  key.setPublic(modulus, "10001");
  for (const text of ["123456_PKI", "中文 PIN_PKI", ""]) {
    const hex = key.encrypt(text);
    assert.match(hex, /^([0-9a-f]{2})+$/);
    assert.ok(hex.length <= 512);
    assert.equal(decrypt(hex), text);
  }
  // Random padding: the same text never gives the same ciphertext.
  assert.notEqual(key.encrypt("123456_PKI"), key.encrypt("123456_PKI"));
  assert.equal(key.encrypt("x".repeat(246)), null, "too long for the key, as jsbn");
  assert.throws(() => key.setPublic("xyz", "10001"));
  assert.throws(() => new win.ziRSAKey().encrypt("a"));
});

test("the port: open, info with the key, msgIds from tabid * 10000, the PIN encrypted", async () => {
  const { win, posted, deliver } = fakeWindow();
  assert.equal(win.zhaninfo.smartpki.version, "0.0.1.3");
  const opening = win.navigator.connectSmartPKI();
  assert.deepEqual(plain(posted.shift().data), { smartpkiReq: "reqOpen", origin: "https://portal.example.gov.tw/login" });
  // Someone else's answer (SmartPKI's own content script) is not ours.
  deliver({ smartpkiRes: "resOpen", res: { success: 7 } });
  deliver({ smartpkiRes: "resOpen", res: { success: 1234567 }, "card-agent-smartpki": true });
  const port = await opening;
  assert.equal(port.tabid, 1234567);
  const messages = [];
  port.addMessageListener((m) => messages.push(m));
  const { modulus, decrypt } = nodeKey();
  deliver({
    smartpkiRes: "info", tabid: 1234567, "card-agent-smartpki": true,
    message: { smartpkiRes: "info", version: "6.0.1.0", modulus },
  });
  assert.deepEqual(plain(messages.shift()), { smartpkiRes: "info", version: "6.0.1.0", min_ap_version: "0.2.0.0" });

  const id = port.postMessage({ cmd: "Sign", pin: "246810", smartpkiReq: "sign" });
  assert.equal(id, 12345670000);
  const sent = posted.shift();
  assert.equal(sent.targetOrigin, "*");
  assert.equal(sent.data.msgId, 12345670000);
  assert.equal(sent.data.tabid, 1234567);
  assert.equal(decrypt(sent.data.pin), "246810_PKI");
  assert.equal(port.postMessage({ cmd: "Output", format: 64 }), 12345670001);

  let closed = false;
  port.addDisconnectListener(() => { closed = true; });
  port.disconnect();
  assert.deepEqual(plain(posted.pop().data), { smartpkiReq: "reqClose", tabid: 1234567 });
  deliver({ smartpkiRes: "resClose", tabid: 1234567, "card-agent-smartpki": true });
  assert.ok(closed);
});

test("a refused open rejects with the agent's text; the probe says whose connectSmartPKI it is", async () => {
  const { win, deliver } = fakeWindow();
  const opening = win.navigator.connectSmartPKI();
  deliver({ smartpkiRes: "resOpen", res: { err: "not trusted" }, "card-agent-smartpki": true });
  await assert.rejects(opening, (e) => e === "not trusted");
  const probe = () => !win.dispatchEvent(new Event("card-agent-smartpki-probe", { cancelable: true }));
  assert.ok(probe());
  win.navigator.connectSmartPKI = () => {};
  assert.ok(!probe(), "replaced by SmartPKI's own script: not ours any more");
});

test("SmartPKI's own script came first: the shim stands aside", () => {
  const theirs = () => {};
  const { win } = fakeWindow({ navigator: { connectSmartPKI: theirs } });
  assert.equal(win.navigator.connectSmartPKI, theirs);
  assert.equal(win.ziRSAKey, undefined);
});

test("the content script's error numbers are the agent's", () => {
  const content = readFileSync(new URL("../smartpki-content.js", import.meta.url), "utf8");
  const codes = readFileSync(new URL("../../agent/src/smartpki/codes.rs", import.meta.url), "utf8");
  const table = content.match(/const ERROR_NUMBERS = \{([^}]*)\}/)[1];
  const pairs = [...table.matchAll(/([A-Z_]+): (\d+)/g)];
  assert.ok(pairs.length >= 4);
  const portClosed = content.match(/const PORT_CLOSED = (\d+);/)[1];
  assert.match(codes, new RegExp(`ChainError::PortClosed => ${portClosed},`));
  for (const [, code, number] of pairs) {
    const variant = code.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase());
    assert.match(codes, new RegExp(`ErrorCode::${variant} => ${number},`), `${code} is ${number} in codes.rs`);
  }
});

// ---- The content script's side (smartpki-content.js) ----

const CONTENT = readFileSync(new URL("../smartpki-content.js", import.meta.url), "utf8");

/** The content script with a fake runtime; `ours` is what the page-world probe answers. */
function content({ ours = true } = {}) {
  const win = new FakeWindow("https://portal.example.gov.tw");
  win.dispatchEvent = (event) => !ours || !event.cancelable;
  win.CustomEvent = class { constructor(type, init) { this.type = type; this.cancelable = init?.cancelable; } };
  const ports = [];
  const runtime = {
    connect: ({ name }) => {
      const port = new FakePort(name);
      ports.push(port);
      return port;
    },
  };
  vm.runInNewContext(CONTENT, { window: win, chrome: { runtime }, TextEncoder });
  const answers = () => win.posted.map((p) => p.data).filter((d) => d["card-agent-smartpki"] === true);
  return { win, ports, answers };
}

test("content: reqOpen opens a port (the page's origin never forwarded), info follows unasked", async () => {
  const { win, ports, answers } = content();
  win.postMessage({ smartpkiReq: "reqOpen", origin: "https://bank.example/" }, "*");
  await flush();
  assert.equal(ports[0].name, "card-agent-smartpki");
  assert.deepEqual(ports[0].sent, [{ type: "request", id: 1, command: "smartpki-open", arguments: {} }]);
  ports[0].receive({ type: "response", id: 1, result: { port: 5000000, version: "6.0.1.0", modulus: "ab" } });
  await flush();
  const [open, info] = answers();
  assert.deepEqual(open.res, { success: 5000000, key: "" });
  assert.deepEqual(info.message, { smartpkiRes: "info", version: "6.0.1.0", modulus: "ab" });
  assert.ok(win.posted.filter((p) => p.data["card-agent-smartpki"]).every((p) => p.targetOrigin === "https://portal.example.gov.tw"));

  // A step: SmartPKI's fields only, numbers from decimal strings, the msgId echoed.
  win.postMessage({ smartpkiReq: "sign", tabid: 5000000, msgId: 50000000000, cmd: "Initial", soltIndex: "-1", driverType: 1, style: 320, other: "x" }, "*");
  await flush();
  assert.deepEqual(ports[0].sent[1].arguments, { port: 5000000, request: "sign", cmd: "Initial", soltIndex: -1, driverType: 1, style: 320 });
  ports[0].receive({ type: "response", id: 2, result: { errorCode: 0, errorMessage: "" } });
  await flush();
  assert.deepEqual(answers().at(-1).message, { errorCode: 0, errorMessage: "", smartpkiRes: "Initial", cmd: "Initial", msgId: 50000000000 });

  // Another tabid is not ours; a port the agent lost is closed for the page.
  win.postMessage({ smartpkiReq: "sign", tabid: 7, msgId: 70000, cmd: "GetAll" }, "*");
  win.postMessage({ smartpkiReq: "sign", tabid: 5000000, msgId: 50000000001, cmd: "GetAll" }, "*");
  await flush();
  assert.equal(ports[0].sent.length, 3);
  ports[0].receive({ type: "response", id: 3, result: { errorCode: 9113, errorMessage: "closed" } });
  await flush();
  assert.deepEqual(answers().at(-1), { smartpkiRes: "resClose", tabid: 5000000, "card-agent-smartpki": true });
});

test("content: a refused site, an agent not running, and a page script that is not ours", async () => {
  const { win, ports, answers } = content();
  win.postMessage({ smartpkiReq: "reqOpen" }, "*");
  await flush();
  ports[0].receive({ type: "response", id: 1, error: { code: "SITE_NOT_TRUSTED", message: "not trusted" } });
  await flush();
  assert.deepEqual(answers().at(-1).res, { err: "not trusted" });
  win.postMessage({ smartpkiReq: "reqOpen" }, "*");
  await flush();
  ports[0].receive({ type: "response", id: 2, error: { code: "INTERNAL", message: "x", agent: "unreachable" } });
  await flush();
  const [opened, closed] = answers().slice(-2);
  assert.equal(opened.res.success, closed.tabid, "a port that opens and closes at once: the page's 20003");
  assert.equal(closed.smartpkiRes, "resClose");

  const other = content({ ours: false });
  other.win.postMessage({ smartpkiReq: "reqOpen" }, "*");
  await flush();
  assert.equal(other.ports.length, 0, "SmartPKI's own script is in place: not answered");
});
