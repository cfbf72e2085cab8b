// Takes the screenshots in docs/screenshots/ from the real stack: the demo site's login page
// before and after logging in with the SoftHSM2 test card, a signed document, a wrong PIN on
// the demo token, and the extension's popup.
//
//   node tools/screenshots.js [output directory]     (default: ../../docs/screenshots)

import fsp from "node:fs/promises";
import path from "node:path";

import { DEMO_PIN, EXTENSION_ID, ROOT, Stack, demoCaPem, startSite } from "../lib/stack.js";
import { logIn } from "../lib/site.js";

const out = path.resolve(process.argv[2] ?? path.join(ROOT, "docs", "screenshots"));
await fsp.mkdir(out, { recursive: true });
async function shot(page, name) {
  await page.mouse.move(0, 0); // no hover highlight on the button just pressed
  await page.screenshot({ path: path.join(out, name), fullPage: true });
}

async function withStack(use) {
  const stack = await Stack.create();
  const sites = [];
  try {
    await use(stack, async (trust) => {
      const site = await startSite({ trust, sites: 1 });
      sites.push(site);
      return site.origins[0];
    });
  } finally {
    await stack.close();
    for (const site of sites) await site.stop();
  }
}

// The SoftHSM2 card: login, logged in, signing, popup.
await withStack(async (stack, startOne) => {
  const card = await stack.useSoftHsmCard();
  const origin = await startOne([card.chainPem]);
  await stack.writeConfig({ trustedSites: [origin] });
  await stack.launchBrowser();
  const page = await stack.newPage();
  await page.setViewportSize({ width: 960, height: 640 });
  await page.goto(origin);
  await page.locator('#extension-status[data-state="found"]').waitFor();
  await shot(page, "login.png");
  const outcome = await logIn(page);
  if (!outcome.loggedIn) throw new Error(`login failed: ${JSON.stringify(outcome)}`);
  await shot(page, "logged-in.png");

  await page.goto(`${origin}/sign`);
  await page.locator("#sign:enabled").click();
  await page.locator('#message[data-state="ok"]').waitFor({ timeout: 120_000 });
  await shot(page, "sign.png");

  const popup = await stack.newPage();
  // As big as the popup's own body, as the toolbar shows it.
  await popup.setViewportSize({ width: 340, height: 200 });
  await popup.goto(`chrome-extension://${EXTENSION_ID}/popup.html`);
  await popup.locator("#cards-section:not([hidden])").waitFor({ timeout: 60_000 });
  await shot(popup, "popup.png");
});

// The demo token, which counts tries: a wrong PIN.
await withStack(async (stack, startOne) => {
  const origin = await startOne([await demoCaPem(stack.dir)]);
  await stack.writeConfig({ trustedSites: [origin] });
  await stack.startDemoDaemon();
  await stack.launchBrowser();
  await stack.setPinentry({ pin: DEMO_PIN.replace(/./g, "9") });
  const page = await stack.newPage();
  await page.setViewportSize({ width: 960, height: 640 });
  await page.goto(origin);
  const outcome = await logIn(page);
  if (outcome.code !== "PIN_INCORRECT") throw new Error(`expected a wrong PIN: ${JSON.stringify(outcome)}`);
  await shot(page, "wrong-pin.png");
});

console.log(`screenshots in ${out}`);
