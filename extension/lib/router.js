// Routes page requests to the native host and its answers back.
//
// Every request gets an id assigned here; the page's own id is only echoed back to the page
// that sent it. Page ids are chosen by untrusted pages and repeat across tabs, so they never
// pick where an answer goes. The router holds no browser API: the service worker passes in
// the native connection and the timer functions, and tests pass fakes.

import {
  DEFAULT_TIMEOUTS, MAX_FRAME, MAX_LEGACY_PATH, PAGE_COMMANDS, errorBody, isInteractive, isPlainObject,
  isValidId, timeoutFor, unreachableError, utf8Length,
} from "./protocol.js";
import { Subscriptions } from "./subscriptions.js";

/** How long the native port stays open with nothing pending and nobody subscribed. */
export const DEFAULT_IDLE_CLOSE_MS = 5 * 60_000;

export class Router {
  /**
   * @param {object} options
   * @param {{post(message: object): void, close(): void}} options.native
   * @param {typeof setTimeout} [options.setTimer]
   * @param {typeof clearTimeout} [options.clearTimer]
   * @param {typeof DEFAULT_TIMEOUTS} [options.timeouts]
   * @param {number} [options.idleCloseMs]
   */
  constructor({
    native,
    // Wrapped, not passed bare: browsers throw "Illegal invocation" when setTimeout is
    // called as a method of another object (this._setTimer(...)).
    setTimer = (fn, ms) => setTimeout(fn, ms),
    clearTimer = (handle) => clearTimeout(handle),
    timeouts = DEFAULT_TIMEOUTS,
    idleCloseMs = DEFAULT_IDLE_CLOSE_MS,
  }) {
    this._native = native;
    this._setTimer = setTimer;
    this._clearTimer = clearTimer;
    this._timeouts = timeouts;
    this._idleCloseMs = idleCloseMs;
    this._idleTimer = null;
    this._nextId = 1;
    /** native id -> {client, pageId, command, timer}; client is null for our own requests. */
    this._pending = new Map();
    this._subs = new Subscriptions();
  }

  /** How many requests await the host. */
  get pendingCount() {
    return this._pending.size;
  }

  /** How many clients receive events. */
  get subscriberCount() {
    return this._subs.size;
  }

  /**
   * Registers a client: one content script (one tab) or one popup request.
   * `post` sends a message to it; `origin` is what the browser said about the sender;
   * `originError`, when set, answers every request from it.
   */
  addClient({ post, origin, originError = null, commands = PAGE_COMMANDS }) {
    return { post, origin, originError, commands, closed: false };
  }

  /**
   * The client went away (tab closed, navigated, popup closed): forget its requests, and have
   * the host cancel those that wait for a person, so their dialogs close with the tab.
   */
  removeClient(client) {
    if (client.closed) return;
    client.closed = true;
    for (const [id, entry] of this._pending) {
      // A subscribe in flight stays: if the host says yes, nobody is left to listen and
      // the host must be unsubscribed (see handleNativeMessage).
      if (entry.client === client && entry.command !== "subscribe") {
        this._clearTimer(entry.timer);
        this._pending.delete(id);
        if (isInteractive(entry.command)) this._cancelHost(id, client.origin);
      }
    }
    if (this._subs.remove(client)) this._unsubscribeHost(client.origin);
    this._maybeIdle();
  }

