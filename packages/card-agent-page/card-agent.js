// card-agent page library: lets a web page use Taiwan government PKI cards through the
// card-agent browser extension. An ES module with no dependencies (npm package
// card-agent-page, or copy this file and card-agent.d.ts into your site).
//
//   import { getCertificates, sign, authenticate, CardAgentError } from "card-agent-page";
//
// It talks to the extension's content script with window.postMessage:
//   page -> extension  {"card-agent": "request", id, command, arguments}, {"card-agent": "ping"}
//                      and {"card-agent": "cancel", id} (the page's AbortSignal fired)
//   extension -> page  {"card-agent": "response", id, result | error}, {"card-agent": "event", event},
//                      {"card-agent": "subscription-ended", error}, {"card-agent": "pong" | "present"}
// Types and documentation: card-agent.d.ts. The TypeScript compiler checks this file against
// it in the test command: the JSDoc below names each export's declared type (a module
// specifier "./card-agent.js" resolves to the declarations).
//
/** @typedef {import("./card-agent.js").CardAgent} CardAgent */
/** @typedef {import("./card-agent.js").ErrorCode} ErrorCode */
/** @typedef {import("./card-agent.js").ErrorDetails} ErrorDetails */

// BEGIN GENERATED protocol constants from the Rust tables (tests/tests/js_constants.rs): do not edit.
// CARD_AGENT_UPDATE_JS=1 cargo test -p card-agent-testbed --test js_constants
/** Every stable error code of the protocol (`ErrorCode::ALL`). Match on these, not on messages. */
export const ERROR_CODES = Object.freeze([
  "NO_READER", "NO_CARD", "UNKNOWN_CARD", "NO_MODULE", "NO_TOKEN", "CERT_NOT_FOUND",
  "KEY_NOT_FOUND", "CERT_EXPIRED", "CERT_NOT_YET_VALID", "PIN_INCORRECT", "PIN_LOCKED",
  "PIN_FORMAT", "PIN_REQUIRED", "USER_CANCELLED", "SITE_NOT_TRUSTED", "BAD_REQUEST",
  "UNSUPPORTED_ALGORITHM", "TIMEOUT", "CARD_REMOVED", "IO_ERROR", "BUSY", "INTERNAL",
]);
/** The protocol's version number (`message::PROTOCOL_VERSION`). */
export const PROTOCOL_VERSION = 1;
/** `auth::AUTH_TOKEN_FORMAT`: the `format` of an authentication token. */
export const AUTH_TOKEN_FORMAT = "card-agent-auth:1";
/** The key marking page library messages on window.postMessage. */
const PAGE_MARK = "card-agent";
/** `auth::MAX_NONCE_CHARS`: the longest challenge nonce, in characters. */
const MAX_NONCE_CHARS = 1024;
/** The timeout ladder's page row (`timeouts::PAGE_*`), ms. */
const PAGE_TIMEOUTS = Object.freeze({ interactive: 290_000, inventory: 170_000, quick: 25_000 });
// END GENERATED protocol constants

