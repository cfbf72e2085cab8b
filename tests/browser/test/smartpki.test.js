// SmartPKI pages through card-agent, with no SmartPKI installed: the demo site's /smartpki page
// (written to SmartPKI's page API, the way the business portal's login is) finds the
// extension, opens a port, runs the sign chain with the PIN it took itself, and the site and
// openssl verify the PKCS#7. A wrong PIN is refused and is never sent to the card again (on the
// demo token, which counts tries); an untrusted site gets nothing without the user's yes; a
// closed port and a stopped agent end the page's port with SmartPKI's own error numbers.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { BROWSERS, DEMO_PIN, Stack, demoCaPem, startSite } from "../lib/stack.js";

const run = promisify(execFile);

/** Presses the page's login and waits for its outcome. */
async function smartpkiLogin(page, pin) {
  await page.locator("#pin").fill(pin);
  await page.locator("#login:enabled").click();
  return outcome(page);
}

async function outcome(page) {
  await page.locator('#message[data-state="ok"], #message[data-state="error"]').waitFor({ timeout: 120_000 });
  const message = page.locator("#message");
  const result = {
    state: await message.getAttribute("data-state"),
    code: await message.getAttribute("data-code"),
    text: await message.textContent(),
  };
  // Ready for the next action.
  await page.evaluate(() => {
    const m = document.getElementById("message");
    delete m.dataset.state;
  });
  return result;
}

async function openSmartPkiPage(stack, origin) {
  const page = await stack.newPage();
  await page.goto(`${origin}/smartpki`);
  await page.locator('#extension-status[data-state="found"]').waitFor({ timeout: 30_000 });
  return page;
}