  /**
   * A message from a client: `{type: "request", id, command, arguments}`, or `{type:
   * "cancel", id}` when the page stopped waiting for its request `id`.
   */
  request(client, message) {
    if (client.closed) return;
    if (isPlainObject(message) && message.type === "cancel") return this._cancel(client, message.id);
    const pageId = isPlainObject(message) && isValidId(message.id) ? message.id : null;
    const reply = (body) => this._send(client, { type: "response", id: pageId, ...body });

    const problem = checkRequest(message, client.commands);
    if (problem) return reply({ error: problem });
    if (client.originError) return reply({ error: client.originError });

    const { command } = message;
    // The client stops receiving events at once, whatever the host answers. Only the last
    // subscriber's unsubscribe goes to the host: others still listen on the shared
    // connection (or this client never subscribed).
    if (command === "unsubscribe" && !this._subs.remove(client)) {
      return reply({ result: { subscribed: false } });
    }

    const id = this._nextId++;
    const wire = { id, command, origin: client.origin, arguments: message.arguments ?? {} };
    const text = JSON.stringify(wire);
    if (utf8Length(text) > MAX_FRAME) {
      return reply({
        error: errorBody("BAD_REQUEST", "The request is larger than the 1 MiB frame limit.", {
          field: "arguments",
        }),
      });
    }
    if (!this._post(wire)) return reply({ error: this._lastUnreachable });

    const ms = timeoutFor(command, this._timeouts);
    const timer = this._setTimer(() => this._timeout(id, ms), ms);
    this._pending.set(id, { client, pageId, command, timer });
  }

  /** A message from the native host: a response `{id, ...}` or an event `{event}`. */
  handleNativeMessage(message) {
    if (!isPlainObject(message)) return;
    if ("event" in message) {
      for (const client of this._subs.clients()) {
        this._send(client, { type: "event", event: message.event });
      }
      return;
    }
    const entry = this._pending.get(message.id);
    // Unknown ids are answers to requests that timed out or whose tab closed.
    if (!entry) return;
    this._pending.delete(message.id);
    this._clearTimer(entry.timer);
    const { client, pageId, command } = entry;
    if (command === "subscribe" && message.result?.subscribed === true && client) {
      if (client.closed) {
        // The tab left while the host was subscribing it.
        if (this._subs.size === 0) this._unsubscribeHost(client.origin);
      } else {
        this._subs.add(client);
      }
    }
    if (client && !client.closed) {
      const body = "error" in message ? { error: message.error } : { result: message.result };
      this._send(client, { type: "response", id: pageId, ...body });
    }
    this._maybeIdle();
  }

  /** The native port closed: every request in flight failed, every subscription ended. */
  handleNativeDisconnect(reason) {
    const error = unreachableError(reason);
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const { client, pageId, timer } of pending) {
      this._clearTimer(timer);
      if (client && !client.closed) this._send(client, { type: "response", id: pageId, error });
    }
    for (const client of this._subs.clear()) {
      this._send(client, { type: "subscription-ended", error });
    }
    this._cancelIdle();
  }

  _timeout(id, ms) {
    const entry = this._pending.get(id);
    if (!entry) return;
    this._pending.delete(id);
    const { client, pageId, command } = entry;
    // Nobody waits for this answer any more: a dialog still open for it must close.
    if (isInteractive(command)) this._cancelHost(id, client?.origin ?? null);
    if (client && !client.closed) {
      const error = errorBody(
        "TIMEOUT",
        `card-agent did not answer "${command}" within ${Math.round(ms / 1000)} s.`,
      );
      this._send(client, { type: "response", id: pageId, error });
    }
    this._maybeIdle();
  }

  // The page stopped waiting for its request `pageId`. Only requests that wait for a person
  // (a PIN dialog) are worth cancelling; the host is told, and its answer to the cancelled
  // request still goes to the page, which ignores it. Page ids may repeat: each match goes.
  _cancel(client, pageId) {
    if (!isValidId(pageId)) return;
    for (const [id, entry] of this._pending) {
      if (entry.client === client && entry.pageId === pageId && isInteractive(entry.command)) {
        this._cancelHost(id, client.origin);
      }
    }
  }

  // Asks the host to cancel our request `id`. The answer (whether it was still running) is ours.
  _cancelHost(id, origin) {
    const cancelId = this._nextId++;
    if (!this._post({ id: cancelId, command: "cancel", origin, arguments: { id } })) return;
    const ms = timeoutFor("cancel", this._timeouts);
    const timer = this._setTimer(() => this._timeout(cancelId, ms), ms);
    this._pending.set(cancelId, { client: null, pageId: null, command: "cancel", timer });
  }

  // Stops events on the shared host connection once nobody listens. The answer is ours.
  _unsubscribeHost(origin) {
    const id = this._nextId++;
    if (!this._post({ id, command: "unsubscribe", origin, arguments: {} })) return;
    const ms = timeoutFor("unsubscribe", this._timeouts);
    const timer = this._setTimer(() => this._timeout(id, ms), ms);
    this._pending.set(id, { client: null, pageId: null, command: "unsubscribe", timer });
  }

  _post(wire) {
    this._cancelIdle();
    try {
      this._native.post(wire);
      return true;
    } catch (error) {
      this._lastUnreachable = unreachableError(String(error?.message ?? error));
      return false;
    }
  }

  _send(client, message) {
    try {
      client.post(message);
    } catch {
      // The client's port closed under us; its disconnect event will clean up.
    }
  }

  _maybeIdle() {
    if (this._pending.size > 0 || this._subs.size > 0 || this._idleTimer !== null) return;
    this._idleTimer = this._setTimer(() => {
      this._idleTimer = null;
      if (this._pending.size === 0 && this._subs.size === 0) this._native.close();
    }, this._idleCloseMs);
    // Under Node (the unit tests) an idle timer must not keep the process alive; browsers
    // return a number here, which has no unref.
    this._idleTimer?.unref?.();
  }

  _cancelIdle() {
    if (this._idleTimer === null) return;
    this._clearTimer(this._idleTimer);
    this._idleTimer = null;
  }
}

