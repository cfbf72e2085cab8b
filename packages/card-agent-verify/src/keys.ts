// Public keys from certificates and the signature checks made with them, as
// protocol/src/verifier/keys.rs: RSA of at least 2048 bits, EC on P-256 or P-384; PKCS#1 v1.5
// and DER ECDSA signatures; SHA-1 never. The cryptography is Node's own (OpenSSL).

import { createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";

import { VerifyError } from "./errors.js";

/** Smallest RSA modulus accepted anywhere in a chain. */
export const MIN_RSA_BITS = 2048;

/** The token algorithms, with the hash each applies to the signed message. */
export const AUTH_ALGORITHMS = {
  RS256: "sha256",
  RS384: "sha384",
  RS512: "sha512",
  ES256: "sha256",
  ES384: "sha384",
} as const;

/** A token's signature algorithm. */
export type AuthAlgorithm = keyof typeof AUTH_ALGORITHMS;

/** A key the verifier can check signatures with. */
export interface PublicKey {
  kind: "RSA" | "EC P-256" | "EC P-384";
  key: KeyObject;
}

/** Reads a SubjectPublicKeyInfo (DER); throws a string saying why the key is unusable. */
export function publicKeyFromSpki(spki: Uint8Array): PublicKey {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  } catch (e) {
    throw `invalid public key: ${(e as Error).message}`;
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "rsa") {
    // As the Rust verifier counts: the modulus length in whole bytes.
    const bits = Math.ceil((details.modulusLength ?? 0) / 8) * 8;
    if (bits < MIN_RSA_BITS) throw `RSA key of ${bits} bits; at least ${MIN_RSA_BITS} are required`;
    return { kind: "RSA", key };
  }
  if (key.asymmetricKeyType === "ec") {
    if (details.namedCurve === "prime256v1") return { kind: "EC P-256", key };
    if (details.namedCurve === "secp384r1") return { kind: "EC P-384", key };
    if (details.namedCurve === undefined) throw "EC key without a named curve";
    throw `EC curve ${details.namedCurve} is not P-256 or P-384`;
  }
  throw `key algorithm ${key.asymmetricKeyType ?? "unknown"} is not RSA or EC`;
}

/** RSxxx for RSA, ES256 for P-256, ES384 for P-384 (the curve fixes the ECDSA algorithm). */
export function checkAlgorithm(key: PublicKey, algorithm: AuthAlgorithm): void {
  const fits =
    key.kind === "RSA" ? algorithm.startsWith("RS")
      : key.kind === "EC P-256" ? algorithm === "ES256"
        : algorithm === "ES384";
  if (!fits) {
    throw new VerifyError(
      "AlgorithmKeyMismatch",
      `algorithm ${algorithm} does not match the certificate's ${key.kind} key`,
      { algorithm, key: key.kind },
    );
  }
}

/** Whether `signature` (PKCS#1 v1.5, or DER ECDSA-Sig-Value) over `data` verifies with `hash`. */
export function verifySignature(key: PublicKey, hash: string, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return cryptoVerify(hash, data, { key: key.key, dsaEncoding: "der" }, signature);
  } catch {
    return false;
  }
}

const SIGNATURE_HASHES: Record<string, { hash: string; rsa: boolean }> = {
  "1.2.840.113549.1.1.11": { hash: "sha256", rsa: true },
  "1.2.840.113549.1.1.12": { hash: "sha384", rsa: true },
  "1.2.840.113549.1.1.13": { hash: "sha512", rsa: true },
  "1.2.840.10045.4.3.2": { hash: "sha256", rsa: false },
  "1.2.840.10045.4.3.3": { hash: "sha384", rsa: false },
  "1.2.840.10045.4.3.4": { hash: "sha512", rsa: false },
};
const SHA1_SIGNATURES = ["1.2.840.113549.1.1.5", "1.2.840.10045.4.1"];

/** The hash and key type of a certificate signature algorithm; throws why it is refused. */
export function certificateSignatureHash(oid: string): { hash: string; rsa: boolean } {
  const known = SIGNATURE_HASHES[oid];
  if (known) return known;
  if (SHA1_SIGNATURES.includes(oid)) throw "SHA-1 certificate signatures are not accepted";
  throw `certificate signature algorithm ${oid} is not supported`;
}
