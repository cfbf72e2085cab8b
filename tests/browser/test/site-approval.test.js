// A site the user has not approved cannot use the card: the agent asks in its own dialog, a
// "no" leaves the page with SITE_NOT_TRUSTED, a "yes" lets it through and is remembered, also
// by the next daemon.

import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { BROWSERS, Stack, startSite } from "../lib/stack.js";
import { logIn, logOut } from "../lib/site.js";

// Once per browser (lib/stack.js BROWSERS): the same cases in Chromium and Firefox.
for (const browser of BROWSERS) describe(`approving a site (${browser})`, { timeout: 300_000 }, () => {
  let stack;
  let site;
  let origin;
  let page;

  const confirms = async () => (await stack.pinentryCommands()).filter((c) => c.startsWith("CONFIRM")).length;

  before(async () => {
    stack = await Stack.create({ browser });
    const card = await stack.useSoftHsmCard();
    site = await startSite({ trust: [card.chainPem], sites: 1 });
    [origin] = site.origins;
    await stack.writeConfig({ trustedSites: [] });
    await stack.launchBrowser();
    page = await stack.newPage();
    await page.goto(origin);
  });

  after(async () => {
    await stack?.close();
    await site?.stop();
  });

  test("a site the user refuses gets SITE_NOT_TRUSTED, and is asked again next time", async () => {
    await stack.setPinentry({ action: "deny" });
    const refused = await logIn(page);
    assert.equal(refused.code, "SITE_NOT_TRUSTED");
    assert.match(refused.text, /您尚未允許本網站使用憑證卡/);
    assert.equal(await confirms(), 1);
    // The question named the site.
    const commands = await stack.pinentryCommands();
    assert.ok(commands.some((c) => c.startsWith("SETDESC") && c.includes(origin)), commands.join("\n"));
    // Nothing reached the card: no PIN was asked for.
    assert.ok(!commands.includes("GETPIN"));

    assert.equal((await logIn(page)).code, "SITE_NOT_TRUSTED");
    assert.equal(await confirms(), 2, "a refusal is not remembered");
  });

  test("closing the question is a refusal too", async () => {
    // The question has two buttons, Allow and Deny; closing it (a pinentry "cancel") is Deny.
    await stack.setPinentry({ action: "cancel" });
    assert.equal((await logIn(page)).code, "SITE_NOT_TRUSTED");
  });

  test("once approved, the site logs in, and is not asked about again", async () => {
    await stack.setPinentry({ action: "confirm" });
    const before = await confirms();
    const outcome = await logIn(page);
    assert.equal(outcome.loggedIn, true, JSON.stringify(outcome));
    assert.equal(await confirms(), before + 1);
    await logOut(page);

    // Now the user would say no, but is not asked: the approval holds.
    await stack.setPinentry({ action: "deny" });
    assert.equal((await logIn(page)).loggedIn, true);
    assert.equal(await confirms(), before + 1);
    await logOut(page);

    // Cancelling the PIN dialog is the user's choice: the page goes back quietly.
    await stack.setPinentry({ action: "cancel" });
    const cancelled = await logIn(page);
    assert.equal(cancelled.code, "USER_CANCELLED");
    assert.equal(await page.locator("#message").getAttribute("data-state"), "info");
    assert.match(cancelled.text, /已取消登入/);
  });

  test("the approval survives the daemon", async () => {
    const approvals = JSON.parse(await fsp.readFile(
      path.join(stack.dir, "state", "card-agent", "trusted-sites.json"), "utf8"));
    assert.ok(JSON.stringify(approvals).includes(origin), JSON.stringify(approvals));
    const asked = await confirms();
    const old = await stack.daemonPid();
    await stack.stopDaemon();
    // The next request reopens the native host, which starts a new daemon.
    await stack.setPinentry({ action: "deny" });
    assert.equal((await logIn(page)).loggedIn, true);
    assert.notEqual(await stack.daemonPid(), old);
    assert.equal(await confirms(), asked);
  });
});
