// A page that stops waiting: sign() with an AbortSignal on the demo token, the agent's PIN
// dialog open (the fake pinentry never answers), then abort() in the page. The real path
// page library -> content script -> service worker -> native host -> daemon carries the
// cancel: the page hears AbortError at once, the hung dialog is closed (the agent shows one
// dialog at a time, so the next signature could not ask for its PIN otherwise), and the next
// signature, with a PIN typed, works.

import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import { after, before, describe, test } from "node:test";

import { BROWSERS, DEMO_PIN, demoSiteWorld, hangGuard } from "../lib/stack.js";

/** Resolves once the fake pinentry has been asked for a PIN `count` times in all. */
async function pinAsked(stack, count) {
  for (;;) {
    const asked = (await stack.pinentryCommands()).filter((c) => c === "GETPIN").length;
    if (asked >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The pids of this stack's fake pinentry dialogs still running (from /proc). */
async function openDialogs(stack) {
  const mark = `FAKE_PINENTRY_CONTROL=${stack.pinentryControl}`;
  const pids = [];
  for (const pid of (await fsp.readdir("/proc")).filter((name) => /^\d+$/.test(name))) {
    try {
      const argv0 = (await fsp.readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0")[0];
      const stat = await fsp.readFile(`/proc/${pid}/stat`, "utf8");
      const zombie = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
      if (zombie || !argv0.endsWith("fake-pinentry")) continue;
      if ((await fsp.readFile(`/proc/${pid}/environ`, "utf8")).split("\0").includes(mark)) pids.push(pid);
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Resolves once none of this stack's dialogs runs. */
async function dialogsClosed(stack) {
  while ((await openDialogs(stack)).length > 0) await new Promise((resolve) => setTimeout(resolve, 50));
}

// Once per browser (lib/stack.js BROWSERS): the same case in Chromium and Firefox.
for (const browser of BROWSERS) describe(`cancelling a signature from the page (${browser})`, { timeout: 300_000 }, () => {
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

  test("abort() closes the PIN dialog, signs nothing, and the next signature asks again", async () => {
    const thumbprint = await page.evaluate(async () => {
      const { getCertificates } = await import("/js/card-agent.js");
      const certificates = await getCertificates();
      return certificates.find((c) => c.hasPrivateKey && c.keyUsage.includes("digitalSignature")).sha256;
    });

    await stack.setPinentry({ action: "hang" });
    await page.evaluate(async (certificate) => {
      const { sign } = await import("/js/card-agent.js");
      window.cancelSigning = new AbortController();
      window.signing = sign({ certificate, data: "取消的表單 cancelled form", format: "pkcs1",
        signal: window.cancelSigning.signal })
        .then((result) => ({ signed: result.signature }), (error) => ({ name: error.name, code: error.code }));
    }, thumbprint);
    await hangGuard(pinAsked(stack, 1), 60_000, "the PIN dialog");
    assert.equal((await openDialogs(stack)).length, 1, "the PIN dialog is open");

    const outcome = await page.evaluate(async () => {
      window.cancelSigning.abort();
      return window.signing;
    });
    assert.equal(outcome.name, "AbortError", JSON.stringify(outcome));
    // The dialog's own deadline is 120 s away; the cancel closes it now.
    await hangGuard(dialogsClosed(stack), 60_000, "closing the cancelled dialog");

    // The hung dialog is gone: another signature gets a dialog of its own, and a PIN.
    await stack.setPinentry({ pin: DEMO_PIN });
    const next = await page.evaluate(async (certificate) => {
      const { sign } = await import("/js/card-agent.js");
      const result = await sign({ certificate, data: "next form", format: "pkcs1" });
      return result.signatureBytes.length;
    }, thumbprint);
    assert.ok(next >= 256, `an RSA signature, ${next} bytes`);
    const asked = (await stack.pinentryCommands()).filter((c) => c === "GETPIN").length;
    assert.equal(asked, 2, "one PIN dialog for each signature");
  });
});
