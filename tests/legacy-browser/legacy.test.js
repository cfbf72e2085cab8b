// A legacy HiPKI page (site/) in headless Chromium against the real card-agent daemon on its
// demo token, with Local Network Access checks on and the page's origin counted as public:
// - without the extension, the page's direct calls to localhost:61161 need the browser's
//   loopback permission, while the popup bridge (a top-level navigation) works either way;
// - with the extension, the same calls work with the permission denied: the legacy shim
//   carries them to the agent through the native host.
// Signatures are checked with openssl. See README.md for the flags and the port.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  ASKING_HOSTS, DOTTED_HOST, GUARD_MS, LEGACY_PORT, TRUSTED_HOST, UNTRUSTED_HOST, binaries, launchBrowser,
  legacy, opensslEncrypt, opensslVerify, portIsFree, startDaemon, startSite,
} from "./harness.js";

const OK = 0;
const UNTRUSTED_SITE = 0x76000031;
const LOGIN = 0x76100006;
const CANCELLED = 0x76000999;
const TWO_TRIES_LEFT = 0x80000002;
const DEMO_PIN = "123456";
const WRONG_PIN = "975318";
// Another wrong PIN: the same one again never reaches the card (the daemon is shared by the suites).
const OTHER_WRONG_PIN = "864202";
const TBS = "申請書 application form: a+b=c & 100%\n姓名: \"王小明\" C:\\forms"; // a line break, quotes, a backslash
const T = { timeout: 4 * GUARD_MS };

const dir = mkdtempSync(path.join(tmpdir(), "card-agent-legacy-browser-"));
let bins;
let site;
let daemon;
let agentPort;
/** How long each popup took from window.open to its getTbs message (reported, not asserted). */
const getTbsLatencies = [];

before(async () => {
  bins = binaries();
  // Pages hard-code 61161. When another agent already listens there (outside a private
  // network namespace, see run-tests.sh), ours takes another port and the page is told so.
  agentPort = (await portIsFree(LEGACY_PORT)) ? LEGACY_PORT : await freePort();
  site = await startSite(dir);
  daemon = await startDaemon({ dir, agentPort, bins });
});

after(async () => {
  if (getTbsLatencies.length) {
    const sorted = [...getTbsLatencies].sort((a, b) => a - b);
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(0);
    console.log(`popup getTbs latency over ${sorted.length} popups: min ${at(0)} ms, median ${at(0.5)} ms, max ${at(1)} ms`);
  }
  await daemon?.stop();
  await site?.close();
  // The daemon heard every PIN the pages sent; none may be in its log (RUST_LOG=debug).
  const log = daemon?.log() ?? "";
  assert.match(log, /legacy request failed/, "the daemon logged the requests (RUST_LOG=debug)");
  for (const pin of [DEMO_PIN, WRONG_PIN, OTHER_WRONG_PIN]) {
    // Not preceded by a digit or dot, so a timestamp's microseconds never match.
    assert.doesNotMatch(log, new RegExp(`(?<![\\d.])${pin}(?!\\d)`), "a PIN reached the daemon's log");
  }
  rmSync(dir, { recursive: true, force: true });
});