/**
 * Null when `message` is a request the service worker forwards, else a `BAD_REQUEST` body.
 * The content script checks the same things; this is the check that counts, because the
 * content script runs in the page's renderer process.
 */
export function checkRequest(message, commands = PAGE_COMMANDS) {
  const bad = (field, text) => errorBody("BAD_REQUEST", text, { field });
  if (!isPlainObject(message) || message.type !== "request") {
    return bad("type", "Not a card-agent request.");
  }
  if (!isValidId(message.id)) {
    return bad("id", "id must be a string of at most 128 characters or a safe integer.");
  }
  if (typeof message.command !== "string" || !commands.includes(message.command)) {
    return bad("command", "Unknown or unavailable command.");
  }
  const args = message.arguments;
  if (args !== undefined && args !== null && !isPlainObject(args)) {
    return bad("arguments", "arguments must be an object.");
  }
  if (message.command === "legacy-request") return checkLegacy(args ?? {});
  // SmartPKI pages send the PIN with their steps, as SmartPKI's API requires; only the
  // SmartPKI port may carry these commands (see SMARTPKI_COMMANDS).
  if (message.command.startsWith("smartpki-")) return null;
  // Pages never send a PIN: the agent asks in its own dialog. A page that could pass one
  // could guess PINs without the user seeing anything. A courtesy: the daemon refuses a page's
  // PIN itself (agent/src/service/pin_source.rs), whatever reaches it.
  if (isPlainObject(args) && Object.hasOwn(args, "pin")) {
    return bad("arguments.pin", "Pages may not send a PIN; card-agent asks for it itself.");
  }
  return null;
}

/**
 * The arguments of `legacy-request` (a page's call to the legacy HiPKI API): `{method, path,
 * body?}`. The body is the page's own form body and may hold the PIN the page asked for, as
 * HiPKI pages do; the agent applies the legacy API's rules to it (trusted sites only), the same
 * as over HTTP.
 */
function checkLegacy(args) {
  const bad = (field, text) => errorBody("BAD_REQUEST", text, { field });
  for (const key of Object.keys(args)) {
    if (!["method", "path", "body"].includes(key)) return bad(`arguments.${key}`, "Unknown argument.");
  }
  if (args.method !== "GET" && args.method !== "POST") {
    return bad("arguments.method", "method must be GET or POST.");
  }
  const { path } = args;
  // eslint-disable-next-line no-control-regex
  if (typeof path !== "string" || !path.startsWith("/") || path.length > MAX_LEGACY_PATH || /[\x00-\x1f\x7f]/.test(path)) {
    return bad("arguments.path", "path must start with / and be at most 2048 characters.");
  }
  if (args.body !== undefined && typeof args.body !== "string") {
    return bad("arguments.body", "body must be a string.");
  }
  return null;
}
