// The toolbar popup (opened in a tab) reaches the agent through the native host and lists the
// SoftHSM2 test card's certificates.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { EXTENSION_ID, Stack } from "../lib/stack.js";

describe("the extension popup", { timeout: 300_000 }, () => {
  let stack;
  let card;

  before(async () => {
    stack = await Stack.create();
    card = await stack.useSoftHsmCard();
    await stack.launchBrowser();
  });

  after(() => stack?.close());

  test("shows the agent running and the card's holder", async () => {
    const page = await stack.newPage();
    await page.goto(`chrome-extension://${EXTENSION_ID}/popup.html`);
    await page.locator("#cards-section:not([hidden])").waitFor({ timeout: 60_000 });
    assert.match(await page.locator("#agent").getAttribute("class"), /level-ok/);
    const cards = await page.locator("#cards").textContent();
    assert.ok(cards.includes(card.holder), cards);
    // The popup is the extension's own page: no site question was asked.
    assert.ok(!(await stack.pinentryCommands()).some((c) => c.startsWith("CONFIRM")));
  });
});
