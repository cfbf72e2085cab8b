// The Node.js verifier against the vectors the Rust verifier is tested with
// (protocol/tests/verifier/vectors.rs generated them): every vector, the same outcome.
import { test } from "node:test";
import assert from "node:assert/strict";

import { TrustStore, TrustStoreError, verify, VerifyError } from "card-agent-verify";
import { loadVectors } from "./vectors.js";

const file = loadVectors();
const der = (name) => Buffer.from(file.certificates[name], "base64");

/** What the Node verifier says, in the vectors' words. */
function outcome(vector) {
  const trust = new TrustStore();
  for (const name of vector.roots) trust.addRoots(der(name));
  for (const name of vector.intermediates) trust.addIntermediates(der(name));
  try {
    const id = verify(vector.token, {
      expectedOrigin: vector.origin, nonce: vector.nonce, trust, now: vector.now,
    });
    assert.equal(Buffer.from(id.certificateDer).toString("base64"),
      Buffer.from(vector.token.unverifiedCertificate, "base64").toString("base64"));
    const { certificateDer, ...rest } = id;
    return { ok: rest };
  } catch (error) {
    if (!(error instanceof VerifyError)) throw error;
    const { kind, ...fields } = { ...error, kind: error.kind };
    delete fields.name;
    return { error: kind, ...fields };
  }
}

function meets(actual, expected) {
  if ("ok" in expected) {
    assert.deepEqual(actual, expected);
    return;
  }
  assert.equal(actual.error, expected.error, JSON.stringify(actual));
  for (const [key, value] of Object.entries(expected)) {
    if (key === "error") continue;
    if (key === "reasonIncludes") assert.ok(actual.reason?.includes(value), `${actual.reason} ∌ ${value}`);
    else assert.deepEqual(actual[key], value, key);
  }
}

test("the shared vectors are there and many", () => {
  assert.ok(file.vectors.length >= 40, `${file.vectors.length} vectors`);
});

for (const vector of file.vectors) {
  test(`vector: ${vector.name}`, () => meets(outcome(vector), vector.expect));
}

test("trust stores load DER and PEM bundles and refuse junk, adding nothing then", () => {
  const pem = (name) => `-----BEGIN CERTIFICATE-----\n${file.certificates[name].match(/.{1,64}/g).join("\n")}\n-----END CERTIFICATE-----\n`;
  const trust = new TrustStore();
  assert.equal(trust.addRoots(`# roots\n${pem("root")}some commentary\n${pem("foreign-root")}`), 2);
  assert.equal(trust.addIntermediates(Buffer.from(pem("inter"))), 1);
  assert.equal(trust.addIntermediates(der("inter-expired")), 1);
  assert.deepEqual([trust.rootCount, trust.intermediateCount], [2, 2]);
  const ok = file.vectors.find((v) => v.name === "RS256 accepted");
  assert.equal(verify(ok.token, { expectedOrigin: ok.origin, nonce: ok.nonce, trust, now: ok.now }).cardFamily, "MOICA");
  assert.throws(() => trust.addRoots("  \n"), TrustStoreError);
  assert.throws(() => trust.addRoots(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), TrustStoreError);
  const cut = pem("root").slice(0, -30);
  assert.throws(() => trust.addRoots(cut), TrustStoreError);
  assert.equal(trust.rootCount, 2);
});

test("a token that is not the JSON object is BadFormat, never an exception of another kind", () => {
  const ok = file.vectors.find((v) => v.name === "RS256 accepted");
  const trust = new TrustStore();
  for (const bad of [null, "token", [], { ...ok.token, signature: 5 }, { ...ok.token, format: undefined }]) {
    assert.throws(() => verify(bad, { expectedOrigin: ok.origin, nonce: ok.nonce, trust, now: ok.now }),
      (e) => e instanceof VerifyError && e.kind === "BadFormat");
  }
});

test("the server's own mistakes are TypeErrors: a time in milliseconds, no TrustStore", () => {
  const ok = file.vectors.find((v) => v.name === "RS256 accepted");
  const trust = new TrustStore();
  trust.addRoots(der("root"));
  trust.addIntermediates(der("inter"));
  const options = { expectedOrigin: ok.origin, nonce: ok.nonce, trust };
  assert.throws(() => verify(ok.token, { ...options, now: ok.now * 1000 }), TypeError);
  assert.throws(() => verify(ok.token, { ...options, now: 1.5 }), TypeError);
  assert.throws(() => verify(ok.token, { ...options, trust: {} }), TypeError);
  assert.equal(verify(ok.token, { ...options, now: ok.now }).commonName, "王小明");
});
