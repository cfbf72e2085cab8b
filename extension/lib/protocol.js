// Constants and small helpers shared by the service worker's modules. The values mirror
// protocol/README.md (the wire protocol v1); the Rust crate is the authority.

/** The native messaging host's registered name. */
export const HOST_NAME = "tw.card_agent";

/** The name of the runtime port a content script opens to the service worker. */
export const PAGE_PORT_NAME = "card-agent-page";

/** `frame::MAX_FRAME`: the agent refuses longer frames, so we refuse them first. */
export const MAX_FRAME = 1024 * 1024;

/** Longest request id the protocol accepts (a string id). */
export const MAX_ID_LENGTH = 128;

/** Every stable error code of protocol v1. The extension invents no other code. */
export const ERROR_CODES = Object.freeze([
  "NO_READER", "NO_CARD", "UNKNOWN_CARD", "NO_MODULE", "NO_TOKEN", "CERT_NOT_FOUND",
  "KEY_NOT_FOUND", "PIN_INCORRECT", "PIN_LOCKED", "PIN_FORMAT", "PIN_REQUIRED",
  "USER_CANCELLED", "SITE_NOT_TRUSTED", "BAD_REQUEST", "UNSUPPORTED_ALGORITHM", "TIMEOUT",
  "CARD_REMOVED", "IO_ERROR", "INTERNAL", "CERT_EXPIRED", "CERT_NOT_YET_VALID",
]);

/**
 * Commands a web page may send. The extension refuses others instead of passing them on,
 * so a newer agent's command reaches pages only with an extension that knows about it.
 */
export const PAGE_COMMANDS = Object.freeze([
  "version", "status", "get-certificates", "verify-pin", "sign", "authenticate",
  "subscribe", "unsubscribe",
]);

/** The name of the runtime port on which the content script carries the legacy shim's calls. */
export const LEGACY_PORT_NAME = "card-agent-legacy";

/** The only command the legacy port carries. */
export const LEGACY_COMMANDS = Object.freeze(["legacy-request"]);

/** `legacy-request`'s bound on `arguments.path` (protocol `MAX_LEGACY_PATH_CHARS`). */
export const MAX_LEGACY_PATH = 2048;

/**
 * The runtime port the extension's own pages (the self-test page) open. Only pages of this
 * extension are accepted on it; like web pages they may not send a PIN (the agent's own dialog
 * asks for it).
 */
export const EXTENSION_PAGE_PORT_NAME = "card-agent-extension-page";

/** Commands the extension's own pages may send: the self-test's. */
export const EXTENSION_PAGE_COMMANDS = Object.freeze([
  "version", "status", "get-certificates", "environment-check", "self-test-sign",
  "subscribe", "unsubscribe",
]);

/**
 * The runtime port on which the content script carries SmartPKI pages' ports
 * (smartpki-content.js), and the only commands it carries. `smartpki-call` carries the PIN the
 * page sent (encrypted under the port's key, or in clear): SmartPKI pages work that way, and the
 * agent applies its PIN rules to it.
 */
export const SMARTPKI_PORT_NAME = "card-agent-smartpki";
export const SMARTPKI_COMMANDS = Object.freeze(["smartpki-open", "smartpki-call", "smartpki-close"]);

/** Commands the toolbar popup may send (read-only ones). */
export const POPUP_COMMANDS = Object.freeze(["version", "status"]);

/**
 * How long the service worker waits for the agent, by command, in milliseconds: the timeout
 * ladder's extension row (card_agent_protocol::timeouts, a test keeps these equal). Each is
 * longer than the agent's own budget for the command, which is longer than its dialogs, so
 * the page hears the agent's answer (or its TIMEOUT) and a dialog never outlives its request.
 * - interactive: the site question and the PIN dialog may each be open, then the card signs;
 * - inventory: the site question may be open, then modules load and a slow card is read
 *   (behind another tab's operation on the same card);
 * - legacy: a page's call to the legacy API: the PIN dialog may be open, then the card;
 * - quick: everything else answers from memory.
 */
export const DEFAULT_TIMEOUTS = Object.freeze({
  interactive: 280_000,
  inventory: 160_000,
  legacy: 160_000,
  quick: 15_000,
});

// As the ladder's Kind::of: smartpki-call may sign with the card; smartpki-open may ask the
// user to approve the site, then makes the port's key.
const INTERACTIVE = new Set(["sign", "authenticate", "verify-pin", "self-test-sign", "smartpki-call"]);
const INVENTORY = new Set(["status", "get-certificates", "environment-check", "smartpki-open"]);

/** The timeout for `command` (milliseconds). */
export function timeoutFor(command, timeouts = DEFAULT_TIMEOUTS) {
  if (INTERACTIVE.has(command)) return timeouts.interactive;
  if (INVENTORY.has(command)) return timeouts.inventory;
  if (command === "legacy-request") return timeouts.legacy ?? timeouts.interactive;
  return timeouts.quick;
}

/** An error body as the protocol shapes it: `{code, message, ...extra}`. */
export function errorBody(code, message, extra = {}) {
  if (!ERROR_CODES.includes(code)) throw new Error(`not a protocol error code: ${code}`);
  return { code, message, ...extra };
}

/**
 * The error every caller sees when the native host cannot be reached. The protocol has no
 * code for it, so it is `INTERNAL` plus `agent: "unreachable"`, which pages can test for.
 */
export function unreachableError(reason) {
  const why = reason ? ` (${reason})` : "";
  return errorBody(
    "INTERNAL",
    `The card-agent native host (${HOST_NAME}) is not installed or not running${why}.`,
    { agent: "unreachable" },
  );
}

const encoder = new TextEncoder();

/** UTF-8 length of `text`: frames are bounded in bytes, not UTF-16 code units. */
export function utf8Length(text) {
  return encoder.encode(text).length;
}

/**
 * True for a JSON-like object (not an array, not null). Checked by tag rather than by
 * prototype because messages may come from another realm (another frame, a test's vm).
 */
export function isPlainObject(value) {
  return Object.prototype.toString.call(value) === "[object Object]";
}

/** A request id the protocol accepts: a string of at most 128 characters or a safe integer. */
export function isValidId(id) {
  if (typeof id === "string") return id.length <= MAX_ID_LENGTH;
  return Number.isSafeInteger(id);
}
