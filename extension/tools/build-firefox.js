// Writes dist/firefox/: the extension with a Firefox manifest. The source tree stays the
// Chromium one (loaded unpacked from extension/); only the manifest differs:
// - Firefox runs MV3 background code as an event page (`background.scripts`), not as a
//   service worker; background.js is the same module in both.
// - Firefox needs an add-on id (`browser_specific_settings.gecko.id`), which is also the
//   id the native host's manifest lists in `allowed_extensions`.
// - `key` and `minimum_chrome_version` mean nothing to Firefox and are dropped.
// Run: node tools/build-firefox.js   (or npm run build:firefox)
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

export const GECKO_ID = "card-agent@card-agent.tw";
// 128 ESR: MV3 content-script permissions and module background scripts are settled there.
export const GECKO_MIN_VERSION = "128.0";

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

function build() {
  const root = new URL("../", import.meta.url);
  const out = new URL("dist/firefox/", root);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const name of PACKAGE_FILES) {
    cpSync(new URL(name, root), new URL(name, out), { recursive: true });
  }
  const manifest = JSON.parse(readFileSync(new URL("manifest.json", root), "utf8"));
  writeFileSync(new URL("manifest.json", out), `${JSON.stringify(firefoxManifest(manifest), null, 2)}\n`);
  process.stdout.write(`wrote ${fileURLToPath(out)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) build();
