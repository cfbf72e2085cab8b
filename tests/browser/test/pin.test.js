// Wrong PINs on the demo token, which counts tries like a card (3, then locked): the page says
// how many tries are left, the same wrong PIN typed again costs no try, a right PIN resets the
// count, and a locked card is said to be locked.
// SoftHSM2 never counts tries, so this runs on `card-agent serve --demo`, started by the test;
// the native host connects to it instead of starting its own.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { BROWSERS, DEMO_PIN, demoSiteWorld } from "../lib/stack.js";
import { logIn, logOut } from "../lib/site.js";

// Once per browser (lib/stack.js BROWSERS): the same cases in Chromium and Firefox.
for (const browser of BROWSERS) describe(`PIN tries on the demo token (${browser})`, { timeout: 300_000 }, () => {
  let world;
  let stack;
  let page;

  before(async () => {
    world = await demoSiteWorld({ browser });
    ({ stack, page } = world);
  });

  after(async () => {
    await world?.close();
  });

  test("a wrong PIN shows the tries left; the right one logs in", async () => {
    await stack.setPinentry({ pin: "135790" });
    let outcome = await logIn(page);
    assert.equal(outcome.code, "PIN_INCORRECT");
    assert.match(outcome.text, /PIN 碼錯誤，還可以再試 2 次。/);
    assert.match(outcome.text, /Wrong PIN: 2 tries left\./);

    // The same wrong PIN typed again never reaches the card: wrong, and the count stays.
    outcome = await logIn(page);
    assert.equal(outcome.code, "PIN_INCORRECT");
    assert.match(outcome.text, /還可以再試 2 次/);

    await stack.setPinentry({ pin: "246801" });
    outcome = await logIn(page);
    assert.equal(outcome.code, "PIN_INCORRECT");
    assert.match(outcome.text, /還可以再試 1 次/);
    // The agent's own dialog said so too, before the second try.
    const commands = await stack.pinentryCommands();
    assert.ok(commands.some((c) => c.startsWith("SETDESC") && c.includes("剩餘嘗試次數：2")), commands.join("\n"));
    assert.ok(commands.some((c) => c.startsWith("SETERROR") && c.includes("PIN 碼錯誤")), commands.join("\n"));

    await stack.setPinentry({ pin: DEMO_PIN });
    outcome = await logIn(page);
    assert.deepEqual(outcome, { loggedIn: true, name: "DEMO 示範用戶", family: "MOICA" });
    await logOut(page);
  });

  test("three wrong PINs lock the card, and the page says so", async () => {
    // A person trying three different wrong PINs (the same one again would not count).
    await stack.setPinentry({ pin: "975318" });
    assert.match((await logIn(page)).text, /還可以再試 2 次/);
    await stack.setPinentry({ pin: "864202" });
    assert.match((await logIn(page)).text, /還可以再試 1 次/);
    await stack.setPinentry({ pin: "753196" });
    const locked = await logIn(page);
    assert.equal(locked.code, "PIN_LOCKED");
    assert.match(locked.text, /PIN 碼已鎖住/);
    // Locked stays locked, even with the right PIN, and the agent no longer asks for it.
    const getpins = async () => (await stack.pinentryCommands()).filter((c) => c === "GETPIN").length;
    const asked = await getpins();
    await stack.setPinentry({ pin: DEMO_PIN });
    assert.equal((await logIn(page)).code, "PIN_LOCKED");
    assert.equal(await getpins(), asked, "a locked card's PIN must not be asked for");
  });
});
