// Constants and small helpers shared by the service worker's modules. The protocol's own
// constants are generated from the Rust crate (the block below); the rest is the extension's.

// The agent refuses frames over MAX_FRAME, so the extension refuses them first. The extension
// invents no error code outside ERROR_CODES.
// BEGIN GENERATED protocol constants from the Rust tables (tests/tests/js_constants.rs): do not edit.
// CARD_AGENT_UPDATE_JS=1 cargo test -p card-agent-testbed --test js_constants
/** The native messaging host's registered name. */
export const HOST_NAME = "tw.card_agent";
/** The runtime port a content script opens to the service worker for a page. */
export const PAGE_PORT_NAME = "card-agent-page";
/** The runtime port that carries the legacy shim's calls. */
export const LEGACY_PORT_NAME = "card-agent-legacy";
/** The runtime port the extension's own pages (the self-test page) open. */
export const EXTENSION_PAGE_PORT_NAME = "card-agent-extension-page";
/** The runtime port that carries SmartPKI pages' ports. */
export const SMARTPKI_PORT_NAME = "card-agent-smartpki";
/** `frame::MAX_FRAME`: the longest message (UTF-8 bytes of its JSON) the agent accepts. */
export const MAX_FRAME = 1048576;
/** `limits::MAX_ID_CHARS`: the longest request id (a string id), in characters. */
export const MAX_ID_LENGTH = 128;
/** `MAX_LEGACY_PATH_CHARS`: the longest `legacy-request` path with its query. */
export const MAX_LEGACY_PATH = 2048;
/** Every stable error code of the protocol (`ErrorCode::ALL`). Match on these, not on messages. */
export const ERROR_CODES = Object.freeze([
  "NO_READER", "NO_CARD", "UNKNOWN_CARD", "NO_MODULE", "NO_TOKEN", "CERT_NOT_FOUND",
  "KEY_NOT_FOUND", "CERT_EXPIRED", "CERT_NOT_YET_VALID", "PIN_INCORRECT", "PIN_LOCKED",
  "PIN_FORMAT", "PIN_REQUIRED", "USER_CANCELLED", "SITE_NOT_TRUSTED", "BAD_REQUEST",
  "UNSUPPORTED_ALGORITHM", "TIMEOUT", "CARD_REMOVED", "IO_ERROR", "BUSY", "INTERNAL",
]);
/** The timeout ladder's extension row (`timeouts::EXTENSION_*`), ms. */
const EXTENSION_TIMEOUTS = Object.freeze({ interactive: 280_000, inventory: 160_000, legacy: 160_000, quick: 15_000 });
// END GENERATED protocol constants

/**
 * Commands a web page may send. The extension refuses others instead of passing them on,
 * so a newer agent's command reaches pages only with an extension that knows about it.
 */
export const PAGE_COMMANDS = Object.freeze([
  "version", "status", "get-certificates", "verify-pin", "sign", "authenticate",
  "subscribe", "unsubscribe",
]);

/** The only command the legacy port carries. */
export const LEGACY_COMMANDS = Object.freeze(["legacy-request"]);

// Only pages of this extension are accepted on EXTENSION_PAGE_PORT_NAME; like web pages they
// may not send a PIN (the agent's own dialog asks for it).

/** Commands the extension's own pages may send: the self-test's. */
export const EXTENSION_PAGE_COMMANDS = Object.freeze([
  "version", "status", "get-certificates", "environment-check", "self-test-sign",
  "subscribe", "unsubscribe",
]);

/**
 * The only commands the SmartPKI port (SMARTPKI_PORT_NAME, smartpki-content.js) carries.
 * `smartpki-call` carries the PIN the page sent (encrypted under the port's key, or in clear):
 * SmartPKI pages work that way, and the agent applies its PIN rules to it.
 */
export const SMARTPKI_COMMANDS = Object.freeze(["smartpki-open", "smartpki-call", "smartpki-close"]);

/** Commands the toolbar popup may send (read-only ones). */
export const POPUP_COMMANDS = Object.freeze(["version", "status"]);

/**
 * How long the service worker waits for the agent, by command, in milliseconds: the timeout
 * ladder's extension row (card_agent_protocol::timeouts, generated above). Each is
 * longer than the agent's own budget for the command, which is longer than its dialogs, so
 * the page hears the agent's answer (or its TIMEOUT) and a dialog never outlives its request.
 * - interactive: the site question and the PIN dialog may each be open, then the card signs;
 * - inventory: the site question may be open, then modules load and a slow card is read
 *   (behind another tab's operation on the same card);
 * - legacy: a page's call to the legacy API: the PIN dialog may be open, then the card;
 * - quick: everything else answers from memory.
 */
export const DEFAULT_TIMEOUTS = EXTENSION_TIMEOUTS;

// As the ladder's Kind::of: smartpki-call may sign with the card; smartpki-open may ask the
// user to approve the site, then makes the port's key.
const INTERACTIVE = new Set(["sign", "authenticate", "verify-pin", "self-test-sign", "smartpki-call"]);
const INVENTORY = new Set(["status", "get-certificates", "environment-check", "smartpki-open"]);

/** Whether `command` may wait for a person (a PIN dialog): such a request can be cancelled. */
export function isInteractive(command) {
  return INTERACTIVE.has(command);
}

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
