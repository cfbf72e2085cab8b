// Logging in to the demo e-government site with the SoftHSM2 test card, through the real
// extension, native host and daemon; and the server refusing every token it must refuse.

import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";

import { GECKO_ID } from "../lib/firefox.js";
import { BROWSERS, EXTENSION_ID, Stack, startSite } from "../lib/stack.js";
import {
  authenticateIn, challengeIn, logIn, logOut, postToken, randomNonce,
} from "../lib/site.js";

// Once per browser (lib/stack.js BROWSERS): the same cases in Chromium and Firefox.
for (const browser of BROWSERS) describe(`login with the SoftHSM2 test card (${browser})`, { timeout: 300_000 }, () => {
  let stack;
  let site;
  let card;
  let siteA;
  let siteB;

  before(async () => {
    stack = await Stack.create({ browser });
    card = await stack.useSoftHsmCard();
    site = await startSite({ trust: [card.chainPem], sites: 2 });
    [siteA, siteB] = site.origins;
    // Both sites approved beforehand; approval itself is tested in site-approval.test.js.
    await stack.writeConfig({ trustedSites: [siteA, siteB] });
    await stack.launchBrowser();
  });

  // Every test starts logged out: the tabs share one cookie jar.
  beforeEach(() => stack.clearCookies());

  after(async () => {
    await stack?.close();
    await site?.stop();
  });

  test("the holder logs in and the site shows the name and card family", async () => {
    const page = await stack.newPage();
    await page.goto(siteA);
    await page.locator('#extension-status[data-state="found"]').waitFor();
    const outcome = await logIn(page);
    assert.deepEqual(outcome, { loggedIn: true, name: card.holder, family: "MOICA" });
    assert.match(await page.locator("#who").textContent(), /王小明 TEST · MOICA/);
    // The PIN went through the agent's dialog, which named the site; the page never saw it.
    const commands = await stack.pinentryCommands();
    assert.ok(commands.some((c) => c.startsWith("GETPIN")), commands.join("\n"));
    assert.ok(commands.some((c) => c.startsWith("SETDESC") && c.includes(siteA)), commands.join("\n"));
    assert.ok(!commands.some((c) => c.includes(card.pin)), "the PIN must never be logged");
    // The native host learned from the browser's arguments which extension started it:
    // Chromium passes the extension's origin, Firefox the manifest's path and the add-on id.
    const seen = JSON.parse(await fsp.readFile(
      path.join(stack.dir, "state", "card-agent", "extension-last-seen"), "utf8"));
    assert.equal(seen.caller, browser === "firefox" ? GECKO_ID : `chrome-extension://${EXTENSION_ID}/`);
    await logOut(page);
    await page.close();
  });

  test("a token posted twice is refused the second time", async () => {
    const page = await stack.newPage();
    await page.goto(siteA);
    const token = await authenticateIn(page, await challengeIn(page));
    assert.equal(token.format, "card-agent-auth:1");
    const first = await postToken(page, token);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const second = await postToken(page, token);
    assert.equal(second.status, 401);
    assert.equal(second.body.reason, "no-challenge");
    // Nor does it pass for the session's next challenge.
    await challengeIn(page);
    const third = await postToken(page, token);
    assert.equal(third.status, 401);
    assert.equal(third.body.reason, "signature-invalid");
    await page.close();
  });

  test("a token signed on another origin is refused, even for the right nonce", async () => {
    // The phishing case: site B gets a challenge from site A for its own session at A, has the
    // card sign it on B, and posts the token to A.
    const pageA = await stack.newPage();
    await pageA.goto(siteA);
    const pageB = await stack.newPage();
    await pageB.goto(siteB);
    const nonceFromA = await challengeIn(pageA);
    const tokenFromB = await authenticateIn(pageB, nonceFromA);
    assert.equal(tokenFromB.format, "card-agent-auth:1", JSON.stringify(tokenFromB));
    const refused = await postToken(pageA, tokenFromB);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.reason, "signature-invalid");
    // The same steps on A itself succeed: the origin made the difference.
    const tokenFromA = await authenticateIn(pageA, await challengeIn(pageA));
    const accepted = await postToken(pageA, tokenFromA);
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    await pageA.close();
    await pageB.close();
  });

  test("a token for a nonce the server did not issue is refused", async () => {
    const page = await stack.newPage();
    await page.goto(siteB);
    await challengeIn(page);
    const forged = await postToken(page, await authenticateIn(page, randomNonce()));
    assert.equal(forged.status, 401);
    assert.equal(forged.body.reason, "signature-invalid");
    // An earlier nonce is no better: a new challenge replaces it.
    const stale = await challengeIn(page);
    await challengeIn(page);
    const late = await postToken(page, await authenticateIn(page, stale));
    assert.equal(late.status, 401);
    assert.equal(late.body.reason, "signature-invalid");
    await page.close();
  });

  test("two tabs log in at the same time", async () => {
    const pageA = await stack.newPage();
    const pageB = await stack.newPage();
    await pageA.goto(siteA);
    await pageB.goto(siteB);
    const [a, b] = await Promise.all([logIn(pageA), logIn(pageB)]);
    assert.deepEqual(a, { loggedIn: true, name: card.holder, family: "MOICA" });
    assert.deepEqual(b, { loggedIn: true, name: card.holder, family: "MOICA" });
    await pageA.close();
    await pageB.close();
  });
});