async function freePort() {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The test page on `host`; where its calls go (see README.md). */
function pageUrl(host, { viaExtension }) {
  let query = "";
  if (agentPort !== LEGACY_PORT) {
    // The shim carries calls to 61161 only: the page keeps that port for its calls and opens
    // its windows on the agent's real port.
    query = viaExtension ? `?port=${LEGACY_PORT}&popupPort=${agentPort}` : `?port=${agentPort}`;
  }
  return `${site.origin(host)}/index.html${query}`;
}

async function open(browser, host, { viaExtension }) {
  const page = await browser.context.newPage();
  await page.goto(pageUrl(host, { viaExtension }), { timeout: GUARD_MS });
  return page;
}

/** A popup answer: the page got the ready message first (its 3.5 s timer did not fire), sent
 * the package only then, and dispatched on the response's func. */
async function viaPopup(page, fn, ...args) {
  const r = await legacy(page, fn, ...args);
  assert.equal(r.transport, "ok", JSON.stringify(r));
  assert.deepEqual(r.events, ["open", "getTbs", "sent", "answer"], "getTbs comes first, before any card work");
  getTbsLatencies.push(r.getTbsMs);
  return r;
}

const caCerts = (info) => info.slots[0].token.certs
  .filter((c) => c.usage === "keyCertSign|cRLSign").map((c) => c.certb64);

/** Signs on `page` with `via` ("xhrSign" or "popupSign") and checks the signature with openssl. */
async function signAndVerify(page, via, certInfo) {
  const r = via.startsWith("popup") ? await viaPopup(page, via, TBS, DEMO_PIN) : await legacy(page, via, TBS, DEMO_PIN);
  assert.equal(r.transport, "ok", JSON.stringify(r));
  assert.equal(r.result.func, "sign");
  assert.equal(r.result.ret_code, OK, JSON.stringify(r.result));
  const token = certInfo.slots[0].token;
  assert.equal(r.result.cardSN, token.serialNumber);
  const signer = token.certs.find((c) => c.certb64 === r.result.certb64);
  assert.ok(signer, "signed with a certificate of the card");
  assert.equal(opensslVerify(dir, r.result.signature, caCerts(certInfo)), TBS, "openssl: the signed content is the page's text");
}

/** A call the shim never carries (a synchronous XHR): whether the browser let it through. */
function syncXhrReaches(page) {
  return page.evaluate((port) => {
    const x = new XMLHttpRequest();
    x.open("GET", `http://localhost:${port}/pkcs11info`, false);
    try {
      x.send();
      return x.status !== 0;
    } catch {
      return false;
    }
  }, new URL(page.url()).searchParams.get("port") ?? "61161");
}

function legacyMessages(page) {
  return page.evaluate(() => HiPKI.messages.filter((m) => m.data.includes("card-agent-legacy")));
}

describe("without the extension (plain HTTP to the agent)", () => {
  let browser;
  before(async () => {
    browser = await launchBrowser({ dir, site, daemon, bins, extension: false });
  });
  after(() => browser?.close());

  test("loopback permission denied: direct calls are blocked; the popup bridge reads, signs and decrypts", T, async () => {
    await browser.loopback(site.origin(TRUSTED_HOST), "denied");
    const page = await open(browser, TRUSTED_HOST, { viaExtension: false });
    assert.equal((await legacy(page, "xhrGetUserCert")).transport, "network-error");
    assert.equal((await legacy(page, "fetchCheckEnvir")).transport, "network-error");
    assert.equal((await legacy(page, "imageCheckEnvir")).transport, "network-error");
    assert.equal(await syncXhrReaches(page), false);
    // The popup is a top-level navigation to the agent, which then calls itself.
    const certs = await viaPopup(page, "popupGetUserCert");
    assert.equal(certs.result.func, "pkcs11info");
    assert.equal(certs.result.ret_code, OK);
    const envir = await viaPopup(page, "popupCheckEnvir");
    assert.equal(envir.result.slots[0].token.certs, undefined, "CheckEnvir has no certificates");
    await signAndVerify(page, "popupSign", certs.result);
    await signAndVerify(page, "popupSignTargeted", certs.result);
    // Decryption as the vendor's sample page does it, ciphertexts made by openssl.
    const keyx = certs.result.slots[0].token.certs.find((c) => c.usage === "keyEncipherment|dataEncipherment");
    const secret = "機密 decrypt a+b=c & 100%";
    for (const [kind, cipherType] of [["cms", "PKCS7"], ["pkcs1", "PKCS1"]]) {
      const cipher = opensslEncrypt(dir, keyx.certb64, secret, kind);
      const text = await viaPopup(page, "popupDecrypt", cipher, cipherType, "NONE", DEMO_PIN);
      assert.equal(text.result.func, "decrypt");
      assert.equal(text.result.ret_code, OK, JSON.stringify(text.result));
      assert.equal(text.result.plain, secret, cipherType);
      const b64 = await viaPopup(page, "popupDecrypt", cipher, cipherType, "base64", DEMO_PIN);
      assert.equal(Buffer.from(b64.result.plain, "base64").toString("utf8"), secret, cipherType);
    }
    await page.close();
  });

  test("a page that reopens the popup under the same name right after each answer gets every answer", T, async () => {
    // Libraries that retry reopen at once. The closing popup must not be found by its name and
    // take the new navigation down with it (then the page's 3.5 s timer says "not installed");
    // it happened about once in 100 popups on a loaded machine before the popup gave its name up.
    const page = await open(browser, TRUSTED_HOST, { viaExtension: false });
    for (let i = 0; i < 40; i++) {
      const envir = await viaPopup(page, "popupCheckEnvir");
      assert.equal(envir.result.ret_code, OK);
    }
    await page.close();
  });

  test("loopback permission granted: XHR reads certificates and signs; fetch and the BMP probe work", T, async () => {
    await browser.loopback(site.origin(TRUSTED_HOST), "granted");
    const page = await open(browser, TRUSTED_HOST, { viaExtension: false });
    const certs = await legacy(page, "xhrGetUserCert");
    assert.equal(certs.transport, "ok", JSON.stringify(certs));
    assert.equal(certs.result.ret_code, OK);
    assert.equal(certs.result.func, "pkcs11info");
    assert.match(certs.contentType, /^application\/json/);
    assert.ok(certs.result.slots[0].token.certs.length >= 2);
    await signAndVerify(page, "xhrSign", certs.result);
    const envir = await legacy(page, "fetchCheckEnvir");
    assert.equal(envir.result.ret_code, OK);
    // Both probes pages use: the default 300-pixel canvas and the 2000x1 one.
    for (const width of [0, 2000]) {
      const image = await legacy(page, "imageCheckEnvir", width);
      assert.equal(image.transport, "ok", JSON.stringify(image));
      assert.equal(image.result.ret_code, OK, image.text);
      assert.equal(image.result.func, "pkcs11info");
      assert.ok(image.result.serverVersion >= "1.3.4.103349", "pages compare serverVersion as a string");
      assert.equal(image.result.slots[0].token.serialNumber, certs.result.slots[0].token.serialNumber);
      assert.equal(image.height, 1);
    }
    await page.close();
  });

  test("a wrong PIN is 0x76100006 with the tries left in last_error; the right one signs again", T, async () => {
    await browser.loopback(site.origin(TRUSTED_HOST), "granted");
    const page = await open(browser, TRUSTED_HOST, { viaExtension: false });
    const wrong = await legacy(page, "xhrSign", TBS, WRONG_PIN);
    assert.equal(wrong.result.ret_code, LOGIN, JSON.stringify(wrong.result));
    assert.equal(wrong.result.last_error, TWO_TRIES_LEFT);
    // A page signing a batch with the PIN it was given sends the same wrong PIN again: the
    // answer is the same, and the card is not asked, so it still has two tries.
    const again = await legacy(page, "xhrSign", TBS, WRONG_PIN);
    assert.equal(again.result.ret_code, LOGIN, JSON.stringify(again.result));
    assert.equal(again.result.last_error, TWO_TRIES_LEFT);
    const right = await legacy(page, "xhrSign", TBS, DEMO_PIN);
    assert.equal(right.result.ret_code, OK, "the right PIN resets the counter");
    await page.close();
  });

  test("an untrusted site: no certificate through the popup, 0x76000031 readable in the image, no card facts", T, async () => {
    await browser.loopback(site.origin(UNTRUSTED_HOST), "granted");
    await browser.loopback(site.origin(TRUSTED_HOST), "granted");
    const page = await open(browser, UNTRUSTED_HOST, { viaExtension: false });
    // Attack 1: a hostile page opens the popup and asks for every certificate.
    const certs = await viaPopup(page, "popupGetUserCert");
    assert.equal(certs.result.ret_code, UNTRUSTED_SITE);
    assert.equal(certs.result.slots, undefined, "the popup gave a hostile opener the certificates");
    const sign = await viaPopup(page, "popupSign", TBS, DEMO_PIN);
    assert.equal(sign.result.ret_code, UNTRUSTED_SITE);
    // The agent answers XHR without CORS headers: the browser gives the page nothing.
    assert.equal((await legacy(page, "xhrGetUserCert")).transport, "network-error");
    // The image: the refusal is readable (to offer /addDomain); its size is every image's.
    const image = await legacy(page, "imageCheckEnvir");
    assert.equal(image.transport, "ok", JSON.stringify(image));
    assert.equal(image.result.ret_code, UNTRUSTED_SITE, image.text);
    assert.equal(image.result.slots, undefined);
    assert.doesNotMatch(image.text, /DEMO/);
    const trusted = await open(browser, TRUSTED_HOST, { viaExtension: false });
    const full = await legacy(trusted, "imageCheckEnvir");
    assert.equal(full.result.ret_code, OK);
    assert.deepEqual([image.width, image.height], [full.width, full.height], "the size tells nothing");
    await trusted.close();
    await page.close();
  });

  test("a page whose origin does not parse (the trusted host with a trailing dot) never signs", T, async () => {
    const page = await browser.context.newPage();
    const url = pageUrl(TRUSTED_HOST, { viaExtension: false }).replace(`//${TRUSTED_HOST}`, `//${DOTTED_HOST}`);
    await page.goto(url, { timeout: GUARD_MS });
    assert.match(await page.evaluate(() => location.origin), /\.gov\.tw\.(:\d+)?$/);
    const before = daemon.dialogLog();
    const r = await viaPopup(page, "popupSign", "attacker's text", DEMO_PIN);
    assert.equal(r.result.ret_code, UNTRUSTED_SITE, JSON.stringify(r.result));
    assert.equal(r.result.signature, undefined);
    assert.equal(daemon.dialogLog(), before, "no dialog either");
    await page.close();
  });

  test("addDomain: the dialog names the site; a no is remembered; a yes lets the site sign", T, async () => {
    const [refusing, approving] = ASKING_HOSTS;
    await browser.loopback(site.origin(refusing), "denied");
    const page = await open(browser, refusing, { viaExtension: false });
    daemon.dialog("deny");
    const asked = daemon.dialogLog().length;
    // Chromium sends no Referer from an https page to http://localhost (a downgrade), so the
    // site asked about is domain= as https, and only that origin is answered: here the page's.
    const refused = await legacy(page, "addDomain");
    assert.equal(refused.result.ret_code, CANCELLED);
    assert.match(daemon.dialogLog().slice(asked), new RegExp(refusing.replace(/\./g, "\\.")));
    assert.equal((await viaPopup(page, "popupSign", TBS, DEMO_PIN)).result.ret_code, UNTRUSTED_SITE);
    // Asked again: answered from memory, no dialog.
    const again = daemon.dialogLog().length;
    assert.equal((await legacy(page, "addDomain")).result.ret_code, CANCELLED);
    assert.equal(daemon.dialogLog().length, again, "a refusal is remembered");
    await page.close();

    const other = await open(browser, approving, { viaExtension: false });
    daemon.dialog("confirm");
    assert.equal((await legacy(other, "addDomain")).result.ret_code, OK);
    const certs = await viaPopup(other, "popupGetUserCert");
    await signAndVerify(other, "popupSign", certs.result);
    await other.close();
  });

  test("the self-test page cannot be framed by a page", T, async () => {
    const page = await browser.context.newPage();
    await page.goto(`${site.origin(UNTRUSTED_HOST)}/frame.html?port=${agentPort}`, { timeout: GUARD_MS });
    // Wait for the frame to commit something; a blocked frame commits the browser's error page.
    const committed = await page.waitForFunction(() => true).then(async () => {
      for (;;) {
        const frame = page.frames().find((f) => f !== page.mainFrame());
        const url = frame?.url() ?? "";
        if (url && url !== "about:blank") return url;
        await new Promise((r) => setTimeout(r, 50));
      }
    });
    assert.match(committed, /^chrome-error:/, `the self-test page loaded in a frame: ${committed}`);
    await page.close();
  });
});

describe("with the extension (legacy calls through the native host)", () => {
  let browser;
  before(async () => {
    browser = await launchBrowser({ dir, site, daemon, bins, extension: true });
    // No site gets the loopback permission: the extension must do without it.
    for (const host of [TRUSTED_HOST, UNTRUSTED_HOST, ASKING_HOSTS[2], ASKING_HOSTS[3]]) {
      await browser.loopback(site.origin(host), "denied");
    }
  });
  after(() => browser?.close());

  test("no loopback permission needed: XHR, fetch and the BMP probe reach the agent", T, async () => {
    const page = await open(browser, TRUSTED_HOST, { viaExtension: true });
    // The browser still blocks what the shim does not carry: the checks are on.
    assert.equal(await syncXhrReaches(page), false);
    const certs = await legacy(page, "xhrGetUserCert");
    assert.equal(certs.transport, "ok", JSON.stringify(certs));
    assert.equal(certs.result.ret_code, OK);
    assert.match(certs.contentType, /^application\/json/);
    const envir = await legacy(page, "fetchCheckEnvir");
    assert.equal(envir.transport, "ok", JSON.stringify(envir));
    assert.equal(envir.result.ret_code, OK);
    assert.equal(envir.result.slots[0].token.certs, undefined, "CheckEnvir has no certificates");
    const image = await legacy(page, "imageCheckEnvir");
    assert.equal(image.transport, "ok", JSON.stringify(image));
    assert.equal(image.result.ret_code, OK);
    assert.equal(image.result.slots[0].token.serialNumber, certs.result.slots[0].token.serialNumber);
    // Calls in flight together each get their own answer.
    const [a, b, c] = await Promise.all([
      legacy(page, "xhrGetUserCert"), legacy(page, "fetchCheckEnvir"), legacy(page, "imageCheckEnvir"),
    ]);
    assert.ok(a.result.slots[0].token.certs.length >= 2);
    assert.equal(b.result.slots[0].token.certs, undefined);
    assert.equal(c.result.ret_code, OK);
    assert.deepEqual(await legacyMessages(page), [], "the page never saw the shim's messages");
    await page.close();
  });

  test("no PIN from the page: the agent's own dialog asks, naming the site the browser reported", T, async () => {
    const page = await open(browser, TRUSTED_HOST, { viaExtension: true });
    const certs = await legacy(page, "xhrGetUserCert");
    daemon.dialog("pin");
    const r = await legacy(page, "xhrSign", TBS, "");
    assert.equal(r.result.ret_code, OK, JSON.stringify(r.result));
    assert.equal(opensslVerify(dir, r.result.signature, caCerts(certs.result)), TBS);
    assert.match(daemon.dialogLog(), new RegExp(TRUSTED_HOST.replace(/\./g, "\\.")));
    daemon.dialog("cancel");
    const cancelled = await legacy(page, "xhrSign", TBS, "");
    assert.equal(cancelled.result.ret_code, CANCELLED, JSON.stringify(cancelled.result));
    await page.close();
  });

  test("XHR signs (verified by openssl) and decrypts; the popup bridge still goes over HTTP and signs", T, async () => {
    const page = await open(browser, TRUSTED_HOST, { viaExtension: true });
    const certs = await legacy(page, "xhrGetUserCert");
    await signAndVerify(page, "xhrSign", certs.result);
    await signAndVerify(page, "popupSign", certs.result);
    const keyx = certs.result.slots[0].token.certs.find((c) => c.usage === "keyEncipherment|dataEncipherment");
    const secret = "機密 through the extension";
    for (const [kind, cipherType] of [["cms", "PKCS7"], ["pkcs1", "PKCS1"]]) {
      const r = await legacy(page, "xhrDecrypt", opensslEncrypt(dir, keyx.certb64, secret, kind), cipherType, "NONE", DEMO_PIN);
      assert.equal(r.result.func, "decrypt", JSON.stringify(r));
      assert.equal(r.result.plain, secret, cipherType);
    }
    await page.close();
  });

  test("a wrong PIN is 0x76100006 with the tries left in last_error; the right one signs again", T, async () => {
    const page = await open(browser, TRUSTED_HOST, { viaExtension: true });
    const wrong = await legacy(page, "xhrSign", TBS, OTHER_WRONG_PIN);
    assert.equal(wrong.result.ret_code, LOGIN, JSON.stringify(wrong.result));
    assert.equal(wrong.result.last_error, TWO_TRIES_LEFT);
    const right = await legacy(page, "xhrSign", TBS, DEMO_PIN);
    assert.equal(right.result.ret_code, OK);
    await page.close();
  });

  test("an untrusted site gets 0x76000031 from XHR, fetch and the BMP probe", T, async () => {
    const page = await open(browser, UNTRUSTED_HOST, { viaExtension: true });
    const sign = await legacy(page, "xhrSign", TBS, DEMO_PIN);
    assert.equal(sign.result.ret_code, UNTRUSTED_SITE, JSON.stringify(sign));
    assert.equal((await legacy(page, "xhrGetUserCert")).result.ret_code, UNTRUSTED_SITE);
    assert.equal((await legacy(page, "fetchCheckEnvir")).result.ret_code, UNTRUSTED_SITE);
    const image = await legacy(page, "imageCheckEnvir");
    assert.equal(image.transport, "ok", JSON.stringify(image));
    assert.equal(image.result.ret_code, UNTRUSTED_SITE);
    await page.close();
  });

  test("a document over 512 KiB is left to HTTP: blocked without the permission, signed with it", T, async () => {
    // Its PKCS7 answer (content attached, base64 twice over) would not fit the 1 MB a native
    // host may send the browser; over HTTP it fits the agent's 2 MiB.
    const document = `${TBS}\n${"申請內容 form data 0123456789\n".repeat(17_000)}`;
    const page = await open(browser, TRUSTED_HOST, { viaExtension: true });
    const certs = await legacy(page, "xhrGetUserCert");
    assert.equal((await legacy(page, "xhrSign", document, DEMO_PIN)).transport, "network-error");
    await browser.loopback(site.origin(TRUSTED_HOST), "granted");
    try {
      const r = await legacy(page, "xhrSign", document, DEMO_PIN);
      assert.equal(r.transport, "ok", JSON.stringify(r).slice(0, 200));
      assert.equal(r.result.ret_code, OK);
      assert.equal(opensslVerify(dir, r.result.signature, caCerts(certs.result)), document);
    } finally {
      await browser.loopback(site.origin(TRUSTED_HOST), "denied");
    }
    await page.close();
  });

  test("addDomain (a window, not intercepted): refused and remembered; another site approved signs by XHR", T, async () => {
    const page = await open(browser, ASKING_HOSTS[2], { viaExtension: true });
    daemon.dialog("deny");
    assert.equal((await legacy(page, "addDomain")).result.ret_code, CANCELLED);
    assert.equal((await legacy(page, "xhrGetUserCert")).result.ret_code, UNTRUSTED_SITE);
    await page.close();
    const other = await open(browser, ASKING_HOSTS[3], { viaExtension: true });
    daemon.dialog("confirm");
    assert.equal((await legacy(other, "addDomain")).result.ret_code, OK);
    const certs = await legacy(other, "xhrGetUserCert");
    assert.equal(certs.result.ret_code, OK);
    await signAndVerify(other, "xhrSign", certs.result);
    await other.close();
  });
});