const DIGEST_LENGTHS = { "SHA-1": 20, "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 };

/**
 * How long the library waits for an answer, in ms: the timeout ladder's page row (generated
 * above from card_agent_protocol::timeouts), each 10 s
 * longer than the extension's own wait (280 s when the site question and a PIN dialog may be
 * open, 160 s for inventory, 15 s otherwise), so the extension's clearer TIMEOUT arrives first.
 */
/** @type {Readonly<import("./card-agent.js").Timeouts>} */
export const DEFAULT_TIMEOUTS = PAGE_TIMEOUTS;

/** Every failure of this library: `code` is one of the protocol's stable codes. */
export class CardAgentError extends Error {
  /** @type {"CardAgentError"} */
  name = "CardAgentError";

  /**
   * @param {ErrorCode} code
   * @param {string} message
   * @param {{ retriesLeft?: number, details?: ErrorDetails }} [options]
   */
  constructor(code, message, { retriesLeft, details } = {}) {
    super(message);
    /** @type {ErrorCode} */
    this.code = code;
    if (retriesLeft !== undefined) this.retriesLeft = retriesLeft;
    /** @type {ErrorDetails} */
    this.details = details ?? {};
  }
}

const isObject = (v) => Object.prototype.toString.call(v) === "[object Object]";

/**
 * Turns a protocol error object into a CardAgentError.
 * @type {typeof import("./card-agent.js").errorFromWire}
 */
export function errorFromWire(error) {
  if (!isObject(error)) {
    return new CardAgentError("INTERNAL", "card-agent sent a malformed error.");
  }
  const { code, message, retriesLeft, ...details } = /** @type {Record<string, unknown>} */ (error);
  return new CardAgentError(
    // A newer agent may send a code this library does not list; it is passed on as it is.
    typeof code === "string" && code !== "" ? /** @type {ErrorCode} */ (code) : "INTERNAL",
    typeof message === "string" ? message : "card-agent reported an error.",
    { retriesLeft: Number.isInteger(retriesLeft) ? /** @type {number} */ (retriesLeft) : undefined, details },
  );
}

/** `signal` must be absent or an AbortSignal (checked by shape: it may come from another realm). */
function checkSignal(signal) {
  if (signal == null) return;
  if (typeof signal.addEventListener !== "function" || typeof signal.aborted !== "boolean"
    || typeof signal.throwIfAborted !== "function") {
    throw new TypeError("signal must be an AbortSignal.");
  }
}

const badRequest = (field, message) => new CardAgentError("BAD_REQUEST", message, { details: { field } });

/** Bytes of an ArrayBuffer, a typed array or a DataView, or null for anything else. */
function bytesOf(value) {
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (Object.prototype.toString.call(value) === "[object ArrayBuffer]") return new Uint8Array(value);
  return null;
}

/** The bytes of standard or URL-safe base64 (padding optional). Throws a TypeError on anything else. */
/** @type {typeof import("./card-agent.js").fromBase64} */
export function fromBase64(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) {
    throw new TypeError("not base64");
  }
  const bare = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  // One character past a group of four carries less than a byte: no encoder writes that.
  if (bare.length % 4 === 1) throw new TypeError("not base64");
  const binary = atob(bare.padEnd(Math.ceil(bare.length / 4) * 4, "="));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Adds `<field>Bytes` getters (Uint8Array, decoded on each read) for base64 fields of a
 * result. They are not enumerable, so JSON.stringify(result) is still exactly what the agent
 * sent: an authentication token posts to the server unchanged.
 */
function withBytes(result, fields) {
  if (!isObject(result)) return result;
  for (const field of fields) {
    if (typeof result[field] !== "string") continue;
    Object.defineProperty(result, `${field}Bytes`, {
      get: () => fromBase64(result[field]),
      enumerable: false,
      configurable: true,
    });
  }
  return result;
}

/** Standard, padded base64 of `bytes` (chunked: spreading a large array overflows the stack). */
/** @type {typeof import("./card-agent.js").toBase64} */
export function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, /** @type {any} */ (bytes.subarray(i, i + 0x8000)));
  }
  return btoa(binary);
}

/** `data`: bytes as they are, or a string as its UTF-8 bytes. */
function dataToBase64(data) {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : bytesOf(data);
  if (!bytes) throw badRequest("arguments.data", "data must be an ArrayBuffer, a typed array or a string.");
  if (bytes.length === 0) throw badRequest("arguments.data", "data must not be empty.");
  return toBase64(bytes);
}

/** `hash`: bytes, or a string of hex digits (as printed by sha256sum); checked against the algorithm. */
function hashToBase64(hash, hashAlgorithm) {
  let bytes = bytesOf(hash);
  if (typeof hash === "string") {
    const hex = hash.replace(/[\s:]/g, "");
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) {
      throw badRequest("arguments.hash", "A hash given as a string must be hex digits.");
    }
    bytes = new Uint8Array((hex.match(/../g) ?? []).map((h) => parseInt(h, 16)));
  }
  if (!bytes) throw badRequest("arguments.hash", "hash must be an ArrayBuffer, a typed array or a hex string.");
  const expected = DIGEST_LENGTHS[hashAlgorithm];
  if (expected !== undefined && bytes.length !== expected) {
    throw badRequest("arguments.hash", `A ${hashAlgorithm} hash is ${expected} bytes, not ${bytes.length}.`);
  }
  return toBase64(bytes);
}

/** A certificate thumbprint: 64 hex digits, colons and spaces allowed, sent in lower case. */
function thumbprint(value, field) {
  const hex = typeof value === "string" ? value.replace(/[\s:]/g, "").toLowerCase() : "";
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw badRequest(field, "certificate must be the SHA-256 thumbprint (64 hex digits) from getCertificates().");
  }
  return hex;
}

