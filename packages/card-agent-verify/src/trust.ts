// The certificates a relying party trusts: roots (trust anchors) and intermediates (used to
// build paths, trusted only when they chain to a root), as protocol/src/verifier/trust.rs.
// Every certificate is parsed when added, so a bad file fails at start-up.

import { existsSync, readFileSync } from "node:fs";

import { parseCertificate, type ParsedCertificate } from "./certificate.js";

/**
 * Taiwan's government roots (GRCA G1, G2, G3) and the issuing CAs under them that
 * card-agent ships (MOICA G2 and G3, MOEACA G2): `roots/` of the card-agent repository, copied
 * into this package when it is packed. GCA, XCA and HCA are not among them yet.
 */
export const GOVERNMENT_ROOTS = ["grca-g1.pem", "grca-g2.pem", "grca-g3.pem"] as const;
/** The issuing CAs under the government roots that card-agent ships. */
export const GOVERNMENT_INTERMEDIATES = ["moica-g2.pem", "moica-g3.pem", "moeaca-g2.pem"] as const;

/** Where the government certificates are: in the repository, else in the packed package. */
function governmentDirectory(): URL {
  const candidates = [new URL("../../../roots/", import.meta.url), new URL("../roots/", import.meta.url)];
  const found = candidates.find((dir) => GOVERNMENT_ROOTS.every((f) => existsSync(new URL(f, dir))));
  if (!found) {
    throw new TrustStoreError(
      "the government CA certificates are not in this installation (roots/ of the card-agent repository); " +
        "add your roots with addRoots() instead",
    );
  }
  return found;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** Why certificates could not be added. */
export class TrustStoreError extends Error {
  override readonly name = "TrustStoreError";
  /** The position of the certificate at fault in the input (from 0), when one was found. */
  readonly index?: number;

  constructor(message: string, index?: number) {
    super(message);
    if (index !== undefined) this.index = index;
  }
}

/** Roots and intermediates. */
export class TrustStore {
  /**
   * A store with the government roots and issuing CAs card-agent ships, in one line:
   * `const trust = TrustStore.government();`. Add others (GCA, XCA, HCA) with
   * addIntermediates().
   */
  static government(): TrustStore {
    const dir = governmentDirectory();
    const trust = new TrustStore();
    for (const file of GOVERNMENT_ROOTS) trust.addRoots(readFileSync(new URL(file, dir), "utf8"));
    for (const file of GOVERNMENT_INTERMEDIATES) trust.addIntermediates(readFileSync(new URL(file, dir), "utf8"));
    return trust;
  }

  /** @internal */
  readonly roots: ParsedCertificate[] = [];
  /** @internal */
  readonly intermediates: ParsedCertificate[] = [];

  /**
   * Adds roots from DER bytes (one certificate) or PEM text (any number of CERTIFICATE
   * blocks, other text ignored). Returns how many; nothing is added if any fails.
   */
  addRoots(derOrPem: Uint8Array | string): number {
    const certs = parseCertificates(derOrPem);
    this.roots.push(...certs);
    return certs.length;
  }

  /** Adds intermediates, like addRoots. */
  addIntermediates(derOrPem: Uint8Array | string): number {
    const certs = parseCertificates(derOrPem);
    this.intermediates.push(...certs);
    return certs.length;
  }

  /** Number of roots. */
  get rootCount(): number {
    return this.roots.length;
  }

  /** Number of intermediates. */
  get intermediateCount(): number {
    return this.intermediates.length;
  }
}

function parseCertificates(input: Uint8Array | string): ParsedCertificate[] {
  const text = typeof input === "string" ? input : decodeUtf8(input);
  if (text === null || !text.includes("-----BEGIN CERTIFICATE-----")) {
    if (text !== null && text.trim() === "") throw new TrustStoreError("no certificate found in the input");
    const der = typeof input === "string" ? new Uint8Array(Buffer.from(input, "latin1")) : input;
    return [parseOne(der, 0)];
  }
  const certs: ParsedCertificate[] = [];
  let end = 0;
  for (const match of text.matchAll(PEM_BLOCK)) {
    const body = match[1].replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) {
      throw new TrustStoreError(`certificate ${certs.length} in the input is not valid PEM`, certs.length);
    }
    certs.push(parseOne(new Uint8Array(Buffer.from(body, "base64")), certs.length));
    end = (match.index ?? 0) + match[0].length;
  }
  if (text.indexOf("-----BEGIN CERTIFICATE-----", end) !== -1) {
    throw new TrustStoreError(`certificate ${certs.length} in the input: PEM block without its END line`, certs.length);
  }
  return certs;
}

function parseOne(der: Uint8Array, index: number): ParsedCertificate {
  try {
    return parseCertificate(der);
  } catch (reason) {
    throw new TrustStoreError(`certificate ${index} in the input does not parse: ${reason}`, index);
  }
}

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}
