// Attack 12 in Chromium: another user's program holds 61161, the port pages hard-code. Every
// page's PIN and document sent there would be that program's. The daemon runs without the
// port; with the extension, pages' calls are carried over native messaging and nothing reaches
// the stranger's listener: not the calls the shim cannot carry (a document over 512 KiB), not
// the popup bridge's window (it does not open), not a synchronous XHR.
// Needs a private network namespace (run-tests.sh), where 61161 is free for the listener.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  GUARD_MS, LEGACY_PORT, TRUSTED_HOST, binaries, launchBrowser, legacy, portIsFree, startDaemon,
  startForeignListener, startSite,
} from "./harness.js";

const DEMO_PIN = "123456";
const dir = mkdtempSync(path.join(tmpdir(), "card-agent-port-taken-"));
let site;
let daemon;
let foreign;
let browser;
let skip = false;

before(async () => {
  const bins = binaries();
  if (!process.env.CARD_AGENT_TEST_NETNS || !(await portIsFree(LEGACY_PORT))) {
    // Outside a private namespace 61161 may be someone's real agent: not ours to disturb.
    skip = true;
    return;
  }
  try {
    foreign = await startForeignListener(dir, LEGACY_PORT);
  } catch {
    // setpriv needs real root (in a user namespace uid 65534 is not mapped).
    skip = true;
    return;
  }
  site = await startSite(dir);
  daemon = await startDaemon({ dir, agentPort: LEGACY_PORT, bins, portTaken: true });
  browser = await launchBrowser({ dir, site, daemon, bins, extension: true });
  await browser.loopback(site.origin(TRUSTED_HOST), "denied");
});

after(async () => {
  await browser?.close();
  await daemon?.stop();
  await site?.close();
  foreign?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("another user's listener on 61161 receives nothing from a page; calls go through the extension", { timeout: 4 * GUARD_MS }, async (t) => {
  if (skip) {
    t.skip("needs a private network namespace (run-tests.sh) and root");
    return;
  }
  assert.match(daemon.log(), /legacy API not started/);
  assert.match(daemon.log(), /nobody/, "the daemon names the other user's program");
  await browser.loopback(site.origin(TRUSTED_HOST), "granted");
  const page = await browser.context.newPage();
  await page.goto(`${site.origin(TRUSTED_HOST)}/index.html`, { timeout: GUARD_MS });
  const certs = await legacy(page, "xhrGetUserCert");
  assert.equal(certs.transport, "ok", JSON.stringify(certs));
  assert.equal(certs.result.ret_code, 0);
  const signed = await legacy(page, "xhrSign", "through the extension", DEMO_PIN);
  assert.equal(signed.result.ret_code, 0);
  // What the shim cannot carry is not sent to the port either, even with the permission.
  const big = `${"申請內容 form data 0123456789\n".repeat(17_000)}`;
  assert.equal((await legacy(page, "xhrSign", big, DEMO_PIN)).transport, "network-error");
  const sync = await page.evaluate(() => {
    const x = new XMLHttpRequest();
    x.open("GET", "http://localhost:61161/pkcs11info", false);
    try { x.send(); return "sent"; } catch (e) { return e.name; }
  });
  assert.equal(sync, "NetworkError");
  // The popup bridge's window does not open on the stranger's port.
  const popup = await legacy(page, "popupSign", "to the popup", DEMO_PIN);
  assert.equal(popup.transport, "blocked", JSON.stringify(popup));
  assert.equal(foreign.connections(), 0, "a call reached the other user's listener");
  await page.close();
});
