// The content script: a bridge between the page's window.postMessage and the service
// worker. It runs in every https page (and http://localhost, http://127.0.0.1) at
// document_start, top frame only.
//
// Page -> here:   {"card-agent": "request", id, command, arguments}
//                 {"card-agent": "ping"}
// Here -> page:   {"card-agent": "response", id, result} | {..., id, error}
//                 {"card-agent": "event", event}
//                 {"card-agent": "subscription-ended", error}
//                 {"card-agent": "pong", version} (answer to ping), and
//                 {"card-agent": "present", version} once at start.
// Here -> worker: {type: "request", id, command, arguments} on a runtime port.
//
// The legacy shim (legacy-shim.js, in the page's world) carries pages' calls to
// http://localhost:61161 here, on its own marker and its own runtime port:
// Shim -> here:   {"card-agent-legacy": "request", id, method, path, body?}
// Here -> shim:   {"card-agent-legacy": "response", id, result} | {..., id, error}
// Here -> worker: {type: "request", id, command: "legacy-request", arguments: {method, path, body}}
// on the "card-agent-legacy" port. These messages are kept from the page's own listeners.
//
// A classic script (content scripts cannot be modules), wrapped so nothing leaks into the
// isolated world's globals. Tests run this file in a vm with a fake window and runtime.
(() => {
  "use strict";

  const MARK = "card-agent";
  const PORT_NAME = "card-agent-page";
  // The protocol's frame limit. Checked here to turn away junk early; the service worker
  // checks again because this script runs in the page's (possibly compromised) renderer.
  const MAX_MESSAGE = 1024 * 1024;
  const MAX_ID_LENGTH = 128;
  const MAX_COMMAND_LENGTH = 64;

  const api = globalThis.chrome?.runtime ? globalThis.chrome : globalThis.browser;
  const win = globalThis.window;
  // A sandboxed document has an opaque origin: the service worker would refuse it, and
  // answers could not be addressed to it. Stay silent, so the page sees "extension missing".
  if (win.location.origin === "null") return;
  const version = api.runtime.getManifest().version;

  let port = null;
  // Page ids awaiting an answer on the current port, so a lost port can answer them.
  const inFlight = new Map();

  const isObject = (v) => Object.prototype.toString.call(v) === "[object Object]";
  const validId = (id) =>
    (typeof id === "string" && id.length <= MAX_ID_LENGTH) || Number.isSafeInteger(id);

  function toPage(message) {
    // Addressed to this document's origin: if the window has navigated elsewhere since,
    // the answer is not delivered to a stranger.
    win.postMessage({ [MARK]: message.kind, ...message.body }, win.location.origin);
  }

  function reply(id, body) {
    toPage({ kind: "response", body: { id, ...body } });
  }

  function badRequest(id, field, message) {
    reply(id, { error: { code: "BAD_REQUEST", message, field } });
  }

  function lostExtension(id, reason) {
    reply(id, {
      error: {
        code: "INTERNAL",
        message: `The card-agent extension stopped answering (${reason}). Reload the page.`,
        agent: "extension-disconnected",
      },
    });
  }

  function getPort() {
    if (port) return port;
    const opened = api.runtime.connect({ name: PORT_NAME });
    opened.onMessage.addListener((message) => fromWorker(message));
    opened.onDisconnect.addListener(() => {
      // The service worker stopped (browser update, extension reload or crash). Answer
      // everything still waiting and end the subscription; the next request reconnects.
      if (port !== opened) return;
      port = null;
      const waiting = [...inFlight.keys()];
      inFlight.clear();
      for (const id of waiting) lostExtension(id, "disconnected");
      toPage({
        kind: "subscription-ended",
        body: {
          error: {
            code: "INTERNAL",
            message: "The card-agent extension disconnected.",
            agent: "extension-disconnected",
          },
        },
      });
    });
    port = opened;
    return opened;
  }

  function fromWorker(message) {
    if (!isObject(message)) return;
    if (message.type === "response") {
      const left = (inFlight.get(message.id) ?? 1) - 1;
      if (left > 0) inFlight.set(message.id, left);
      else inFlight.delete(message.id);
      const body = "error" in message ? { error: message.error } : { result: message.result };
      reply(message.id, body);
    } else if (message.type === "event") {
      toPage({ kind: "event", body: { event: message.event } });
    } else if (message.type === "subscription-ended") {
      toPage({ kind: "subscription-ended", body: { error: message.error } });
    }
  }

  function fromPage(data) {
    const id = validId(data.id) ? data.id : null;
    if (id === null) return badRequest(null, "id", "id must be a string (<= 128) or an integer.");
    if (typeof data.command !== "string" || data.command.length > MAX_COMMAND_LENGTH) {
      return badRequest(id, "command", "command must be a short string.");
    }
    // The origin is the browser's to tell, never the page's. Refuse loudly rather than drop
    // it silently, so a page that tries learns that it cannot.
    if ("origin" in data) {
      return badRequest(id, "origin", "origin is set by the browser, not by the page.");
    }
    const args = data.arguments;
    if (args !== undefined && args !== null && !isObject(args)) {
      return badRequest(id, "arguments", "arguments must be an object.");
    }
    // Re-serialising forwards plain JSON only, and measures exactly what is forwarded.
    let text;
    try {
      text = JSON.stringify({ type: "request", id, command: data.command, arguments: args ?? {} });
    } catch {
      return badRequest(id, "arguments", "arguments must be plain JSON.");
    }
    if (new TextEncoder().encode(text).length > MAX_MESSAGE) {
      return badRequest(id, "arguments", "The request is larger than the 1 MiB limit.");
    }
    try {
      getPort().postMessage(JSON.parse(text));
      inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
    } catch (error) {
      // "Extension context invalidated": the extension was reloaded or removed.
      port = null;
      lostExtension(id, String(error?.message ?? error));
    }
  }

  win.addEventListener("message", (event) => {
    // Only the page's own window: not sub-frames, not other windows holding a reference.
    if (event.source !== win) return;
    const data = event.data;
    if (!isObject(data)) return;
    const kind = data[MARK];
    if (kind === "request") fromPage(data);
    else if (kind === "ping") toPage({ kind: "pong", body: { version } });
    // Anything else (our own answers echoing back, other libraries' messages) is not ours.
  });

  toPage({ kind: "present", body: { version } });

  // ---- Legacy calls from legacy-shim.js ----

  const LEGACY_MARK = "card-agent-legacy";
  const LEGACY_PORT_NAME = "card-agent-legacy";
  const MAX_LEGACY_PATH = 2048;
  let legacyPort = null;
  // Shim ids awaiting an answer on the current legacy port.
  const legacyInFlight = new Map();

  function toShim(id, body) {
    win.postMessage({ [LEGACY_MARK]: "response", id, ...body }, win.location.origin);
  }

  function legacyError(id, code, message, extra = {}) {
    toShim(id, { error: { code, message, ...extra } });
  }

  function getLegacyPort() {
    if (legacyPort) return legacyPort;
    const opened = api.runtime.connect({ name: LEGACY_PORT_NAME });
    opened.onMessage.addListener((message) => {
      if (!isObject(message) || message.type !== "response") return;
      const left = (legacyInFlight.get(message.id) ?? 1) - 1;
      if (left > 0) legacyInFlight.set(message.id, left);
      else legacyInFlight.delete(message.id);
      toShim(message.id, "error" in message ? { error: message.error } : { result: message.result });
    });
    opened.onDisconnect.addListener(() => {
      if (legacyPort !== opened) return;
      legacyPort = null;
      const waiting = [...legacyInFlight.keys()];
      legacyInFlight.clear();
      for (const id of waiting) {
        legacyError(id, "INTERNAL", "The card-agent extension stopped answering (disconnected).", {
          agent: "extension-disconnected",
        });
      }
    });
    legacyPort = opened;
    return opened;
  }

  function fromShim(data) {
    // The shim's ids are strings; with anything else there is nobody to answer.
    if (typeof data.id !== "string" || data.id.length > MAX_ID_LENGTH) return;
    const { id, method, path, body } = data;
    const bad = (field, message) => legacyError(id, "BAD_REQUEST", message, { field });
    if (method !== "GET" && method !== "POST") return bad("arguments.method", "method must be GET or POST.");
    if (typeof path !== "string" || !path.startsWith("/") || path.length > MAX_LEGACY_PATH) {
      return bad("arguments.path", "path must start with / and be at most 2048 characters.");
    }
    if (body !== undefined && typeof body !== "string") return bad("arguments.body", "body must be a string.");
    const args = body === undefined ? { method, path } : { method, path, body };
    const text = JSON.stringify({ type: "request", id, command: "legacy-request", arguments: args });
    if (new TextEncoder().encode(text).length > MAX_MESSAGE) {
      return bad("arguments.body", "The request is larger than the 1 MiB limit.");
    }
    try {
      getLegacyPort().postMessage(JSON.parse(text));
      legacyInFlight.set(id, (legacyInFlight.get(id) ?? 0) + 1);
    } catch (error) {
      legacyPort = null;
      legacyError(id, "INTERNAL", `The card-agent extension stopped answering (${String(error?.message ?? error)}).`, {
        agent: "extension-disconnected",
      });
    }
  }

  // Capture, registered at document_start: runs before any listener of the page, so the
  // page's own "message" listeners never see the shim's requests (legacy pages often
  // JSON.parse whatever message arrives).
  win.addEventListener("message", (event) => {
    if (event.source !== win) return;
    const data = event.data;
    if (!isObject(data)) return;
    if (data[LEGACY_MARK] === "request") {
      event.stopImmediatePropagation();
      fromShim(data);
    } else if (data[LEGACY_MARK] === "port-status") {
      // Whether card-agent holds the agent's port: the agent answers this path on the
      // extension's route only.
      event.stopImmediatePropagation();
      fromShim({ id: data.id, method: "GET", path: "/.card-agent/port" });
    }
  }, true);
})();