/**
 * Creates a client bound to `window`. The module's top-level functions use one created on
 * first use; create your own to change the timeouts (or, in tests, the window).
 */
/** @type {typeof import("./card-agent.js").createCardAgent} */
export function createCardAgent({
  window: win = globalThis.window,
  presenceTimeout = 1000,
  timeouts = DEFAULT_TIMEOUTS,
  // Where a throwing onCardEvent listener's error goes: the browser's reportError (the
  // console and window.onerror, as an uncaught error would), without stopping the others.
  reportError = globalThis.reportError ?? ((error) => setTimeout(() => { throw error; }, 0)),
} = {}) {
  const prefix = `ca-${Math.random().toString(36).slice(2, 10)}-`;
  let counter = 0;
  const pending = new Map();
  let present = false;
  const presenceWaiters = new Set();
  const listeners = new Set();
  let chain = Promise.resolve();
  let listening = false;

  function listen() {
    if (listening) return;
    listening = true;
    win.addEventListener("message", (event) => {
      if (event.source !== win || !isObject(event.data)) return;
      const data = event.data;
      switch (data[PAGE_MARK]) {
        case "response": return settle(data);
        case "pong":
        case "present":
          present = true;
          for (const wake of presenceWaiters) wake(true);
          return undefined;
        case "event": return dispatch(data.event);
        case "subscription-ended": return endListeners(errorFromWire(data.error));
        default: return undefined; // our own requests and pings, or someone else's messages
      }
    });
  }

  function post(message) {
    // To this window only. An opaque origin ("null") cannot be named as a target; the
    // extension ignores such documents anyway, and isAvailable() then answers false.
    const target = win.location.origin === "null" ? "*" : win.location.origin;
    win.postMessage({ [PAGE_MARK]: message.kind, ...message.body }, target);
  }

  function settle(data) {
    const entry = pending.get(data.id);
    if (!entry) return; // another library instance's request, or one that timed out or was aborted
    if ("error" in data) entry.reject(errorFromWire(data.error));
    else entry.resolve(data.result);
  }

  function isAvailable({ timeout = presenceTimeout } = {}) {
    listen();
    if (present) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = (answer) => {
        presenceWaiters.delete(wake);
        clearTimeout(timer);
        resolve(answer);
      };
      const timer = setTimeout(() => wake(false), timeout);
      presenceWaiters.add(wake);
      post({ kind: "ping", body: {} });
    });
  }

  function timeoutFor(command) {
    if (["sign", "authenticate", "verify-pin"].includes(command)) return timeouts.interactive;
    if (["status", "get-certificates"].includes(command)) return timeouts.inventory;
    return timeouts.quick;
  }

  /**
   * Sends one request. With `signal`: an abort before the request is sent sends nothing; an
   * abort while it waits tells the extension to cancel it (the agent closes its dialog and
   * signs nothing) and rejects with the signal's reason at once. The agent's own answer to
   * the cancelled request is then ignored.
   */
  /**
   * @param {string} command
   * @param {object} [args]
   * @param {{ signal?: AbortSignal }} [options]
   */
  async function request(command, args = {}, { signal } = {}) {
    checkSignal(signal);
    signal?.throwIfAborted();
    if (!(await isAvailable())) {
      throw new CardAgentError(
        "INTERNAL",
        "The card-agent browser extension is not installed, or not enabled on this page.",
        { details: { agent: "extension-missing" } },
      );
    }
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      counter += 1;
      const id = prefix + counter;
      const ms = timeoutFor(command);
      const finish = () => {
        pending.delete(id);
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        if (!pending.has(id)) return;
        finish();
        post({ kind: "cancel", body: { id } });
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new CardAgentError("TIMEOUT", `No answer to "${command}" within ${Math.round(ms / 1000)} s.`,
          { details: { timeoutMs: ms } }));
      }, ms);
      pending.set(id, {
        resolve: (value) => { finish(); resolve(value); },
        reject: (error) => { finish(); reject(error); },
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      post({ kind: "request", body: { id, command, arguments: args } });
    });
  }

  // Subscribe and unsubscribe run one after the other, so a quick unsubscribe-resubscribe
  // cannot reach the agent in the wrong order.
  function serial(fn) {
    const run = chain.then(fn);
    chain = run.catch(() => {});
    return run;
  }

  function dispatch(event) {
    for (const entry of [...listeners]) {
      try {
        entry.callback(event);
      } catch (error) {
        // One broken listener must not silence the others; still surface its error.
        reportError(error);
      }
    }
  }

  function endListeners(error) {
    const ended = [...listeners];
    listeners.clear();
    for (const entry of ended) entry.onError?.(error);
  }

  /** @type {CardAgent["onCardEvent"]} */
  function onCardEvent(callback, { onError } = {}) {
    if (typeof callback !== "function") throw new TypeError("onCardEvent needs a callback function.");
    const entry = { callback, onError };
    listeners.add(entry);
    if (listeners.size === 1) serial(() => request("subscribe")).catch(endListeners);
    return function unsubscribe() {
      if (!listeners.delete(entry)) return Promise.resolve();
      if (listeners.size > 0) return Promise.resolve();
      return serial(() => request("unsubscribe")).then(() => undefined, () => undefined);
    };
  }

  return {
    isAvailable,
    onCardEvent,
    version: () => request("version"),
    status: () => request("status"),
    getCertificates: async () =>
      (await request("get-certificates")).certificates.map((c) => withBytes(c, ["derBase64"])),
    verifyPin: ({ token, signal } = {}) =>
      request("verify-pin", token === undefined ? {} : { token }, { signal }),
    async sign(options) {
      // JavaScript callers may pass anything: every field is checked here.
      const { certificate, hash, data, hashAlgorithm = "SHA-256", format, nonce, signal } =
        /** @type {Partial<import("./card-agent.js").SignOptions>} */ (options ?? {});
      if ((hash == null) === (data == null)) throw badRequest("arguments", "Give exactly one of hash or data.");
      if (!(hashAlgorithm in DIGEST_LENGTHS)) {
        throw badRequest("arguments.hashAlgorithm", "hashAlgorithm is SHA-1, SHA-256, SHA-384 or SHA-512.");
      }
      if (format === undefined || !["pkcs1", "cms", "cms-attached"].includes(format)) {
        throw badRequest("arguments.format", 'format is "pkcs1", "cms" or "cms-attached".');
      }
      const args = { certificate: thumbprint(certificate, "arguments.certificate"), hashAlgorithm, format };
      if (hash != null) args.hash = hashToBase64(hash, hashAlgorithm);
      else args.data = dataToBase64(data);
      if (nonce != null) args.nonce = typeof nonce === "string" ? nonce : dataToBase64(nonce);
      return withBytes(await request("sign", args, { signal }), ["signature", "certificate"]);
    },
    async authenticate(options) {
      const { challengeNonce, certificate, signal } =
        /** @type {Partial<import("./card-agent.js").AuthenticateOptions>} */ (options ?? {});
      // Sent exactly as the server issued it: the card signs SHA-256 of these characters.
      if (typeof challengeNonce !== "string" || challengeNonce === "" || challengeNonce.length > MAX_NONCE_CHARS) {
        throw badRequest("arguments.challengeNonce",
          `challengeNonce is the string your server issued (at most ${MAX_NONCE_CHARS} characters).`);
      }
      const args = { challengeNonce };
      if (certificate != null) args.certificate = thumbprint(certificate, "arguments.certificate");
      return withBytes(await request("authenticate", args, { signal }), ["signature", "unverifiedCertificate"]);
    },
  };
}

/** @type {CardAgent | null} */
let shared = null;
const agent = () => (shared ??= createCardAgent());

/** @type {CardAgent["isAvailable"]} */
export const isAvailable = (options) => agent().isAvailable(options);
/** @type {CardAgent["version"]} */
export const version = () => agent().version();
/** @type {CardAgent["status"]} */
export const status = () => agent().status();
/** @type {CardAgent["getCertificates"]} */
export const getCertificates = () => agent().getCertificates();
/** @type {CardAgent["verifyPin"]} */
export const verifyPin = (options) => agent().verifyPin(options);
/** @type {CardAgent["sign"]} */
export const sign = (options) => agent().sign(options);
/** @type {CardAgent["authenticate"]} */
export const authenticate = (options) => agent().authenticate(options);
/** @type {CardAgent["onCardEvent"]} */
export const onCardEvent = (callback, options) => agent().onCardEvent(callback, options);
