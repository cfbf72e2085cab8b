// card-agent-verify: verifies card-agent authentication tokens on a Node.js server, check for
// check as the Rust verifier (card-agent-protocol's `verifier`, protocol/src/verifier.rs).
// Both are held to the same vectors (protocol/tests/vectors/auth-tokens.json).
//
// Layout: index.ts (verify, the token and identity), chain.ts (validity, usage, the path to
// a root), keys.ts (keys and signatures, Node's crypto), certificate.ts (parsing, with
// @peculiar/asn1-x509), name.ts (names as text), trust.ts (roots and intermediates),
// base64.ts (the protocol's base64), errors.ts (VerifyError).

import { createHash } from "node:crypto";

import { parseCertificate, serialHex, spkiDer } from "./certificate.js";
import { checkEndEntity, checkValidity, findPath, verifyChain } from "./chain.js";
import { decodeBase64 } from "./base64.js";
import { VerifyError } from "./errors.js";
import { AUTH_ALGORITHMS, checkAlgorithm, publicKeyFromSpki, verifySignature, type AuthAlgorithm } from "./keys.js";
import { attributeValues, CN, display, OU, SERIAL_NUMBER } from "./name.js";
import { TrustStore } from "./trust.js";

export { MAX_CHAIN_DEPTH } from "./chain.js";
export { VerifyError, type VerifyErrorFields, type VerifyErrorKind } from "./errors.js";
export type { AuthAlgorithm } from "./keys.js";
export { GOVERNMENT_INTERMEDIATES, GOVERNMENT_ROOTS, TrustStore, TrustStoreError } from "./trust.js";

/** The token's `format`. */
export const AUTH_TOKEN_FORMAT = "card-agent-auth:1";
/** Fewest bytes a challenge nonce decodes to (256 bits). */
export const MIN_NONCE_BYTES = 32;
/** Longest challenge nonce, in characters. */
export const MAX_NONCE_CHARS = 1024;
/** Largest certificate accepted in a token, DER bytes. */
export const MAX_CERTIFICATE_BYTES = 16 * 1024;
/** Largest signature accepted, bytes. */
export const MAX_SIGNATURE_BYTES = 1024;

/** What the page's authenticate() returned and posted to your server. */
export interface AuthToken {
  format: string;
  unverifiedCertificate: string;
  algorithm: string;
  signature: string;
  appVersion: string;
}

/** What verify() needs besides the token. */
export interface VerifyOptions {
  /** Your site's origin as browsers serialise it: `https://example.gov.tw` (no path, no slash). */
  expectedOrigin: string;
  /** The nonce you issued to this session, from your session store (not from the request). */
  nonce: string;
  /** The certificates you trust. */
  trust: TrustStore;
  /** The time to verify at, Unix seconds. Default: now. */
  now?: number;
}

/** The card families, from the issuer's OU. */
export type CardFamily = "MOICA" | "MOEACA" | "GCA" | "XCA" | "HCA" | "unknown";

/** Who authenticated. Every field comes from a certificate that passed every check. */
export interface VerifiedIdentity {
  /** Subject DN in certificate order, e.g. `C=TW, CN=王小明, serialNumber=0000000112831644`. */
  subject: string;
  /** Subject common name (the holder's name on personal cards). */
  commonName: string | null;
  /** Subject serialNumber (MOICA: the card holder's 16-character identifier). */
  serialNumber: string | null;
  /** Issuer DN in certificate order. */
  issuer: string;
  /** The family recognised from the issuer's OU (informational). */
  cardFamily: CardFamily;
  /** The certificate's serial number, upper-case hex. */
  certificateSerial: string;
  /** End of the certificate's validity, Unix seconds. */
  notAfter: number;
  /** The algorithm the token was signed with. */
  algorithm: AuthAlgorithm;
  /** The certificate, DER. */
  certificateDer: Uint8Array;
}

/**
 * Verifies an authentication token and returns who signed it; throws a VerifyError saying
 * why not. In order: the format and algorithm, the expected origin and the nonce, the
 * certificate (DER, valid at `now`, digitalSignature, no unknown critical extension, an
 * acceptable key), its path to a root of `trust`, and the signature over
 * SHA-256(origin) || SHA-256(nonce). Revocation is not checked (that needs the network).
 */
