// `npm pack` (prepack): copies into the package what its tests and TrustStore.government()
// read from the repository: the shared token vectors (protocol/tests/vectors/auth-tokens.json,
// which the Rust verifier's tests read too) and the government CA certificates (roots/). The
// copies are not committed (.gitignore): the repository keeps one of each.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";

const repo = new URL("../../../", import.meta.url);
const vectors = new URL("../test/vectors/", import.meta.url);
mkdirSync(vectors, { recursive: true });
copyFileSync(new URL("protocol/tests/vectors/auth-tokens.json", repo), new URL("auth-tokens.json", vectors));

const roots = new URL("roots/", repo);
if (existsSync(roots)) {
  const target = new URL("../roots/", import.meta.url);
  mkdirSync(target, { recursive: true });
  for (const file of readdirSync(roots).filter((f) => f.endsWith(".pem"))) {
    copyFileSync(new URL(file, roots), new URL(file, target));
  }
}
