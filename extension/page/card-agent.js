// card-agent page library: lets a web page use Taiwan government PKI cards through the
// card-agent browser extension. An ES module with no dependencies; copy it into your site.
//
//   import { getCertificates, sign, authenticate, CardAgentError } from "./card-agent.js";
//
// It talks to the extension's content script with window.postMessage:
//   page -> extension  {"card-agent": "request", id, command, arguments} and {"card-agent": "ping"}
//   extension -> page  {"card-agent": "response", id, result | error}, {"card-agent": "event", event},
//                      {"card-agent": "subscription-ended", error}, {"card-agent": "pong" | "present"}
// Types and documentation: card-agent.d.ts.

const MARK = "card-agent";

/** The protocol's stable error codes (protocol/README.md). */
export const ERROR_CODES = Object.freeze([
  "NO_READER", "NO_CARD", "UNKNOWN_CARD", "NO_MODULE", "NO_TOKEN", "CERT_NOT_FOUND",
  "KEY_NOT_FOUND", "PIN_INCORRECT", "PIN_LOCKED", "PIN_FORMAT", "PIN_REQUIRED",
  "USER_CANCELLED", "SITE_NOT_TRUSTED", "BAD_REQUEST", "UNSUPPORTED_ALGORITHM", "TIMEOUT",
  "CARD_REMOVED", "IO_ERROR", "INTERNAL", "BUSY",
]);

const DIGEST_LENGTHS = { "SHA-1": 20, "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 };

/**
 * How long the library waits for an answer, in ms: the timeout ladder's page row, each 10 s
 * longer than the extension's own wait (280 s when the site question and a PIN dialog may be
 * open, 160 s for inventory, 15 s otherwise), so the extension's clearer TIMEOUT arrives first.
 */
export const DEFAULT_TIMEOUTS = Object.freeze({ interactive: 290_000, inventory: 170_000, quick: 25_000 });

/** Every failure of this library: `code` is one of the protocol's stable codes. */
export class CardAgentError extends Error {
  constructor(code, message, { retriesLeft, details } = {}) {
    super(message);
    this.name = "CardAgentError";
    this.code = code;
    if (retriesLeft !== undefined) this.retriesLeft = retriesLeft;
    this.details = details ?? {};
  }
}

const isObject = (v) => Object.prototype.toString.call(v) === "[object Object]";

/** Turns a protocol error object into a CardAgentError. */
export function errorFromWire(error) {
  if (!isObject(error)) {
    return new CardAgentError("INTERNAL", "card-agent sent a malformed error.");
  }
  const { code, message, retriesLeft, ...details } = error;
  return new CardAgentError(
    typeof code === "string" && code !== "" ? code : "INTERNAL",
    typeof message === "string" ? message : "card-agent reported an error.",
    { retriesLeft: Number.isInteger(retriesLeft) ? retriesLeft : undefined, details },
  );
}

const badRequest = (field, message) => new CardAgentError("BAD_REQUEST", message, { details: { field } });

/** Bytes of an ArrayBuffer, a typed array or a DataView, or null for anything else. */
function bytesOf(value) {
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (Object.prototype.toString.call(value) === "[object ArrayBuffer]") return new Uint8Array(value);
  return null;
}

/** Standard, padded base64 of `bytes` (chunked: spreading a large array overflows the stack). */
export function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
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
    bytes = new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
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
      switch (data[MARK]) {
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
    win.postMessage({ [MARK]: message.kind, ...message.body }, target);
  }

  function settle(data) {
    const entry = pending.get(data.id);
    if (!entry) return; // another library instance's request, or one that timed out
    pending.delete(data.id);
    clearTimeout(entry.timer);
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

  async function request(command, args = {}) {
    if (!(await isAvailable())) {
      throw new CardAgentError(
        "INTERNAL",
        "The card-agent browser extension is not installed, or not enabled on this page.",
        { details: { agent: "extension-missing" } },
      );
    }
    return new Promise((resolve, reject) => {
      counter += 1;
      const id = prefix + counter;
      const ms = timeoutFor(command);
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new CardAgentError("TIMEOUT", `No answer to "${command}" within ${Math.round(ms / 1000)} s.`,
          { details: { timeoutMs: ms } }));
      }, ms);
      pending.set(id, { resolve, reject, timer });
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
    getCertificates: async () => (await request("get-certificates")).certificates,
    verifyPin: ({ token } = {}) =>
      request("verify-pin", token === undefined ? {} : { token }),
    async sign({ certificate, hash, data, hashAlgorithm = "SHA-256", format, nonce } = {}) {
      if ((hash == null) === (data == null)) throw badRequest("arguments", "Give exactly one of hash or data.");
      if (!(hashAlgorithm in DIGEST_LENGTHS)) {
        throw badRequest("arguments.hashAlgorithm", "hashAlgorithm is SHA-1, SHA-256, SHA-384 or SHA-512.");
      }
      if (!["pkcs1", "cms", "cms-attached"].includes(format)) {
        throw badRequest("arguments.format", 'format is "pkcs1", "cms" or "cms-attached".');
      }
      const args = { certificate: thumbprint(certificate, "arguments.certificate"), hashAlgorithm, format };
      if (hash != null) args.hash = hashToBase64(hash, hashAlgorithm);
      else args.data = dataToBase64(data);
      if (nonce != null) args.nonce = typeof nonce === "string" ? nonce : dataToBase64(nonce);
      return request("sign", args);
    },
    async authenticate({ challengeNonce, certificate } = {}) {
      // Sent exactly as the server issued it: the card signs SHA-256 of these characters.
      if (typeof challengeNonce !== "string" || challengeNonce === "") {
        throw badRequest("arguments.challengeNonce", "challengeNonce is the string your server issued.");
      }
      const args = { challengeNonce };
      if (certificate != null) args.certificate = thumbprint(certificate, "arguments.certificate");
      return request("authenticate", args);
    },
  };
}

let shared = null;
const agent = () => (shared ??= createCardAgent());

export const isAvailable = (options) => agent().isAvailable(options);
export const version = () => agent().version();
export const status = () => agent().status();
export const getCertificates = () => agent().getCertificates();
export const verifyPin = (options) => agent().verifyPin(options);
export const sign = (options) => agent().sign(options);
export const authenticate = (options) => agent().authenticate(options);
export const onCardEvent = (callback, options) => agent().onCardEvent(callback, options);
