// What the login page says when there is no card driver, no card, or the card is pulled out:
// the daemon's real errors, carried through the native host and the extension to the page.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";

import {
  Stack, demoCaPem, hangGuard, makeEmptySoftHsm, removeCard, startSite,
} from "../lib/stack.js";
import { logIn } from "../lib/site.js";

const run = promisify(execFile);

/** A stack with the card `setCard` gives it, the site (trusted) and the browser started. */
async function world(setCard) {
  const stack = await Stack.create();
  await setCard(stack);
  // Without a card of ours, the site trusts the demo CA: it must trust something to start.
  const trust = stack.card.chainPem ?? await demoCaPem(stack.dir);
  const site = await startSite({ trust: [trust], sites: 1 });
  await stack.writeConfig({ trustedSites: site.origins });
  await stack.launchBrowser();
  return { stack, card: stack.card, site, origin: site.origins[0] };
}

describe("card errors on the login page", { timeout: 300_000 }, () => {
  const worlds = [];
  after(async () => {
    for (const w of worlds) {
      await w.stack.close();
      await w.site.stop();
    }
  });

  test("no card driver: NO_MODULE", async () => {
    const w = await world(async (stack) => {
      stack.card = { module: path.join(stack.dir, "no-such-module.so") };
    });
    worlds.push(w);
    const page = await w.stack.newPage();
    await page.goto(w.origin);
    const outcome = await logIn(page);
    assert.equal(outcome.loggedIn, false);
    assert.equal(outcome.code, "NO_MODULE");
    assert.match(outcome.text, /找不到憑證卡的驅動程式/);
  });

  test("a driver but no card: NO_CARD", async () => {
    const w = await world(async (stack) => {
      stack.card = await makeEmptySoftHsm(stack.dir);
    });
    worlds.push(w);
    const page = await w.stack.newPage();
    await page.goto(w.origin);
    const outcome = await logIn(page);
    assert.equal(outcome.code, "NO_CARD");
    assert.match(outcome.text, /請將憑證卡插入讀卡機/);
  });

  test("the card pulled out while the PIN dialog is open: CARD_REMOVED, then NO_CARD", async () => {
    const w = await world((stack) => stack.useSoftHsmCard());
    worlds.push(w);
    const gate = path.join(w.stack.dir, "pinentry.gate");
    await run("mkfifo", [gate]);
    await w.stack.setPinentry({ gate });
    const page = await w.stack.newPage();
    await page.goto(w.origin);
    const outcome = logIn(page);
    // Opening the FIFO for writing returns once the PIN dialog has opened it for reading.
    const writer = await hangGuard(fsp.open(gate, "w"), 60_000, "the PIN dialog");
    await removeCard(w.card);
    await writer.close(); // the dialog answers with the (right) PIN now
    const removed = await outcome;
    assert.equal(removed.code, "CARD_REMOVED", removed.text);
    assert.match(removed.text, /憑證卡在作業中被移除/);

    await w.stack.setPinentry();
    await page.locator("#login").click();
    await page.locator('#message[data-code="NO_CARD"]').waitFor();
  });

  test("the agent stopped while the PIN dialog is open: the page is told, the next try works", async () => {
    const w = await world((stack) => stack.useSoftHsmCard());
    worlds.push(w);
    const gate = path.join(w.stack.dir, "pinentry.gate");
    await run("mkfifo", [gate]);
    await w.stack.setPinentry({ gate });
    const page = await w.stack.newPage();
    await page.goto(w.origin);
    const outcome = logIn(page);
    const writer = await hangGuard(fsp.open(gate, "w"), 60_000, "the PIN dialog");
    const stopped = w.stack.stopDaemon();
    const gone = await outcome;
    // The stopping daemon closes the dialog and answers itself (the agent stopped); a daemon
    // killed outright leaves the extension to say it is unreachable. Either way: INTERNAL.
    assert.equal(gone.code, "INTERNAL", gone.text);
    assert.match(gone.text, /card-agent/);
    await writer.close();
    await stopped;

    // The next request starts a new native host, which starts a new daemon.
    await w.stack.setPinentry();
    const again = await logIn(page);
    assert.equal(again.loggedIn, true, JSON.stringify(again));
  });
});
