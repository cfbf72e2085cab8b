// The manifests: the Chromium one loaded unpacked from extension/, and the Firefox variant
// the build script derives from it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { GECKO_ID, PACKAGE_FILES, buildFirefox, firefoxManifest } from "../tools/build-firefox.js";

const root = new URL("../", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("manifest.json", root), "utf8"));

test("the key gives the fixed extension id hccjmiblnokapoamfkgnbbighmnfpoig", () => {
  // Chrome: the first 32 hex digits of SHA-256 of the key's DER, with 0-f mapped to a-p.
  const hex = createHash("sha256").update(Buffer.from(manifest.key, "base64")).digest("hex");
  const id = [...hex.slice(0, 32)].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join("");
  assert.equal(id, "hccjmiblnokapoamfkgnbbighmnfpoig");
});

test("permissions: native messaging only; content script on https and loopback http", () => {
  assert.equal(manifest.manifest_version, 3);
  assert.deepEqual(manifest.permissions, ["nativeMessaging"]);
  assert.equal(manifest.host_permissions, undefined);
  assert.equal(manifest.externally_connectable, undefined, "web pages cannot message the worker directly");
  assert.equal(manifest.web_accessible_resources, undefined);
  const [cs, shim, smartpki, ...others] = manifest.content_scripts;
  assert.equal(others.length, 0);
  assert.deepEqual(cs.js, ["content.js", "smartpki-content.js"]);
  assert.deepEqual(cs.matches, ["https://*/*", "http://localhost/*", "http://127.0.0.1/*", "http://[::1]/*"]);
  assert.equal(cs.run_at, "document_start");
  assert.equal(cs.all_frames, false);
  assert.equal(cs.world, undefined, "the bridge runs in the isolated world");
  assert.deepEqual(manifest.background, { service_worker: "background.js", type: "module" });
});

test("the legacy shim runs in the page's world, where the bridge runs, but not on the agent's own pages", () => {
  const [cs, shim] = manifest.content_scripts;
  assert.deepEqual(shim.js, ["legacy-shim.js"]);
  assert.equal(shim.world, "MAIN");
  assert.equal(shim.run_at, "document_start");
  assert.equal(shim.all_frames, false);
  assert.deepEqual(shim.matches, cs.matches);
  // The popup bridge and self-test pages call the agent themselves over HTTP.
  assert.deepEqual(shim.exclude_matches, [
    "http://localhost:61161/*", "http://127.0.0.1:61161/*", "http://[::1]:61161/*",
  ]);
  // "world" in the manifest: Chrome 111.
  assert.ok(Number(manifest.minimum_chrome_version) >= 111);
});

test("the SmartPKI shim runs in the page's world of the same top frames as the bridge", () => {
  const [cs, , smartpki] = manifest.content_scripts;
  assert.deepEqual(smartpki.js, ["smartpki-shim.js"]);
  assert.equal(smartpki.world, "MAIN");
  assert.equal(smartpki.run_at, "document_start");
  assert.equal(smartpki.all_frames, false);
  assert.deepEqual(smartpki.matches, cs.matches);
});

test("every file the manifests name exists and is packaged", () => {
  const named = [
    manifest.background.service_worker, ...manifest.content_scripts.flatMap((c) => c.js),
    manifest.action.default_popup,
    ...Object.values(manifest.icons), ...Object.values(manifest.action.default_icon),
    `_locales/${manifest.default_locale}/messages.json`, "_locales/en/messages.json",
  ];
  for (const file of named) {
    assert.ok(existsSync(new URL(file, root)), file);
    assert.ok(PACKAGE_FILES.some((p) => file === p || file.startsWith(`${p}/`)), `${file} is packaged`);
  }
});

test("the __MSG_ names of the manifest are in both locales", () => {
  const keys = JSON.stringify(manifest).match(/__MSG_(\w+)__/g).map((m) => m.slice(6, -2));
  for (const locale of ["zh_TW", "en"]) {
    const messages = JSON.parse(readFileSync(new URL(`_locales/${locale}/messages.json`, root), "utf8"));
    for (const key of keys) assert.ok(messages[key]?.message, `${locale}: ${key}`);
  }
});

test("the Firefox manifest runs the same module as background scripts, with a gecko id", () => {
  const ff = firefoxManifest(manifest);
  assert.deepEqual(ff.background, { scripts: ["background.js"], type: "module" });
  assert.equal(ff.browser_specific_settings.gecko.id, GECKO_ID);
  assert.equal(ff.key, undefined);
  assert.equal(ff.minimum_chrome_version, undefined);
  assert.deepEqual(ff.permissions, manifest.permissions);
  assert.deepEqual(ff.content_scripts, manifest.content_scripts);
  assert.equal(ff.version, manifest.version);
  assert.equal(manifest.key.length > 0, true, "the Chromium manifest is left as it was");
});

test("the Firefox build is the extension's files with the derived manifest, nothing else", async () => {
  const { mkdtemp, readdir, rm } = await import("node:fs/promises");
  const os = await import("node:os");
  const path = await import("node:path");
  const tmp = await mkdtemp(path.join(os.tmpdir(), "card-agent-firefox-build-"));
  try {
    const out = await buildFirefox(path.join(tmp, "out"));
    assert.deepEqual((await readdir(out)).sort(), [...PACKAGE_FILES].sort());
    const built = JSON.parse(readFileSync(path.join(out, "manifest.json"), "utf8"));
    assert.deepEqual(built, firefoxManifest(manifest));
    // Every other file is copied as it is.
    const files = async (dir) => (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)));
    const copied = (await files(out)).filter((f) => f !== "manifest.json");
    assert.ok(copied.includes("background.js") && copied.includes("lib/protocol.js"), copied.join(" "));
    for (const file of copied) {
      assert.deepEqual(readFileSync(path.join(out, file)), readFileSync(new URL(file, root)), file);
    }
    // It runs in Debian 12's Firefox ESR (140 and later).
    assert.ok(Number.parseFloat(built.browser_specific_settings.gecko.strict_min_version) <= 140);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
