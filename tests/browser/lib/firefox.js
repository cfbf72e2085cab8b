// Debian's Firefox ESR for the end-to-end tests, driven over WebDriver BiDi by puppeteer-core
// (Firefox speaks BiDi itself: no geckodriver, no downloaded browser). The extension is the
// Firefox build (extension/tools/build-firefox.js), written into target/ and installed as a
// temporary add-on. (The stack registers the native host where Firefox looks for it.)
//
// The tests are written against Playwright's page API (Chromium's driver). `FirefoxPage` is
// that API's small part the tests use, over a puppeteer page, so each case is written once
// and runs in both browsers.

import path from "node:path";

import puppeteer from "puppeteer-core";

import { GECKO_ID, buildFirefox } from "../../../extension/tools/build-firefox.js";

export { GECKO_ID };
export const FIREFOX = process.env.FIREFOX ?? "/usr/bin/firefox-esr";

/** Playwright's default for actions and waits. */
const DEFAULT_TIMEOUT = 30_000;

/**
 * Launches headless Firefox for `stack` (its profile, its environment, which the native host
 * and the daemon inherit) with the Firefox build of the extension installed.
 */
export async function launchFirefox(stack, { target }) {
  const extension = await buildFirefox(path.join(target, "firefox-extension"));
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: true,
    userDataDir: stack.profile,
    env: stack.env,
    extraPrefsFirefox: {
      // The test grants the add-on's MV3 host permissions (its content scripts' sites): a
      // person grants them at install or in about:addons. Without this, Firefox may leave
      // them to be granted, and the content script never runs.
      "extensions.originControls.grantByDefault": true,
      "intl.accept_languages": "zh-TW, zh, en",
      // No first-run pages, updates or telemetry in a test profile.
      "browser.shell.checkDefaultBrowser": false,
      "app.update.enabled": false,
      "datareporting.policy.dataSubmissionEnabled": false,
    },
  });
  const id = await browser.installExtension(extension);
  if (id !== GECKO_ID) throw new Error(`the add-on was installed as ${id}, not ${GECKO_ID}`);
  return browser;
}

/** A Playwright-like locator over a puppeteer page: the calls the tests make, no more. */
class FirefoxLocator {
  constructor(page, selector) {
    this.page = page;
    this.selector = selector;
  }

  /** Like Playwright's: the first element the selector matches. */
  first() {
    return this;
  }

  /** Waits until an element matches and is visible. */
  async waitFor({ timeout = DEFAULT_TIMEOUT } = {}) {
    return this.page.waitForSelector(this.selector, { visible: true, timeout });
  }

  async click() {
    const element = await this.waitFor();
    await element.click();
  }

  async count() {
    return (await this.page.$$(this.selector)).length;
  }

  async #eval(fn, arg) {
    await this.page.waitForSelector(this.selector, { timeout: DEFAULT_TIMEOUT });
    return this.page.$eval(this.selector, fn, arg);
  }

  textContent() {
    return this.#eval((el) => el.textContent);
  }

  getAttribute(name) {
    return this.#eval((el, n) => el.getAttribute(n), name);
  }

  inputValue() {
    return this.#eval((el) => el.value);
  }

  /** Sets the value as typing would, with the `input` event pages listen for. */
  fill(text) {
    return this.#eval((el, value) => {
      el.value = value;
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
    }, text);
  }
}

/** A Playwright-like page over a puppeteer page. */
export class FirefoxPage {
  constructor(page) {
    this.page = page;
  }

  async goto(url) {
    await this.page.goto(url);
  }

  url() {
    return this.page.url();
  }

  locator(selector) {
    return new FirefoxLocator(this.page, selector);
  }

  evaluate(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  on(event, handler) {
    this.page.on(event, handler);
    return this;
  }

  close() {
    return this.page.close();
  }
}
