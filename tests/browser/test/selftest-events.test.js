// The extension's own self-test page, opened in Chromium as a person opens it from the
// extension's menu, follows a card going in and out of a reader without being reloaded: its
// card events come over the extension's runtime port, through the native host, from the
// daemon's reader watcher (the daemon once refused them, taking the page for an untrusted
// site; issue 13). Real pcscd with the vpcd driver and our virtual card (`virtual-card
// --test-bed`, which starts pcscd if needed and takes the test bed's lock on the vpcd
// readers), a SoftHSM2 token as the card driver. No site is trusted: the page is the user's
// own. Chromium only: Firefox gives the add-on's pages a per-profile origin that the test
// cannot open by name.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import readline from "node:readline";
import { after, before, describe, test } from "node:test";

import { EXTENSION_ID, Stack, bin, hangGuard } from "../lib/stack.js";

/** vpcd's first reader, where `virtual-card` puts its card by default. */
const READER = "Virtual PCD 00 00";

/** Resolves with the next line `lines` gives that equals `wanted`. */
function lineFrom(lines, wanted) {
  return new Promise((resolve, reject) => {
    const onLine = (line) => {
      if (line.trim() !== wanted) return;
      lines.off("line", onLine);
      resolve();
    };
    lines.on("line", onLine);
    lines.once("close", () => reject(new Error(`virtual-card ended before saying ${wanted}`)));
  });
}

/** The self-test page's line about `READER` ("" while it shows none). */
async function readerLine(page) {
  return page.evaluate((reader) => {
    const line = [...document.querySelectorAll("#cards p")].find((p) => p.textContent.startsWith(reader));
    return line ? line.textContent : "";
  }, READER);
}

/** Waits until the page's line about the reader passes `check`; returns the line. */
async function readerLineWhere(page, check) {
  for (;;) {
    const line = await readerLine(page);
    if (check(line)) return line;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("the self-test page follows the card (chromium)", { timeout: 300_000 }, () => {
  let stack;
  let card;

  before(async () => {
    stack = await Stack.create();
    await stack.useSoftHsmCard();
    await stack.writeConfig({ trustedSites: [] });
    card = spawn(bin("virtual-card"), ["--test-bed"], { stdio: ["pipe", "pipe", "inherit"] });
    card.lines = readline.createInterface({ input: card.stdout });
    await hangGuard(lineFrom(card.lines, "ready"), 60_000, "pcscd with the vpcd readers");
    await stack.launchBrowser();
  });

  after(async () => {
    if (card && card.exitCode === null) card.kill();
    await stack?.close();
  });

  test("a card put in and taken out shows on the open page, no reload", async () => {
    const page = await stack.newPage();
    let reloaded = false;
    page.on("load", () => { reloaded = true; });
    await page.goto(`chrome-extension://${EXTENSION_ID}/selftest/selftest.html`);
    reloaded = false;
    const empty = await hangGuard(readerLineWhere(page, (l) => l !== ""), 60_000, "the reader on the page");
    assert.doesNotMatch(empty, /MOICA/, "no card in the reader yet");

    const inserted = lineFrom(card.lines, "inserted");
    card.stdin.write("go\n");
    await hangGuard(inserted, 30_000, "the virtual card going in");
    const shown = await hangGuard(readerLineWhere(page, (l) => l.includes("(MOICA)")), 60_000,
      "the card-inserted event on the page");
    assert.match(shown, /^Virtual PCD 00 00 — /);

    const gone = new Promise((resolve) => card.once("exit", resolve));
    card.kill();
    await gone;
    await hangGuard(readerLineWhere(page, (l) => l !== "" && !l.includes("MOICA")), 60_000,
      "the card-removed event on the page");
    assert.equal(reloaded, false, "the page changed by its events, not by loading again");
  });
});
