// Types for card-agent.js, the page library of the card-agent browser extension (npm package
// card-agent-page). The wire protocol behind it is documented in protocol/README.md. The
// TypeScript compiler checks this file against card-agent.js in the test command.

// BEGIN GENERATED protocol constants from the Rust tables (tests/tests/js_constants.rs): do not edit.
// CARD_AGENT_UPDATE_JS=1 cargo test -p card-agent-testbed --test js_constants
/** Every stable error code of the protocol (`ErrorCode::ALL`). Match on these, not on messages. */
export type ErrorCode =
  | "NO_READER" | "NO_CARD" | "UNKNOWN_CARD" | "NO_MODULE" | "NO_TOKEN" | "CERT_NOT_FOUND"
  | "KEY_NOT_FOUND" | "CERT_EXPIRED" | "CERT_NOT_YET_VALID" | "PIN_INCORRECT" | "PIN_LOCKED"
  | "PIN_FORMAT" | "PIN_REQUIRED" | "USER_CANCELLED" | "SITE_NOT_TRUSTED" | "BAD_REQUEST"
  | "UNSUPPORTED_ALGORITHM" | "TIMEOUT" | "CARD_REMOVED" | "IO_ERROR" | "BUSY" | "INTERNAL";
// END GENERATED protocol constants

export declare const ERROR_CODES: readonly ErrorCode[];
/** The protocol version this library speaks. */
export declare const PROTOCOL_VERSION: number;
/** The `format` of the tokens authenticate() returns. */
export declare const AUTH_TOKEN_FORMAT: "card-agent-auth:1";

/**
 * Extra facts about an error. Conditions that the protocol has no code for are told here,
 * never by a new code:
 * - `agent: "extension-missing"` (code `INTERNAL`): the browser extension did not answer
 *   (not installed, disabled, or this page is not https / http://localhost).
 * - `agent: "extension-disconnected"` (code `INTERNAL`): the extension was reloaded or
 *   updated while the page was open; reload the page.
 * - `agent: "unreachable"` (code `INTERNAL`): the extension is there but the card-agent
 *   program (native host `tw.card_agent`) is not installed or not running.
 * - `reason: "insecure-context"` (code `SITE_NOT_TRUSTED`): the page is plain http on a
 *   host other than localhost, 127.0.0.1 or [::1].
 * - `field` (code `BAD_REQUEST`): the argument at fault, e.g. `"arguments.hash"`.
 * - `atr` (code `UNKNOWN_CARD`): the card's ATR, for a support report.
 * - `timeoutMs` (code `TIMEOUT` raised by this library): how long it waited.
 */
export interface ErrorDetails {
  agent?: "extension-missing" | "extension-disconnected" | "unreachable";
  reason?: "insecure-context" | "unknown-origin";
  field?: string;
  atr?: string;
  timeoutMs?: number;
  [key: string]: unknown;
}

/** Every failure of this library. A newer agent may add codes; treat unknown ones as INTERNAL. */
export declare class CardAgentError extends Error {
  constructor(code: ErrorCode, message: string, options?: { retriesLeft?: number; details?: ErrorDetails });
  readonly name: "CardAgentError";
  readonly code: ErrorCode;
  /** With PIN_INCORRECT and PIN_LOCKED, when the card says how many tries remain. */
  readonly retriesLeft?: number;
  readonly details: ErrorDetails;
}

export type CardFamily = "MOICA" | "MOEACA" | "GCA" | "XCA" | "HCA" | "unknown" | (string & {});

export interface Certificate {
  tokenSerial: string;
  subject: string;
  subjectCn?: string;
  issuer: string;
  serial: string;
  /** RFC 3339, e.g. "2029-01-01T00:00:00Z". */
  notBefore: string;
  notAfter: string;
  daysToExpiry: number;
  keyUsage: string[];
  keyAlgorithm: string;
  sha1: string;
  /** The thumbprint to pass to sign() and authenticate(). */
  sha256: string;
  pkcs11Id?: string;
  pkcs11Label?: string;
  cardFamily: CardFamily;
  /** MOICA: the last four digits of the national ID. */
  idLast4?: string;
  /** MOEACA: the business number (統一編號). */
  businessNumber?: string;
  /** GCA / XCA: the organisation code. */
  organisationCode?: string;
  hasPrivateKey: boolean;
  /** The certificate, base64 DER. */
  derBase64: string;
  /** The certificate, DER bytes (not enumerable: decoded from derBase64 on each read). */
  readonly derBase64Bytes: Uint8Array;
}

export interface Reader {
  name: string;
  cardPresent: boolean;
  atr?: string;
  cardFamily?: CardFamily;
  tokenSerial?: string;
}

export interface Token {
  label: string;
  serial: string;
  manufacturer?: string;
  model?: string;
  slotDescription?: string;
  pinStatus?: "ok" | "countLow" | "finalTry" | "locked";
  pinTriesLeft?: number;
  /** The built-in demo token: never a real card. */
  demo?: boolean;
  /**
   * The reader has its own PIN pad: the person types the PIN there, so the page asks for
   * none (the agent ignores a PIN sent for this card). Absent when false.
   */
  pinPad?: boolean;
  certificates: Omit<Certificate, "tokenSerial" | "derBase64Bytes">[];
  [key: string]: unknown;
}

/** The result of status(): the agent's whole inventory. */
export interface Inventory {
  readers: Reader[];
  tokens: Token[];
  modules: { path: string; loaded: boolean; source: string; description?: string }[];
  pcscError?: string;
}

export interface VersionInfo {
  version: string;
  /** Changes only when a client written for the previous number would break. */
  protocol: number;
  name: string;
}