export function verify(token: AuthToken | unknown, options: VerifyOptions): VerifiedIdentity {
  const t = tokenFields(token);
  if (t.format !== AUTH_TOKEN_FORMAT) {
    throw badFormat("format", `must be ${AUTH_TOKEN_FORMAT}`);
  }
  if (!Object.hasOwn(AUTH_ALGORITHMS, t.algorithm)) {
    const algorithm = [...t.algorithm].slice(0, 32).join("");
    throw new VerifyError("UnsupportedAlgorithm",
      `unsupported algorithm \`${algorithm}\` (supported: RS256, RS384, RS512, ES256, ES384)`, { algorithm });
  }
  const algorithm = t.algorithm as AuthAlgorithm;
  checkOrigin(options.expectedOrigin);
  checkNonce(options.nonce);
  const now = checkOptions(options);

  const der = decodeField("unverifiedCertificate", t.unverifiedCertificate, MAX_CERTIFICATE_BYTES);
  const signature = decodeField("signature", t.signature, MAX_SIGNATURE_BYTES);
  let cert;
  try {
    cert = parseCertificate(der);
  } catch (reason) {
    throw badFormat("unverifiedCertificate", `is not a DER X.509 certificate: ${reason}`);
  }

  checkValidity(cert, now);
  checkEndEntity(cert);
  let key;
  try {
    key = publicKeyFromSpki(spkiDer(cert));
  } catch (reason) {
    throw new VerifyError("UnsupportedKey", `unsupported certificate key: ${reason}`, { reason: String(reason) });
  }
  verifyChain(cert, options.trust, now);
  checkAlgorithm(key, algorithm);

  const message = authSignedMessage(options.expectedOrigin, options.nonce);
  if (!verifySignature(key, AUTH_ALGORITHMS[algorithm], message, signature)) {
    throw new VerifyError("SignatureInvalid", "the signature does not verify for this origin and nonce");
  }

  const tbs = cert.cert.tbsCertificate;
  return {
    subject: display(tbs.subject),
    commonName: attributeValues(tbs.subject, CN)[0] ?? null,
    serialNumber: attributeValues(tbs.subject, SERIAL_NUMBER)[0] ?? null,
    issuer: display(tbs.issuer),
    cardFamily: attributeValues(tbs.issuer, OU).map(cardFamily).find((f) => f !== "unknown") ?? "unknown",
    certificateSerial: serialHex(cert),
    notAfter: cert.notAfter,
    algorithm,
    certificateDer: der,
  };
}

/** The path verifyCertificatePath() found. */
export interface CertificatePath {
  /** The root (trust anchor) the path ends at, DER. */
  rootDer: Uint8Array;
  /** The root's subject DN in certificate order. */
  rootSubject: string;
  /** The certificates above the checked one, DER: its issuer first, the root last. */
  issuersDer: Uint8Array[];
}

/** Why verifyCertificatePath() found no path. */
export class PathError extends Error {
  override readonly name = "PathError";
  /**
   * `BadCertificate`: not DER X.509. `IssuerMissing`: no configured root or intermediate is
   * named as an issuer on the way (`issuer`). `Invalid`: an issuer was found but the path
   * does not hold (a signature, an intermediate's validity or constraints, the depth).
   */
  readonly kind: "BadCertificate" | "IssuerMissing" | "Invalid";
  readonly issuer?: string;
  readonly reason?: string;

  constructor(kind: PathError["kind"], message: string, fields: { issuer?: string; reason?: string } = {}) {
    super(message);
    this.kind = kind;
    Object.assign(this, fields);
  }
}

/**
 * Checks the path from a certificate (DER) to a root of `trust` exactly as verify() does
 * (names, every signature, intermediates' validity and constraints, at most 5 links) and says
 * which root it reached. Nothing about the certificate itself is checked (validity, key usage,
 * key size), so it serves for any certificate, e.g. to tell which CA issued a card's.
 */
export function verifyCertificatePath(der: Uint8Array, trust: TrustStore, now = Math.floor(Date.now() / 1000)):
  CertificatePath {
  let cert;
  try {
    cert = parseCertificate(der);
  } catch (reason) {
    throw new PathError("BadCertificate", `not a DER X.509 certificate: ${reason}`, { reason: String(reason) });
  }
  const found = findPath(cert, trust, now);
  if ("failure" in found) {
    const f = found.failure;
    if ("missing" in f) {
      throw new PathError("IssuerMissing", `no configured root or intermediate is named \`${f.missing}\``,
        { issuer: f.missing });
    }
    throw new PathError("Invalid", f.invalid, { reason: f.invalid });
  }
  const root = found.path[found.path.length - 1];
  return {
    rootDer: root.der,
    rootSubject: display(root.cert.tbsCertificate.subject),
    issuersDer: found.path.map((c) => c.der),
  };
}