// Once per browser (lib/stack.js BROWSERS): the same cases in Chromium and Firefox.
for (const browser of BROWSERS) describe(`a SmartPKI page on the SoftHSM card (${browser})`, { timeout: 300_000 }, () => {
  let stack;
  let site;
  let card;
  let trusted;
  let untrusted;

  before(async () => {
    stack = await Stack.create({ browser });
    card = await stack.useSoftHsmCard();
    site = await startSite({ trust: [card.chainPem], sites: 2 });
    [trusted, untrusted] = site.origins;
    // SmartPKI pages take the PIN themselves: the agent accepts it from trusted sites.
    await stack.writeConfig({ trustedSites: [trusted], pinEntry: "auto" });
    await stack.launchBrowser();
  });

  after(async () => {
    await stack?.close();
    await site?.stop();
  });

  test("the page finds SmartPKI's names, and ziRSAKey encrypts as jsbn's RSAKey", async () => {
    const page = await openSmartPkiPage(stack, trusted);
    const { publicKey, privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const modulus = Buffer.from(publicKey.export({ format: "jwk" }).n, "base64url").toString("hex");
    const seen = await page.evaluate((n) => {
      const key = new window.ziRSAKey();
      key.setPublic(n, "10001");
      return {
        version: window.zhaninfo.smartpki.version,
        connect: typeof navigator.connectSmartPKI,
        cipher: key.encrypt("246810_PKI"),
        tooLong: key.encrypt("x".repeat(300)),
      };
    }, modulus);
    assert.equal(seen.version, "0.0.1.3");
    assert.equal(seen.connect, "function");
    assert.equal(seen.tooLong, null);
    assert.match(seen.cipher, /^[0-9a-f]+$/);
    assert.equal(seen.cipher.length % 2, 0);
    // Node no longer decrypts PKCS#1 v1.5 itself: the raw block, and its padding checked here.
    const block = crypto.privateDecrypt(
      { key: privateKey, padding: crypto.constants.RSA_NO_PADDING },
      Buffer.from(seen.cipher.padStart(512, "0"), "hex"),
    );
    assert.deepEqual([block[0], block[1]], [0, 2]);
    const end = block.indexOf(0, 2);
    assert.ok(end >= 10);
    assert.equal(block.subarray(end + 1).toString(), "246810_PKI");
    await page.close();
  });

  test("the login chain signs, and the site and openssl verify the PKCS#7", async () => {
    const page = await openSmartPkiPage(stack, trusted);
    const content = "login 登入 2026";
    const result = await smartpkiLogin(page, card.pin);
    assert.equal(result.state, "ok", result.text);
    assert.equal(await page.locator("#cert-type").textContent(), "1");
    assert.equal(await page.locator("#name").textContent(), card.holder);
    assert.match(await page.locator("#verdict").textContent(), new RegExp(`^OK: ${card.holder}`));
    assert.match(await page.locator("#subject").textContent(), /SERIALNUMBER=/);

    const signature = path.join(stack.dir, "smartpki.p7s");
    const document = path.join(stack.dir, "smartpki.txt");
    await fsp.writeFile(signature, Buffer.from(await page.locator("#signed-data").inputValue(), "base64"));
    await fsp.writeFile(document, content);
    await run("openssl", [
      "cms", "-verify", "-binary", "-inform", "DER", "-in", signature, "-content", document,
      "-CAfile", card.chainPem, "-purpose", "any", "-out", "/dev/null",
    ]);
    // Detached and without signed attributes, as the page's style asked.
    const { stdout } = await run("openssl", ["cms", "-cmsout", "-print", "-inform", "DER", "-in", signature]);
    assert.match(stdout, /signedAttrs:\s*<ABSENT>/);
    assert.match(stdout, /eContent: <ABSENT>/);

    // The next click reuses the port (info again) and works the same.
    assert.equal((await smartpkiLogin(page, card.pin)).state, "ok");
    await page.close();
  });

  test("a wrong PIN stops the chain with the card's answer; the right one then works", async () => {
    const page = await openSmartPkiPage(stack, trusted);
    const wrong = await smartpkiLogin(page, "135790");
    assert.equal(wrong.code, "9008", wrong.text);
    assert.match(wrong.text, /^LoadCertificateByHca: PIN 碼錯誤/);
    const malformed = await smartpkiLogin(page, "12");
    assert.equal(malformed.code, "9010", malformed.text);
    assert.equal((await smartpkiLogin(page, card.pin)).state, "ok");
    // The PIN went through the page, never through the agent's dialog, and was never logged.
    const commands = await stack.pinentryCommands();
    assert.ok(!commands.includes("GETPIN"), commands.join("\n"));
    await page.close();
  });

  test("an untrusted site gets nothing unless the user says yes", async () => {
    await stack.setPinentry({ action: "deny" });
    const page = await openSmartPkiPage(stack, untrusted);
    const refused = await smartpkiLogin(page, card.pin);
    assert.equal(refused.code, "20004", refused.text);
    assert.match(refused.text, /此網站不在您的信任網站清單中/);
    const commands = await stack.pinentryCommands();
    assert.ok(commands.some((c) => c.startsWith("SETDESC") && c.includes(untrusted)), commands.join("\n"));
    assert.equal(await page.locator("#record").getAttribute("hidden"), "");

    // Yes: the port opens and the chain runs.
    await stack.setPinentry({ action: "confirm" });
    assert.equal((await smartpkiLogin(page, card.pin)).state, "ok");
    await page.close();
  });

  test("the port closing: by the page (20002), and when the agent stops (20002, then reconnects)", async () => {
    const page = await openSmartPkiPage(stack, trusted);
    assert.equal((await smartpkiLogin(page, card.pin)).state, "ok");
    await page.locator("#close").click();
    const closed = await outcome(page);
    assert.equal(closed.code, "20002", closed.text);
    // A new port on the next click.
    assert.equal((await smartpkiLogin(page, card.pin)).state, "ok");

    await stack.stopDaemon();
    const dropped = await smartpkiLogin(page, card.pin);
    assert.equal(dropped.code, "20002", dropped.text);
    // The next click opens a new port; the native host starts a new agent.
    assert.equal((await smartpkiLogin(page, card.pin)).state, "ok");
    await page.close();
  });
});

for (const browser of BROWSERS) describe(`a SmartPKI page on the demo token, which counts PIN tries (${browser})`, { timeout: 300_000 }, () => {
  let stack;
  let site;

  before(async () => {
    stack = await Stack.create({ browser });
    site = await startSite({ trust: [await demoCaPem(stack.dir)], sites: 1 });
    await stack.writeConfig({ trustedSites: site.origins, pinEntry: "auto" });
    await stack.startDemoDaemon();
    await stack.launchBrowser();
  });

  after(async () => {
    await stack?.close();
    await site?.stop();
  });

  test("a rejected PIN costs one try and never reaches the card again", async () => {
    const page = await openSmartPkiPage(stack, site.origins[0]);
    const first = await smartpkiLogin(page, "975318");
    assert.equal(first.code, "9008", first.text);
    assert.match(first.text, /剩餘 2 次嘗試機會/);
    // The same PIN again, twice (a person pressing the button again): the card is not asked,
    // so it still has 2 tries.
    for (let i = 0; i < 2; i += 1) {
      const again = await smartpkiLogin(page, "975318");
      assert.equal(again.code, "9008");
      assert.match(again.text, /剩餘 2 次嘗試機會/);
    }
    assert.equal((await smartpkiLogin(page, DEMO_PIN)).state, "ok");
    assert.equal(await page.locator("#cert-type").textContent(), "1");
    await page.close();
  });
});
