// The pieces of the legacy browser tests: a public-looking https site serving the legacy test
// page, the real card-agent daemon on the demo token with a scripted dialog, and headless
// Chromium with or without the extension (and its native host registered in the profile).
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const EXTENSION = path.join(REPO, "extension");
const SITE = fileURLToPath(new URL("site/", import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
export const LEGACY_PORT = 61161;

/** Trusted by the daemon's configuration (`https://*.example.gov.tw`). */
export const TRUSTED_HOST = "portal.example.gov.tw";
/** Never trusted: the agent refuses it. */
export const UNTRUSTED_HOST = "www.example.org";
/** Not trusted until the user approves them through /addDomain (each asks once: a refusal
 * is remembered). */
export const ASKING_HOSTS = ["shop.example.net", "forms.example.net", "apply.example.net", "desk.example.net"];
/** The trusted host spelled with a trailing dot: a different origin, one that does not parse. */
export const DOTTED_HOST = `${TRUSTED_HOST}.`;
const HOSTS = [TRUSTED_HOST, UNTRUSTED_HOST, ...ASKING_HOSTS];

/** Generous hang guards; nothing here is a timing assertion. */
export const GUARD_MS = 60_000;

/** The card-agent and fake-pinentry binaries of the cargo build. */
export function binaries() {
  const agent = process.env.CARD_AGENT_BIN
    ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(REPO, "target"), "debug", "card-agent");
  const pinentry = path.join(path.dirname(agent), "fake-pinentry");
  for (const file of [agent, pinentry]) {
    if (!existsSync(file)) throw new Error(`${file} not found: run \`cargo build --workspace --all-targets\` first`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium (or set CHROMIUM_BIN)`);
  return { agent, pinentry };
}

/** Whether 127.0.0.1:`port` can be bound (nothing else listens there). */
export function portIsFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A self-signed certificate for the test hosts (the browser is told to accept it). */
function certificate(dir) {
  const key = path.join(dir, "site-key.pem");
  const cert = path.join(dir, "site-cert.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
    "-subj", `/CN=${TRUSTED_HOST}`, "-addext", `subjectAltName=${HOSTS.map((h) => `DNS:${h}`).join(",")}`,
  ], { stdio: "ignore" });
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8" };

/** Encrypts `plain` for the certificate `certb64` with openssl (the independent producer):
 * `cms` gives a CMS EnvelopedData (DES-EDE3-CBC, as the vendor's sample), `pkcs1` a raw RSA
 * PKCS#1 v1.5 ciphertext; both base64. */
export function opensslEncrypt(dir, certb64, plain, kind) {
  const work = mkdtempSync(path.join(dir, "encrypt-"));
  const cert = path.join(work, "cert.pem");
  const input = path.join(work, "plain");
  const out = path.join(work, "out");
  writeFileSync(cert, `-----BEGIN CERTIFICATE-----\n${certb64.match(/.{1,64}/g).join("\n")}\n-----END CERTIFICATE-----\n`);
  writeFileSync(input, plain);
  const args = kind === "cms"
    ? ["cms", "-encrypt", "-binary", "-des3", "-in", input, "-outform", "DER", "-out", out, "-recip", cert]
    : ["pkeyutl", "-encrypt", "-certin", "-inkey", cert, "-in", input, "-out", out];
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  return readFileSync(out).toString("base64");
}

/**
 * Serves site/ over https on 127.0.0.1, on port 443 when it can be bound (then origins have
 * no port, as on the real sites), else on a free port. Every test host resolves here.
 */
export async function startSite(dir) {
  const server = https.createServer(certificate(dir), (req, res) => {
    const name = new URL(req.url, "https://x").pathname.replace(/^\/$/, "/index.html");
    const file = path.join(SITE, path.normalize(name).replace(/^(\.\.[/\\])+/, ""));
    if (!file.startsWith(SITE) || !existsSync(file) || !TYPES[path.extname(file)]) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)], "cache-control": "no-store" });
    res.end(readFileSync(file));
  });
  const listen = (port) => new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve(server.address().port);
    });
  });
  const port = await listen(443).catch(() => listen(0));
  const suffix = port === 443 ? "" : `:${port}`;
  return {
    port,
    origin: (host) => `https://${host}${suffix}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * Runs `card-agent serve --demo` in a private HOME / XDG_RUNTIME_DIR / XDG_STATE_HOME with a
 * config naming the trusted sites, the legacy API's port, and a pinentry whose answer
 * (`confirm`, `deny`, ...) the test sets with `dialog(action)`. Ready when it says it listens.
 */
export async function startDaemon({ dir, agentPort, bins, portTaken = false }) {
  const at = (name) => {
    const p = path.join(dir, name);
    mkdirSync(p, { recursive: true, mode: 0o700 });
    return p;
  };
  const env = {
    PATH: process.env.PATH,
    HOME: at("home"),
    XDG_RUNTIME_DIR: at("run"),
    XDG_STATE_HOME: at("state"),
    XDG_CONFIG_HOME: at("config"),
    XDG_DATA_HOME: at("data"),
    XDG_CACHE_HOME: at("cache"),
    LANG: "en_US.UTF-8",
  };
  const actionFile = path.join(dir, "pinentry-action");
  writeFileSync(actionFile, "deny\n");
  // One daemon for every test: each dialog starts a new pinentry, which reads its answer here.
  const pinentry = path.join(dir, "pinentry.sh");
  const pinentryLog = path.join(dir, "pinentry.log");
  writeFileSync(pinentry, [
    "#!/bin/sh",
    `FAKE_PINENTRY_ACTION=$(cat '${actionFile}')`,
    // The demo token's PIN, typed by the "user" when the agent asks (action "pin").
    "FAKE_PINENTRY_PIN=123456",
    `FAKE_PINENTRY_LOG='${pinentryLog}'`,
    "export FAKE_PINENTRY_ACTION FAKE_PINENTRY_PIN FAKE_PINENTRY_LOG",
    `exec '${bins.pinentry}' "$@"`,
    "",
  ].join("\n"));
  chmodSync(pinentry, 0o755);
  const config = path.join(env.XDG_CONFIG_HOME, "card-agent.toml");
  writeFileSync(config, [
    `trusted_sites = ["https://*.example.gov.tw"]`,
    `http_listen = "127.0.0.1:${agentPort}"`,
    `pinentry = "${pinentry}"`,
    "",
  ].join("\n"));
  env.CARD_AGENT_CONFIG = config;

  const child = spawn(bins.agent, ["serve", "--demo"], {
    env: { ...env, RUST_LOG: "debug" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const collect = (chunk) => { log += chunk; };
  child.stdout.setEncoding("utf8").on("data", collect);
  child.stderr.setEncoding("utf8").on("data", collect);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  await new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`the daemon did not start:\n${log}`)), GUARD_MS);
    const check = () => {
      if (/legacy API not started/.test(log) && !portTaken) reject(new Error(`the legacy API did not start:\n${log}`));
      // Printed once the socket and the legacy API are both bound.
      else if (/^card-agent \S+ listening on /m.test(log)) resolve();
      else return;
      clearTimeout(guard);
      child.stderr.off("data", check);
    };
    child.stderr.on("data", check);
    exited.then((code) => reject(new Error(`the daemon exited (${code}):\n${log}`)));
  });
  return {
    env,
    log: () => log,
    dialog: (action) => writeFileSync(actionFile, `${action}\n`),
    /** What the dialogs were told so far (fake-pinentry's log; it never holds a PIN). */
    dialogLog: () => (existsSync(pinentryLog) ? readFileSync(pinentryLog, "utf8") : ""),
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * Headless Chromium in a fresh profile. The test hosts resolve to 127.0.0.1 and the site's
 * port counts as a PUBLIC address, so Local Network Access applies to its calls to loopback.
 * With `extension`, the unpacked extension is loaded and the native host registered in the
 * profile; Chromium gets the daemon's environment, which the native host inherits.
 */
export async function launchBrowser({ dir, site, daemon, bins, extension }) {
  const profile = mkdtempSync(path.join(dir, extension ? "profile-ext-" : "profile-"));
  const args = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    `--host-resolver-rules=${[...HOSTS, DOTTED_HOST].map((h) => `MAP ${h} 127.0.0.1`).join(", ")}`,
    `--ip-address-space-overrides=127.0.0.1:${site.port}=public`,
  ];
  if (extension) {
    args.push(`--load-extension=${EXTENSION}`, `--disable-extensions-except=${EXTENSION}`);
    execFileSync(bins.agent, ["install-host", "--browser", "chromium", "--dir", path.join(profile, "NativeMessagingHosts")], {
      env: daemon.env, stdio: "ignore",
    });
  }
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    env: daemon.env,
    // The site's certificate is self-signed; the page is still a secure context.
    ignoreHTTPSErrors: true,
    ignoreDefaultArgs: ["--disable-extensions"],
    timeout: GUARD_MS,
  });
  if (extension && context.serviceWorkers().length === 0) {
    await context.waitForEvent("serviceworker", { timeout: GUARD_MS });
  }
  const cdp = await context.browser().newBrowserCDPSession();
  return {
    context,
    /** Grants or denies the Local Network Access (loopback) permission to `origin`. */
    loopback: (origin, setting) =>
      cdp.send("Browser.setPermission", { permission: { name: "loopback-network" }, setting, origin }),
    close: () => context.close(),
  };
}

/** Runs `HiPKI[fn](...args, callback)` in `page` and returns what it called back with. */
export function legacy(page, fn, ...args) {
  const call = page.evaluate(([name, params]) => new Promise((resolve) => {
    // eslint-disable-next-line no-undef
    HiPKI[name](...params, resolve);
  }), [fn, args]);
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HiPKI.${fn} did not call back`)), GUARD_MS);
  });
  return Promise.race([call, guard]).finally(() => clearTimeout(timer));
}

/** Checks a PKCS7 (CMS, attached) signature with openssl; returns the signed content. */
export function opensslVerify(dir, signatureBase64, caCertsBase64) {
  const work = mkdtempSync(path.join(dir, "verify-"));
  const sig = path.join(work, "sig.der");
  const ca = path.join(work, "ca.pem");
  const out = path.join(work, "content");
  writeFileSync(sig, Buffer.from(signatureBase64, "base64"));
  writeFileSync(ca, caCertsBase64.map((b64) =>
    `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g).join("\n")}\n-----END CERTIFICATE-----\n`).join(""));
  execFileSync("openssl", ["cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-CAfile", ca,
    "-purpose", "any", "-out", out], { stdio: ["ignore", "ignore", "pipe"] });
  return readFileSync(out, "utf8");
}

/**
 * A TCP listener on 127.0.0.1:`port` owned by another user (uid 65534, through setpriv: the
 * test bed runs as root) that counts the connections it accepts, as a stranger's program
 * holding the agent's port would receive pages' calls.
 */
export async function startForeignListener(dir, port) {
  const counter = path.join(dir, `foreign-${port}.count`);
  writeFileSync(counter, "0");
  chmodSync(dir, 0o755);
  chmodSync(counter, 0o666);
  const script = [
    "import socket,sys",
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
    `s.bind(('127.0.0.1',${port})); s.listen(16)`,
    "print('ready', flush=True)",
    "n=0",
    "while True:",
    "    c,_=s.accept(); n+=1",
    `    open(${JSON.stringify(counter)},'w').write(str(n)); c.close()`,
  ].join("\n");
  const child = spawn("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script],
    { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (d) => { if (d.includes("ready")) resolve(); });
    child.once("exit", (code) => reject(new Error(`the foreign listener exited (${code})`)));
  });
  return {
    connections: () => Number(readFileSync(counter, "utf8")),
    stop: () => { child.kill(); },
  };
}