/** The 64 bytes the card signs: SHA-256(origin) || SHA-256(nonce), each as its UTF-8. */
export function authSignedMessage(origin: string, nonce: string): Uint8Array {
  const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return new Uint8Array(Buffer.concat([sha256(origin), sha256(nonce)]));
}

/** The family from issuer text; longer names first, since some CA names contain shorter ones. */
export function cardFamily(issuer: string): CardFamily {
  const table: [string, CardFamily][] = [
    ["醫事憑證管理中心", "HCA"],
    ["組織及團體憑證管理中心", "XCA"],
    ["工商憑證管理中心", "MOEACA"],
    ["內政部憑證管理中心", "MOICA"],
    ["政府憑證管理中心", "GCA"],
  ];
  return table.find(([needle]) => issuer.includes(needle))?.[1] ?? "unknown";
}

/**
 * The server's own arguments: a TrustStore, and a time in whole Unix seconds (a value that
 * can only be milliseconds, as from Date.now(), is a programming error, not a token's fault).
 */
function checkOptions(options: VerifyOptions): number {
  if (!(options.trust instanceof TrustStore)) throw new TypeError("options.trust must be a TrustStore");
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(now) || now < 0 || now >= 1e11) {
    throw new TypeError("options.now is the time in whole Unix seconds (not milliseconds)");
  }
  return now;
}

function badFormat(field: string, reason: string): VerifyError {
  return new VerifyError("BadFormat", `malformed token: \`${field}\` ${reason}`, { field, reason });
}

/** The token's fields, each a string (a JSON body may hold anything). */
function tokenFields(token: unknown): AuthToken {
  if (typeof token !== "object" || token === null || Array.isArray(token)) {
    throw badFormat("token", "must be the JSON object authenticate() returned");
  }
  const fields = ["format", "unverifiedCertificate", "algorithm", "signature", "appVersion"] as const;
  const t = token as Record<string, unknown>;
  for (const field of fields) {
    if (typeof t[field] !== "string") throw badFormat(field, "must be a string");
  }
  return t as unknown as AuthToken;
}

function decodeField(field: string, value: string, maxBytes: number): Uint8Array {
  // Bound the text before decoding: base64 is 4 characters per 3 bytes.
  if (Buffer.byteLength(value, "utf8") > Math.floor(maxBytes / 3) * 4 + 4) {
    throw badFormat(field, `is longer than ${maxBytes} bytes`);
  }
  const bytes = decodeBase64(value);
  if (bytes === null) throw badFormat(field, "is not base64");
  return bytes;
}

/** Refuses what browsers never send as an origin, so a misconfiguration is reported as such. */
function checkOrigin(origin: string): void {
  const bad = (reason: string) =>
    new VerifyError("BadOrigin", `expected_origin must be a bare origin like https://example.gov.tw: ${reason}`,
      { reason });
  if (typeof origin !== "string") throw bad("no scheme");
  const at = origin.indexOf("://");
  if (at < 0) throw bad("no scheme");
  const scheme = origin.slice(0, at);
  const rest = origin.slice(at + 3);
  if (scheme === "" || !/^[a-z-]+$/.test(scheme)) throw bad("the scheme must be lower-case letters");
  if (rest === "") throw bad("no host");
  if (!/^[\x21-\x7e]+$/.test(rest)) throw bad("origins are printable ASCII (hosts in punycode)");
  if (/[/?#@]/.test(rest)) throw bad("an origin has no path, query, fragment, user or trailing slash");
}

/** The nonce: base64 of at least 32 bytes, at most 1024 characters. */
function checkNonce(nonce: string): void {
  const chars = typeof nonce === "string" ? [...nonce].length : 0;
  if (typeof nonce !== "string") {
    throw new VerifyError("InvalidNonce", "invalid nonce: it must be a string", { reason: "not a string" });
  }
  if (chars > MAX_NONCE_CHARS) {
    const reason = `the challenge nonce is ${chars} characters long; at most ${MAX_NONCE_CHARS} are allowed`;
    throw new VerifyError("InvalidNonce", `invalid nonce: ${reason}`, { reason });
  }
  const bytes = decodeBase64(nonce);
  if (bytes === null) {
    const reason = "the challenge nonce must be base64 (standard or URL-safe alphabet, padding optional)";
    throw new VerifyError("InvalidNonce", `invalid nonce: ${reason}`, { reason });
  }
  if (bytes.length < MIN_NONCE_BYTES) {
    const bits = bytes.length * 8;
    throw new VerifyError("NonceTooShort", `the nonce carries ${bits} bits; at least 256 are required`, { bits });
  }
}
