// Signing a form's text in the page (CMS, detached) with the SoftHSM2 test card: the demo
// site verifies it with openssl, and so does this test, on its own.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fsp from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { BROWSERS, Stack, startSite } from "../lib/stack.js";

const run = promisify(execFile);

/** Presses the sign button and waits for the page's verdict. */
async function signIn(page) {
  await page.locator("#sign:enabled").click();
  const message = page.locator("#message");
  await page.locator('#message[data-state="ok"], #message[data-state="error"]').waitFor({ timeout: 120_000 });
  return {
    state: await message.getAttribute("data-state"),
    code: await message.getAttribute("data-code"),
    text: await message.textContent(),
    verdict: await page.locator("#verdict").textContent(),
    signature: await page.locator("#signature").inputValue(),
  };
}

// Once per browser (lib/stack.js BROWSERS): the same cases in Chromium and Firefox.
for (const browser of BROWSERS) describe(`signing a document in the page (${browser})`, { timeout: 300_000 }, () => {
  let stack;
  let site;
  let card;
  let origin;

  before(async () => {
    stack = await Stack.create({ browser });
    card = await stack.useSoftHsmCard();
    site = await startSite({ trust: [card.chainPem], sites: 1 });
    [origin] = site.origins;
    await stack.writeConfig({ trustedSites: [origin] });
    await stack.launchBrowser();
  });

  after(async () => {
    await stack?.close();
    await site?.stop();
  });

  test("a CMS signature made in the page verifies with openssl", async () => {
    const page = await stack.newPage();
    await page.goto(`${origin}/sign`);
    const text = "戶籍謄本申請書 Application\n申請人 Applicant: 王小明\n份數 Copies: 2\n";
    await page.locator("#document").fill(text);
    const result = await signIn(page);
    assert.equal(result.state, "ok", result.text);
    assert.match(result.verdict, new RegExp(`簽署人 Signer: ${card.holder}（自然人憑證 MOICA）`));

    // Independently of the site: openssl checks the signature over the exact UTF-8 text,
    // against the card's CA chain.
    const document = path.join(stack.dir, "document.txt");
    const signature = path.join(stack.dir, "document.p7s");
    await fsp.writeFile(document, text);
    await fsp.writeFile(signature, Buffer.from(result.signature, "base64"));
    const verify = (content) => run("openssl", [
      "cms", "-verify", "-binary", "-inform", "DER", "-in", signature, "-content", content,
      "-CAfile", card.chainPem, "-purpose", "any", "-out", "/dev/null",
    ]);
    await verify(document);
    // And it is over that text only.
    const altered = path.join(stack.dir, "altered.txt");
    await fsp.writeFile(altered, text.replace("2", "3"));
    await assert.rejects(verify(altered), /Verification failure|verify/i);
    await page.close();
  });

  test("the site refuses a signature that does not match the text", async () => {
    const page = await stack.newPage();
    await page.goto(`${origin}/sign`);
    const result = await signIn(page);
    assert.equal(result.state, "ok", result.text);
    const answer = await page.evaluate(async (signature) => {
      const response = await fetch("/sign/verify", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ data: "a different text", signature }),
      });
      return { status: response.status, body: await response.json() };
    }, result.signature);
    assert.equal(answer.status, 422);
    assert.equal(answer.body.reason, "invalid-signature");
    await page.close();
  });

  test("two tabs sign at the same time", async () => {
    const pages = [await stack.newPage(), await stack.newPage()];
    await Promise.all(pages.map((p) => p.goto(`${origin}/sign`)));
    await pages[0].locator("#document").fill("第一份 first document");
    await pages[1].locator("#document").fill("第二份 second document");
    const results = await Promise.all(pages.map(signIn));
    for (const r of results) assert.equal(r.state, "ok", r.text);
    assert.notEqual(results[0].signature, results[1].signature);
    for (const p of pages) await p.close();
  });
});
