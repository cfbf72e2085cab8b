// The real stack for one browser test, in throwaway directories: a SoftHSM2 card (or none, or
// the demo token), the demo e-government site, headless Chromium with the unpacked extension
// (or Firefox ESR with its Firefox build, lib/firefox.js), the native host `tw.card_agent`
// registered for that browser, and the daemon it autostarts.
//
// Nothing here touches the user's own profile, config, trusted sites or tokens: HOME, the XDG
// directories, CARD_AGENT_CONFIG and SOFTHSM2_CONF all point into the stack's directory.

import { spawn, execFile } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { chromium } from "playwright-core";

import { FirefoxPage, launchFirefox } from "./firefox.js";

const run = promisify(execFile);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const TARGET = process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target");
export const EXTENSION_DIR = path.join(ROOT, "extension");
export const EXTENSION_ID = "hccjmiblnokapoamfkgnbbighmnfpoig";
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so";
/** The demo token's PIN. */
export const DEMO_PIN = "123456";

/**
 * The browsers the end-to-end cases run in: `CARD_AGENT_BROWSERS` (comma-separated), by
 * default Chromium and Firefox ESR.
 */
export const BROWSERS = (process.env.CARD_AGENT_BROWSERS ?? "chromium,firefox")
  .split(",").map((b) => b.trim()).filter(Boolean);
for (const b of BROWSERS) {
  if (b !== "chromium" && b !== "firefox") throw new Error(`CARD_AGENT_BROWSERS: unknown browser ${b}`);
}

/** A binary of this workspace's debug build (`cargo build --workspace --all-targets`). */
export function bin(name) {
  const file = path.join(TARGET, "debug", name);
  if (!fs.existsSync(file)) {
    throw new Error(`${file} not found: run \`cargo build --workspace --all-targets\` first`);
  }
  return file;
}

/** Resolves with the first line a stream writes that `match` accepts, or rejects on its end. */
function lineFrom(stream, match, what) {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: stream });
    const seen = [];
    lines.on("line", (line) => {
      seen.push(line);
      if (match(line)) {
        lines.removeAllListeners("close");
        resolve(line);
      }
    });
    lines.on("close", () => reject(new Error(`${what} ended before it was ready:\n${seen.join("\n")}`)));
  });
}

