// Where the shared token vectors are: the repository's protocol/tests/vectors/auth-tokens.json
// (the one the Rust verifier's tests read) when this runs in the repository, else the copy
// `npm pack` puts in the package (test/vectors/auth-tokens.json).
import { existsSync, readFileSync } from "node:fs";

const candidates = [
  new URL("../../../protocol/tests/vectors/auth-tokens.json", import.meta.url),
  new URL("./vectors/auth-tokens.json", import.meta.url),
];

/** The path of the vectors file. */
export const VECTORS_FILE = candidates.find((u) => existsSync(u));

/** The parsed vectors file. */
export function loadVectors() {
  if (!VECTORS_FILE) throw new Error("auth-tokens.json not found (neither packed nor in the repository)");
  return JSON.parse(readFileSync(VECTORS_FILE, "utf8"));
}
