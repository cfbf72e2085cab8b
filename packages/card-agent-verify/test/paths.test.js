// verifyCertificatePath() on the test PKI of the shared vectors, and the government CA certificates
// card-agent ships (roots/ of the repository, packed into the package by npm pack).
import { test } from "node:test";
import assert from "node:assert/strict";

import { PathError, TrustStore, verifyCertificatePath } from "card-agent-verify";
import { loadVectors } from "./vectors.js";

const file = loadVectors();
const der = (name) => new Uint8Array(Buffer.from(file.certificates[name], "base64"));
const leafOf = (vectorName) =>
  new Uint8Array(Buffer.from(file.vectors.find((v) => v.name === vectorName).token.unverifiedCertificate, "base64"));
const NOW = file.vectors.find((v) => v.name === "RS256 accepted").now;

test("a certificate's path names its root, or says what is wrong", () => {
  const trust = new TrustStore();
  trust.addRoots(der("root"));
  trust.addIntermediates(der("inter"));
  const leaf = leafOf("RS256 accepted");
  const path = verifyCertificatePath(leaf, trust, NOW);
  assert.match(path.rootSubject, /Test Root CA/);
  assert.deepEqual(path.issuersDer, [der("inter"), der("root")]);
  assert.deepEqual(path.rootDer, der("root"));
  // Only the path is checked: an expired leaf still has one.
  assert.ok(verifyCertificatePath(leaf, trust, file.vectors.find((v) => v.name === "leaf expired").now));

  const rootsOnly = new TrustStore();
  rootsOnly.addRoots(der("root"));
  assert.throws(() => verifyCertificatePath(leaf, rootsOnly, NOW),
    (e) => e instanceof PathError && e.kind === "IssuerMissing" && e.issuer.includes("內政部憑證管理中心"));
  const foreign = leafOf("issued under the intermediate's name by another key");
  assert.throws(() => verifyCertificatePath(foreign, trust, NOW),
    (e) => e instanceof PathError && e.kind === "Invalid" && e.reason.includes("does not verify"));
  assert.throws(() => verifyCertificatePath(new TextEncoder().encode("junk"), trust, NOW),
    (e) => e instanceof PathError && e.kind === "BadCertificate");
});

test("TrustStore.government(): GRCA G1-G3 as roots, MOICA G2-G3 and MOEACA G2 under them", () => {
  const shipped = TrustStore.government();
  assert.deepEqual([shipped.rootCount, shipped.intermediateCount], [3, 3]);
  // Each issuing CA chains to its GRCA generation (2026-01-01).
  const at = 1_767_225_600;
  const roots = shipped.intermediates.map((ca) => verifyCertificatePath(ca.der, shipped, at).rootSubject);
  assert.equal(roots.filter((r) => r.includes("Government Root Certification Authority - G3")).length, 1);
  assert.equal(roots.filter((r) => r === "C=TW, O=Government Root Certification Authority").length, 2);
});
