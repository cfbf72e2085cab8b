// The Node.js verifier (packages/card-agent-verify, built by `npm run build`, which
// ./dev.sh test does before these tests) on tokens the real agent made: the demo token signs
// through the real extension and native host, in the page of a demo site, and the verifier
// accepts the token for that origin and nonce only. The shared vectors test it against the
// Rust verifier; this tests it against the agent.

import assert from "node:assert/strict";
import fsp from "node:fs/promises";
import { after, before, describe, test } from "node:test";

import { DEMO_PIN, demoSiteWorld } from "../lib/stack.js";
import { authenticateIn, randomNonce } from "../lib/site.js";

const { TrustStore, verify, VerifyError } = await import("../../../packages/card-agent-verify/dist/index.js");

describe("the Node.js verifier on the agent's own tokens", { timeout: 300_000 }, () => {
  let world;
  let site;
  let page;
  let trust;

  before(async () => {
    world = await demoSiteWorld({ pin: DEMO_PIN });
    ({ site, page } = world);
    // The demo PKI's CA certificates, all as trust anchors (as the demo site takes them).
    trust = new TrustStore();
    assert.equal(trust.addRoots(await fsp.readFile(world.caFile, "utf8")), 2);
  });

  after(async () => {
    await world?.close();
  });

  test("a token from the page verifies for its origin and nonce, and for nothing else", async () => {
    const [origin] = site.origins;
    const nonce = randomNonce();
    const token = await authenticateIn(page, nonce);
    assert.equal(token.error, undefined, JSON.stringify(token.error));

    const identity = verify(token, { expectedOrigin: origin, nonce, trust });
    assert.equal(identity.commonName, "DEMO 示範用戶");
    assert.equal(identity.cardFamily, "MOICA");
    assert.equal(Buffer.from(identity.certificateDer).toString("base64"), token.unverifiedCertificate);

    const refused = (options) => {
      try {
        verify(token, { expectedOrigin: origin, nonce, trust, ...options });
        return "accepted";
      } catch (error) {
        if (!(error instanceof VerifyError)) throw error;
        return error.kind;
      }
    };
    assert.equal(refused({ expectedOrigin: "https://evil.example" }), "SignatureInvalid");
    assert.equal(refused({ nonce: randomNonce() }), "SignatureInvalid");
    assert.equal(refused({ trust: new TrustStore() }), "UntrustedChain");
  });
});
