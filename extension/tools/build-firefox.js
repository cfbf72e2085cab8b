// Writes the Firefox build of the extension: the extension's files with a Firefox manifest, by
// default into target/firefox-extension/ at the repository's top (the browser tests build it
// there too, so what they run is what this writes). The source tree stays the Chromium one
// (loaded unpacked from extension/); only the manifest differs:
// - Firefox runs MV3 background code as an event page (`background.scripts`), not as a
//   service worker; background.js is the same module in both.
// - Firefox needs an add-on id (`browser_specific_settings.gecko.id`), which is also the
//   id the native host's manifest lists in `allowed_extensions`.
// - `key` and `minimum_chrome_version` mean nothing to Firefox and are dropped.
// Run: node tools/build-firefox.js [out-dir]   (or npm run build:firefox)
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const GECKO_ID = "card-agent@card-agent.tw";
// 128 ESR: MV3 content-script permissions, `world: "MAIN"` content scripts and module
// background scripts are settled there. Debian 12 ships 140 ESR and later.
export const GECKO_MIN_VERSION = "128.0";

/** The extension's source folder. */
export const EXTENSION_DIR = fileURLToPath(new URL("../", import.meta.url));
/** Where the build goes unless told otherwise. */
export const DEFAULT_OUT = path.resolve(EXTENSION_DIR, "..", "target", "firefox-extension");

/** What goes into the package; tests, tools and the page library stay out. */
export const PACKAGE_FILES = [
  "manifest.json", "background.js", "content.js", "legacy-shim.js", "smartpki-content.js",
  "smartpki-shim.js", "popup.html", "popup.js", "popup.css",
  "lib", "icons", "_locales",
];

/** The Firefox manifest for a Chromium `manifest`. */
export function firefoxManifest(manifest) {
  const { key, minimum_chrome_version: _chromeOnly, background, ...rest } = manifest;
  return {
    ...rest,
    background: { scripts: [background.service_worker], type: background.type },
    browser_specific_settings: { gecko: { id: GECKO_ID, strict_min_version: GECKO_MIN_VERSION } },
  };
}

/** Writes the Firefox build into `out` (emptied first) and returns `out`. */
export async function buildFirefox(out = DEFAULT_OUT) {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  for (const name of PACKAGE_FILES) {
    await cp(path.join(EXTENSION_DIR, name), path.join(out, name), { recursive: true });
  }
  const manifest = JSON.parse(await readFile(path.join(EXTENSION_DIR, "manifest.json"), "utf8"));
  await writeFile(path.join(out, "manifest.json"), `${JSON.stringify(firefoxManifest(manifest), null, 2)}\n`);
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await buildFirefox(process.argv[2] ? path.resolve(process.argv[2]) : DEFAULT_OUT);
  process.stdout.write(`wrote ${out}\n`);
}
