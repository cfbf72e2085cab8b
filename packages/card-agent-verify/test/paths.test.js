// verifyCertificatePath() on the test PKI of the shared vectors, and the government roots
// card-agent ships (roots/ of the repository, packed into the package by npm pack).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";

import { PathError, TrustStore, TrustStoreError, verifyCertificatePath } from "card-agent-verify";
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

/** The government store, or null when this installation has no roots/ (said in the skip). */
function government() {
  try {
    return TrustStore.government();
  } catch (error) {
    if (error instanceof TrustStoreError) return null;
    throw error;
  }
}

const shipped = government();

test("TrustStore.government(): GRCA G1-G3 as roots, MOICA G2-G3 and MOEACA G2 under them",
  { skip: shipped === null && "roots/ is not in this checkout" }, () => {
    assert.deepEqual([shipped.rootCount, shipped.intermediateCount], [3, 3]);
    // Each issuing CA chains to its GRCA generation (2026-01-01).
    const at = 1_767_225_600;
    const cas = TrustStore.government().intermediates.map((c) => c.der);
    const roots = cas.map((ca) => verifyCertificatePath(ca, shipped, at).rootSubject);
    assert.equal(roots.filter((r) => r.includes("Government Root Certification Authority - G3")).length, 1);
    assert.equal(roots.filter((r) => r === "C=TW, O=Government Root Certification Authority").length, 2);
  });

// A real card certificate issued by MOICA G2 (protocol/tests/fixtures, in the repository only).
const fixture = new URL("../../../protocol/tests/fixtures/moica-g2-end-entity.pem", import.meta.url);

test("a real MOICA G2 card certificate chains to GRCA G2 through the shipped MOICA G2",
  { skip: (shipped === null || !existsSync(fixture)) && "roots/ or the fixture is not in this checkout" }, () => {
    const pem = readFileSync(fixture, "utf8");
    const body = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    const path = verifyCertificatePath(new Uint8Array(Buffer.from(body, "base64")), shipped, 1_767_225_600);
    assert.equal(path.issuersDer.length, 2);
    assert.equal(path.rootSubject, "C=TW, O=Government Root Certification Authority");
  });
