// Driving the demo site's pages: as a person would (buttons), and as a script on the page
// would (the page library and fetch), for the attacks the server must refuse.

/** The login page's outcome after a click: the welcome page, or the message it showed. */
export async function logIn(page) {
  await page.locator("#login:enabled").click();
  return loginOutcome(page);
}

/**
 * Waits for the end of a login: `{loggedIn: true, name, family}` on the welcome page, or
 * `{loggedIn: false, code, text}` from the page's message.
 */
export async function loginOutcome(page) {
  const done = page.locator('#holder, #message[data-state="error"], #message[data-code="USER_CANCELLED"]');
  await done.first().waitFor({ timeout: 120_000 });
  if (await page.locator("#holder").count()) {
    return {
      loggedIn: true,
      name: await page.locator("#holder").textContent(),
      family: await page.locator("#card-family").getAttribute("data-family"),
    };
  }
  const message = page.locator("#message");
  return {
    loggedIn: false,
    code: await message.getAttribute("data-code"),
    text: await message.textContent(),
  };
}

/** Logs out (the welcome page's button). */
export async function logOut(page) {
  await page.locator("#logout").click();
  await page.locator("#login").waitFor();
}

/** A challenge nonce issued by the site the page is on, to the page's session. */
export function challengeIn(page) {
  return page.evaluate(async () => {
    const response = await fetch("/login/challenge", { credentials: "same-origin" });
    return (await response.json()).challengeNonce;
  });
}

/** An authentication token signed on the page's origin for `nonce`; or `{error: {code}}`. */
export function authenticateIn(page, nonce) {
  return page.evaluate(async (challengeNonce) => {
    const { authenticate } = await import("/js/card-agent.js");
    try {
      return await authenticate({ challengeNonce });
    } catch (error) {
      return { error: { code: error.code, retriesLeft: error.retriesLeft, details: error.details } };
    }
  }, nonce);
}

/** Posts a token to the login endpoint of the page's site: `{status, body}`. */
export function postToken(page, token) {
  return page.evaluate(async (body) => {
    const response = await fetch("/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  }, token);
}

/** A fresh 256-bit nonce the server never issued. */
export function randomNonce() {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
}