/** Rejects after `ms`: a guard against hangs, never a way to wait for something. */
export function hangGuard(promise, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Whether process `pid` still runs (a zombie no longer does). */
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // "pid (comm) S ...": the state follows the last ")".
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/**
 * Waits until a process that is not our child has exited. Node cannot wait for another
 * process's exit, so this looks every 50 ms, bounded by `ms`.
 */
async function waitForExit(pid, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not exit within ${ms / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A SoftHSM2 card with the MOICA-like test PKI, made by the testbed's `softhsm-fixture`. */
export async function makeSoftHsmCard(dir) {
  const { stdout } = await run(bin("softhsm-fixture"), ["--dir", dir]);
  return JSON.parse(stdout);
}

/** A SoftHSM2 configuration with no token at all: a module, but no card in it. */
export async function makeEmptySoftHsm(dir) {
  const tokens = path.join(dir, "empty-tokens");
  await fsp.mkdir(tokens, { recursive: true });
  const conf = path.join(dir, "empty-softhsm2.conf");
  await fsp.writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  return { conf, module: SOFTHSM_MODULE };
}

/** The demo token's CA certificates as one PEM file (from `card-agent list --demo --json`). */
export async function demoCaPem(dir) {
  const { stdout } = await run(bin("card-agent"), ["list", "--demo", "--json"]);
  const certificates = JSON.parse(stdout).tokens.flatMap((t) => t.certificates);
  const pem = certificates
    .filter((c) => !c.hasPrivateKey)
    .map((c) => `-----BEGIN CERTIFICATE-----\n${c.derBase64.match(/.{1,64}/g).join("\n")}\n-----END CERTIFICATE-----\n`)
    .join("");
  const file = path.join(dir, "demo-ca.pem");
  await fsp.writeFile(file, pem);
  return file;
}

/** Deletes a SoftHSM2 token, as pulling the card out of the reader. */
export async function removeCard(card) {
  await run("softhsm2-util", ["--delete-token", "--token", card.label], {
    env: { ...process.env, SOFTHSM2_CONF: card.conf },
  });
}

/** The demo e-government site with `sites` origins, trusting the CA files in `trust`. */
export async function startSite({ trust, sites = 2 }) {
  const args = trust.flatMap((file) => ["--trust", file]);
  for (let i = 0; i < sites; i += 1) args.push("--port", "0");
  const child = spawn(bin("demo-site"), args, { stdio: ["ignore", "pipe", "inherit"] });
  const line = await hangGuard(lineFrom(child.stdout, (l) => l.startsWith("{"), "demo-site"), 30_000, "demo-site start");
  return {
    origins: JSON.parse(line).sites,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * The demo token's world in one browser (default Chromium): the agent on `serve --demo` (it
 * counts PIN tries like a card), the demo site trusting the demo CA and trusted by the agent,
 * and a page open on the site. `pin`, when given, is what the fake PIN dialog types. `close()`
 * ends it all; a start that fails part way ends what it started.
 */
export async function demoSiteWorld({ browser, pin } = {}) {
  const stack = await Stack.create(browser ? { browser } : undefined);
  let site;
  try {
    const caFile = await demoCaPem(stack.dir);
    site = await startSite({ trust: [caFile], sites: 1 });
    await stack.writeConfig({ trustedSites: site.origins });
    await stack.startDemoDaemon();
    if (pin) await stack.setPinentry({ pin });
    await stack.launchBrowser();
    const page = await stack.newPage();
    await page.goto(site.origins[0]);
    return {
      stack, site, page, caFile,
      async close() {
        await stack.close();
        await site.stop();
      },
    };
  } catch (e) {
    await stack.close();
    await site?.stop();
    throw e;
  }
}

/**
 * The per-test world: directories, the card, the config, the fake pinentry's answers, and
 * (once started) the browser and daemons. Set the card, config and pinentry before
 * `launchBrowser`; the pinentry's answers may change at any time.
 */
export class Stack {
  /** A new world; `browser` is `chromium` (the default) or `firefox`. */
  static async create({ browser = "chromium" } = {}) {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "card-agent-e2e-"));
    for (const sub of ["home", "run", "state", "config", "profile"]) {
      await fsp.mkdir(path.join(dir, sub), { mode: 0o700 });
    }
    const stack = new Stack(dir, browser);
    await stack.writeConfig();
    await stack.setPinentry();
    return stack;
  }

  constructor(dir, browser = "chromium") {
    this.dir = dir;
    /** Which browser `launchBrowser` starts. */
    this.browserName = browser;
    /** `{module, conf?, pin?, label?}`: the PKCS#11 setup the daemon sees; none for the demo. */
    this.card = undefined;
    this.configFile = path.join(dir, "config.toml");
    this.pinentryControl = path.join(dir, "pinentry.control");
    this.pinentryLog = path.join(dir, "pinentry.log");
    this.profile = path.join(dir, "profile");
    /** Chromium: the Playwright context. */
    this.context = undefined;
    /** Firefox: the puppeteer browser. */
    this.firefox = undefined;
    this.children = [];
  }

  /** Makes a SoftHSM2 test card and lets the daemon see it. */
  async useSoftHsmCard() {
    this.card = await makeSoftHsmCard(this.dir);
    await this.setPinentry();
    return this.card;
  }

  /**
   * Writes the agent's config: `trustedSites` are origins it trusts without asking; `pinEntry`
   * is where PINs come from ("dialog": only the agent's own dialog, the fake pinentry here).
   */
  async writeConfig({ trustedSites = [], pinEntry = "dialog" } = {}) {
    const quote = (s) => JSON.stringify(s);
    await fsp.writeFile(this.configFile, [
      `pin_entry = ${quote(pinEntry)}`,
      `pinentry = ${quote(bin("fake-pinentry"))}`,
      `trusted_sites = [${trustedSites.map(quote).join(", ")}]`,
      // Each test's daemon must not fight over the legacy API's fixed port.
      'http_listen = ""',
      "",
    ].join("\n"));
  }

  /** The environment the browser, the native host and the daemon share. */
  get env() {
    const env = {
      ...process.env,
      HOME: path.join(this.dir, "home"),
      XDG_RUNTIME_DIR: path.join(this.dir, "run"),
      XDG_STATE_HOME: path.join(this.dir, "state"),
      XDG_CONFIG_HOME: path.join(this.dir, "config"),
      CARD_AGENT_CONFIG: this.configFile,
      FAKE_PINENTRY_CONTROL: this.pinentryControl,
      FAKE_PINENTRY_LOG: this.pinentryLog,
      LANG: "zh_TW.UTF-8",
    };
    delete env.SOFTHSM2_CONF;
    delete env.CARD_AGENT_PKCS11_MODULE;
    delete env.FAKE_PINENTRY_ACTION;
    delete env.FAKE_PINENTRY_PIN;
    if (this.card?.module) env.CARD_AGENT_PKCS11_MODULE = this.card.module;
    if (this.card?.conf) env.SOFTHSM2_CONF = this.card.conf;
    return env;
  }

  /** What the fake pinentry answers from its next start on: `{action, pin, gate}`. */
  async setPinentry({ action = "pin", pin = this.card?.pin ?? DEMO_PIN, gate = "" } = {}) {
    await fsp.writeFile(this.pinentryControl, `action=${action}\npin=${pin}\ngate=${gate}\n`);
  }

  /** Every command the fake pinentry received so far (PINs are never logged). */
  async pinentryCommands() {
    try {
      return (await fsp.readFile(this.pinentryLog, "utf8")).split("\n").filter(Boolean);
    } catch {
      return [];
    }
  }

  /** Starts `card-agent serve --demo` (the native host then connects to it). */
  async startDemoDaemon() {
    const child = spawn(bin("card-agent"), ["serve", "--demo"], {
      env: this.env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.children.push(child);
    await hangGuard(lineFrom(child.stderr, (l) => /listening on/.test(l), "card-agent serve --demo"), 30_000, "demo daemon start");
    child.stderr.resume();
    return child;
  }

  /** The PID of the running daemon (autostarted or not), from its lock file. */
  async daemonPid() {
    const text = await fsp.readFile(path.join(this.dir, "run", "card-agent", "agent.lock"), "utf8");
    const pid = Number.parseInt(text.trim(), 10);
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  }

  /** Stops the daemon and waits until it is gone. */
  async stopDaemon() {
    let pid;
    try {
      pid = await this.daemonPid();
    } catch {
      return; // never started
    }
    if (!pid) return;
    process.kill(pid, "SIGTERM");
    await waitForExit(pid);
  }

  /** Launches the headless browser with the extension and our native host registered. */
  async launchBrowser() {
    if (this.browserName === "firefox") {
      // Firefox reads a user's host manifests from ~/.mozilla/native-messaging-hosts.
      await run(bin("card-agent"), [
        "install-host", "--browser", "firefox", "--dir",
        path.join(this.env.HOME, ".mozilla", "native-messaging-hosts"),
      ], { env: this.env });
      this.firefox = await launchFirefox(this, { target: TARGET });
      return this.firefox;
    }
    await run(bin("card-agent"), [
      "install-host", "--browser", "chromium", "--dir", path.join(this.profile, "NativeMessagingHosts"),
    ], { env: this.env });
    this.context = await chromium.launchPersistentContext(this.profile, {
      executablePath: CHROMIUM,
      headless: true,
      env: this.env,
      locale: "zh-TW",
      viewport: { width: 1000, height: 760 },
      // Playwright turns extensions off unless told not to.
      ignoreDefaultArgs: ["--disable-extensions"],
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        `--load-extension=${EXTENSION_DIR}`,
        `--disable-extensions-except=${EXTENSION_DIR}`,
      ],
    });
    // The extension is loaded once its service worker runs.
    if (!this.context.serviceWorkers().some((w) => w.url().includes(EXTENSION_ID))) {
      await this.context.waitForEvent("serviceworker", {
        predicate: (w) => w.url().includes(EXTENSION_ID),
        timeout: 30_000,
      });
    }
    return this.context;
  }

  /** A new tab (Playwright's page API in both browsers). */
  async newPage() {
    const page = this.firefox
      ? new FirefoxPage(await this.firefox.newPage())
      : await this.context.newPage();
    page.on("pageerror", (error) => console.error(`page error on ${page.url()}: ${error.message}`));
    return page;
  }

  /** Forgets every cookie: each site's session starts over. */
  async clearCookies() {
    if (this.firefox) {
      await this.firefox.deleteCookie(...await this.firefox.cookies());
    } else {
      await this.context.clearCookies();
    }
  }

  /** Closes everything and removes the directories. */
  async close() {
    if (this.context) await this.context.close().catch(() => {});
    if (this.firefox) await this.firefox.close().catch(() => {});
    await this.stopDaemon().catch((e) => console.error(e.message));
    for (const child of this.children) {
      if (child.exitCode === null) child.kill("SIGTERM");
    }
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}
