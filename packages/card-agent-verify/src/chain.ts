// Certificate checks: validity, usage, extensions, and the path to a trusted root, as
// protocol/src/verifier/chain.rs does them (the same order, the same failures).

import {
  basicConstraints, keyUsage, spkiDer, type ParsedCertificate,
} from "./certificate.js";
import { VerifyError } from "./errors.js";
import { certificateSignatureHash, publicKeyFromSpki, verifySignature } from "./keys.js";
import { display, sameName } from "./name.js";
import type { TrustStore } from "./trust.js";

/** Most issuer links followed from the certificate to a root. */
export const MAX_CHAIN_DEPTH = 5;

/**
 * Extensions that may be critical. Key usage and basic constraints are enforced; the others
 * do not restrict what is accepted. Anything else critical is refused, as RFC 5280 requires.
 */
const UNDERSTOOD_CRITICAL = [
  "2.5.29.15", // keyUsage
  "2.5.29.19", // basicConstraints
  "2.5.29.37", // extKeyUsage
  "2.5.29.32", // certificatePolicies
  "2.5.29.17", // subjectAltName
  "2.5.29.9", // subjectDirectoryAttributes
  "2.5.29.14", // subjectKeyIdentifier
  "2.5.29.35", // authorityKeyIdentifier
];

/** The end-entity certificate's validity at `now`. */
export function checkValidity(c: ParsedCertificate, now: number): void {
  if (now < c.notBefore) {
    throw new VerifyError("NotYetValid", `the certificate is not valid before ${c.notBefore} (now ${now})`,
      { notBefore: c.notBefore, now });
  }
  if (now > c.notAfter) {
    throw new VerifyError("Expired", `the certificate expired at ${c.notAfter} (now ${now})`,
      { notAfter: c.notAfter, now });
  }
}

/** Nothing critical we do not understand, and a key usage with digitalSignature (required). */
export function checkEndEntity(c: ParsedCertificate): void {
  const oid = unknownCritical(c);
  if (oid) {
    throw new VerifyError("UnsupportedCriticalExtension",
      `the certificate has an unsupported critical extension ${oid}`, { oid });
  }
  let usage: string[] | null;
  try {
    usage = keyUsage(c);
  } catch (reason) {
    throw new VerifyError("BadFormat", `malformed token: \`unverifiedCertificate\` ${reason}`,
      { field: "unverifiedCertificate", reason: String(reason) });
  }
  if (!usage?.includes("digitalSignature")) {
    throw new VerifyError("MissingDigitalSignature", "the certificate's key usage does not allow digitalSignature");
  }
}

/** Why no path to a root was found: no such issuer, or a check failed on the way. */
export type PathFailure = { missing: string } | { invalid: string };

/** The failure as text. */
export function describe(failure: PathFailure): string {
  return "missing" in failure
    ? `no configured root or intermediate is named \`${failure.missing}\``
    : failure.invalid;
}

/** Finds a path from `leaf` to a root of `trust`, or throws UntrustedChain. */
export function verifyChain(leaf: ParsedCertificate, trust: TrustStore, now: number): void {
  const found = findPath(leaf, trust, now);
  if ("path" in found) return;
  const reason = describe(found.failure);
  throw new VerifyError("UntrustedChain", `the certificate does not chain to a trusted root: ${reason}`, { reason });
}

/**
 * Finds a path from `leaf` to a root of `trust`: its issuers, the leaf's issuer first and the
 * root last. Or says why there is none.
 */
export function findPath(leaf: ParsedCertificate, trust: TrustStore, now: number):
  { path: ParsedCertificate[] } | { failure: PathFailure } {
  const state: { failure: PathFailure | null } = { failure: null };
  const path = search(leaf, trust, now, 0, 0, state);
  if (path) return { path };
  return { failure: state.failure ?? { invalid: "no trusted root is configured" } };
}

