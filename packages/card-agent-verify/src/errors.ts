// Why a token was refused: one kind per case of the Rust verifier's `VerifyError`
// (protocol/src/verifier.rs), with the same fields, so a server can switch on `kind`.

/** The reasons a token is refused. */
export type VerifyErrorKind =
  /** A token field is malformed: unknown `format`, bad base64, not DER X.509, too large. */
  | "BadFormat"
  /** The `algorithm` is not RS256, RS384, RS512, ES256 or ES384. */
  | "UnsupportedAlgorithm"
  /** The `algorithm` does not fit the certificate's key (ES256 with an RSA key, ...). */
  | "AlgorithmKeyMismatch"
  /** The certificate's key is unusable: another type or curve, or RSA under 2048 bits. */
  | "UnsupportedKey"
  /** The nonce carries fewer than 256 bits. */
  | "NonceTooShort"
  /** The nonce is not base64 or is longer than 1024 characters. */
  | "InvalidNonce"
  /** The expected origin is not a bare origin (a server configuration error). */
  | "BadOrigin"
  /** The certificate expired before `now`. */
  | "Expired"
  /** The certificate is not valid yet at `now`. */
  | "NotYetValid"
  /** The certificate's key usage lacks digitalSignature (or it has none). */
  | "MissingDigitalSignature"
  /** The certificate has a critical extension this verifier does not process. */
  | "UnsupportedCriticalExtension"
  /** No path to a configured root. */
  | "UntrustedChain"
  /** The signature does not verify for this origin and nonce. */
  | "SignatureInvalid";

/** The facts of a refusal, by kind (each present only for the kinds that have it). */
export interface VerifyErrorFields {
  /** BadFormat: the token field at fault. */
  field?: string;
  /** UnsupportedAlgorithm: the algorithm as sent; AlgorithmKeyMismatch: the token's. */
  algorithm?: string;
  /** AlgorithmKeyMismatch: `RSA`, `EC P-256` or `EC P-384`. */
  key?: string;
  /** NonceTooShort: the bits the nonce carries. */
  bits?: number;
  /** Expired: end of validity, Unix seconds. */
  notAfter?: number;
  /** NotYetValid: start of validity, Unix seconds. */
  notBefore?: number;
  /** Expired, NotYetValid: the time checked, Unix seconds. */
  now?: number;
  /** UnsupportedCriticalExtension: the extension's OID. */
  oid?: string;
  /** BadFormat, UnsupportedKey, InvalidNonce, BadOrigin, UntrustedChain: what is wrong. */
  reason?: string;
}

/** A refused token. `kind` is stable; `message` is for logs. */
export class VerifyError extends Error implements VerifyErrorFields {
  override readonly name = "VerifyError";
  readonly kind: VerifyErrorKind;
  readonly field?: string;
  readonly algorithm?: string;
  readonly key?: string;
  readonly bits?: number;
  readonly notAfter?: number;
  readonly notBefore?: number;
  readonly now?: number;
  readonly oid?: string;
  readonly reason?: string;

  constructor(kind: VerifyErrorKind, message: string, fields: VerifyErrorFields = {}) {
    super(message);
    this.kind = kind;
    Object.assign(this, fields);
  }
}