/** Bytes, or a string (meaning depends on the argument). */
export type BinaryInput = ArrayBuffer | ArrayBufferView | string;

export type HashAlgorithm = "SHA-1" | "SHA-256" | "SHA-384" | "SHA-512";
export type SignatureFormat = "pkcs1" | "cms" | "cms-attached";

export interface SignOptions {
  /** SHA-256 thumbprint (64 hex digits; colons, spaces and capitals allowed) from getCertificates(). */
  certificate: string;
  /** A digest you computed: bytes, or a hex string. Exactly one of hash and data. */
  hash?: BinaryInput;
  /** Content for the agent to hash: bytes, or a string signed as its UTF-8 bytes. */
  data?: BinaryInput;
  /** Default "SHA-256". */
  hashAlgorithm?: HashAlgorithm;
  /** "cms-attached" needs data. */
  format: SignatureFormat;
  /** Logged with the operation: bytes, or a string that is already base64. */
  nonce?: BinaryInput;
  /**
   * Stops waiting: the agent closes its PIN dialog and signs nothing, and the promise rejects
   * with `signal.reason` (an "AbortError" DOMException unless you gave another reason).
   */
  signal?: AbortSignal;
}

export interface SignResult {
  /** base64: the bare signature (pkcs1) or the CMS SignedData DER. */
  signature: string;
  format: SignatureFormat;
  /** The signer's certificate, base64 DER. */
  certificate: string;
  /** `signature` as bytes (not enumerable: JSON.stringify sends the base64 only). */
  readonly signatureBytes: Uint8Array;
  /** `certificate` as DER bytes (not enumerable). */
  readonly certificateBytes: Uint8Array;
}

export interface AuthenticateOptions {
  /** The nonce your server issued (base64 of at least 32 bytes), passed exactly as issued. */
  challengeNonce: string;
  /** Thumbprint of the certificate to use, when the page knows it. */
  certificate?: string;
  /** Stops waiting, as for sign(): the agent closes its dialog and signs nothing. */
  signal?: AbortSignal;
}

/**
 * Post it to your server as is (`JSON.stringify(token)`), and verify it there: the Node.js
 * package card-agent-verify, or the Rust crate card-agent-protocol's `verifier`.
 */
export interface AuthToken {
  format: "card-agent-auth:1";
  unverifiedCertificate: string;
  algorithm: "RS256" | "RS384" | "RS512" | "ES256" | "ES384";
  signature: string;
  appVersion: string;
  /** `signature` as bytes (not enumerable: JSON.stringify sends the wire token only). */
  readonly signatureBytes: Uint8Array;
  /** `unverifiedCertificate` as DER bytes (not enumerable). */
  readonly unverifiedCertificateBytes: Uint8Array;
}

export type CardEvent =
  | { type: "card-inserted"; reader: string; atr: string; cardFamily: CardFamily }
  | { type: "card-removed"; reader: string }
  | { type: "reader-added"; reader: string }
  | { type: "reader-removed"; reader: string };

export interface CardEventOptions {
  /**
   * The subscription failed or ended (e.g. SITE_NOT_TRUSTED, or details.agent
   * "unreachable" when the agent stopped). The listener is removed; call onCardEvent again
   * to listen again.
   */
  onError?: (error: CardAgentError) => void;
}

export interface CardAgent {
  /** Whether the extension answers on this page (default timeout 1000 ms). Does not start the agent. */
  isAvailable(options?: { timeout?: number }): Promise<boolean>;
  /** The agent's version; also a cheap check that the agent itself is reachable. */
  version(): Promise<VersionInfo>;
  status(): Promise<Inventory>;
  getCertificates(): Promise<Certificate[]>;
  /** The agent asks for the PIN in its own dialog; pages never handle PINs. */
  verifyPin(options?: { token?: string; signal?: AbortSignal }): Promise<{ verified: true }>;
  sign(options: SignOptions): Promise<SignResult>;
  authenticate(options: AuthenticateOptions): Promise<AuthToken>;
  /** Returns a function that stops this listener (resolves once the agent was told, if it was the last). */
  onCardEvent(callback: (event: CardEvent) => void, options?: CardEventOptions): () => Promise<void>;
}

export interface Timeouts {
  /** sign, authenticate, verify-pin (a PIN dialog may be open). Default 290 000 ms. */
  interactive: number;
  /** status, get-certificates. Default 170 000 ms. */
  inventory: number;
  /** Everything else. Default 25 000 ms. */
  quick: number;
}

export declare const DEFAULT_TIMEOUTS: Readonly<Timeouts>;

export declare function createCardAgent(options?: {
  window?: Window;
  /** How long isAvailable() waits by default, ms. Default 1000. */
  presenceTimeout?: number;
  timeouts?: Timeouts;
  /** Where errors thrown by onCardEvent listeners go. Default: globalThis.reportError. */
  reportError?: (error: unknown) => void;
}): CardAgent;

/** The protocol error object -> CardAgentError. */
export declare function errorFromWire(error: unknown): CardAgentError;
/** Standard padded base64. */
export declare function toBase64(bytes: Uint8Array): string;
/** The bytes of standard or URL-safe base64, padded or not; a TypeError for anything else. */
export declare function fromBase64(text: string): Uint8Array;

export declare const isAvailable: CardAgent["isAvailable"];
export declare const version: CardAgent["version"];
export declare const status: CardAgent["status"];
export declare const getCertificates: CardAgent["getCertificates"];
export declare const verifyPin: CardAgent["verifyPin"];
export declare const sign: CardAgent["sign"];
export declare const authenticate: CardAgent["authenticate"];
export declare const onCardEvent: CardAgent["onCardEvent"];