/**
 * Depth-first search over issuers. `failure` keeps the most recent failure (the deepest one
 * tried); a failed check outranks a missing issuer, being the more useful thing to report.
 */
function search(
  cert: ParsedCertificate,
  trust: TrustStore,
  now: number,
  links: number,
  intermediatesBelow: number,
  state: { failure: PathFailure | null },
): ParsedCertificate[] | null {
  if (links >= MAX_CHAIN_DEPTH) {
    state.failure = { invalid: `no trusted root within ${MAX_CHAIN_DEPTH} issuer links` };
    return null;
  }
  const issuer = cert.cert.tbsCertificate.issuer;
  let issuerKnown = false;
  for (const root of trust.roots.filter((r) => sameName(r.cert.tbsCertificate.subject, issuer))) {
    issuerKnown = true;
    const problem = signedBy(cert, root);
    if (problem === null) return [root];
    state.failure = { invalid: `root \`${display(issuer)}\`: ${problem}` };
  }
  const candidates = trust.intermediates.filter(
    (c) => sameName(c.cert.tbsCertificate.subject, issuer) && !Buffer.from(c.der).equals(Buffer.from(cert.der)),
  );
  for (const candidate of candidates) {
    issuerKnown = true;
    const problem = checkIntermediate(candidate, now, intermediatesBelow) ?? signedBy(cert, candidate);
    if (problem !== null) {
      state.failure = { invalid: `intermediate \`${display(issuer)}\`: ${problem}` };
      continue;
    }
    const above = search(candidate, trust, now, links + 1, intermediatesBelow + 1, state);
    if (above) return [candidate, ...above];
  }
  if (!issuerKnown && !(state.failure && "invalid" in state.failure)) {
    state.failure = { missing: display(issuer) };
  }
  return null;
}

/** Why an intermediate may not issue, or `null`: validity, CA, keyCertSign, path length. */
function checkIntermediate(c: ParsedCertificate, now: number, intermediatesBelow: number): string | null {
  if (now < c.notBefore) return "not yet valid";
  if (now > c.notAfter) return "expired";
  const oid = unknownCritical(c);
  if (oid) return `unsupported critical extension ${oid}`;
  try {
    const constraints = basicConstraints(c);
    if (!constraints?.cA) return "not a CA certificate (basicConstraints cA is not set)";
    const max = constraints.pathLenConstraint;
    if (max !== undefined && intermediatesBelow > max) {
      return `its path length constraint (${max}) does not allow ${intermediatesBelow} intermediates below it`;
    }
    const usage = keyUsage(c);
    if (usage && !usage.includes("keyCertSign")) return "its key usage does not allow keyCertSign";
  } catch (reason) {
    return String(reason);
  }
  return null;
}

/** Why `issuer`'s key did not make `cert`'s signature, or `null` when it did. */
function signedBy(cert: ParsedCertificate, issuer: ParsedCertificate): string | null {
  const algorithm = cert.cert.signatureAlgorithm;
  if (!algorithm.isEqual(cert.cert.tbsCertificate.signature)) {
    return "the certificate's two signature algorithm fields differ";
  }
  try {
    const { hash, rsa } = certificateSignatureHash(algorithm.algorithm);
    const key = publicKeyFromSpki(spkiDer(issuer));
    if (rsa !== (key.kind === "RSA")) {
      return `signature algorithm ${algorithm.algorithm} does not fit the issuer's ${key.kind} key`;
    }
    const signature = new Uint8Array(cert.cert.signatureValue);
    return verifySignature(key, hash, cert.tbs, signature)
      ? null
      : "the signature does not verify under the issuer's key";
  } catch (reason) {
    return String(reason);
  }
}

function unknownCritical(c: ParsedCertificate): string | undefined {
  return (c.cert.tbsCertificate.extensions ?? []).find((e) => e.critical && !UNDERSTOOD_CRITICAL.includes(e.extnID))
    ?.extnID;
}
