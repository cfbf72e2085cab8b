// The service worker: wires the browser's APIs to the router. All decisions live in lib/,
// which takes its browser APIs as parameters so that Node's test runner can exercise it.

import {
  EXTENSION_PAGE_COMMANDS, EXTENSION_PAGE_PORT_NAME, HOST_NAME, LEGACY_COMMANDS, LEGACY_PORT_NAME,
  PAGE_PORT_NAME, POPUP_COMMANDS, SMARTPKI_COMMANDS, SMARTPKI_PORT_NAME,
} from "./lib/protocol.js";
import { NativeConnection } from "./lib/native-connection.js";
import { Router } from "./lib/router.js";
import { classifySender } from "./lib/origin.js";

// Firefox exposes the same API as `chrome` in MV3; prefer it so one code path runs.
const api = globalThis.chrome ?? globalThis.browser;

const extensionId = api.runtime.id;
// "chrome-extension://<id>" (or "moz-extension://<uuid>"): getURL("") ends with a slash.
const extensionOrigin = api.runtime.getURL("").replace(/\/$/, "");

let router = null;
const native = new NativeConnection({
  connect: () => api.runtime.connectNative(HOST_NAME),
  onMessage: (message) => router.handleNativeMessage(message),
  onDisconnect: (reason) => router.handleNativeDisconnect(reason),
  lastError: () => api.runtime.lastError?.message ?? null,
});
router = new Router({ native });

// One long-lived port per content script (per tab), and a second one when the page makes
// legacy calls (legacy-shim.js): that one carries `legacy-request` only. A port's disconnect
// tells us the tab closed or navigated, so the tab's requests and subscription are dropped.
api.runtime.onConnect.addListener((port) => {
  if (port.name === EXTENSION_PAGE_PORT_NAME) {
    connectExtensionPage(port);
    return;
  }
  if (port.name === SMARTPKI_PORT_NAME) {
    connectSmartPki(port);
    return;
  }
  if (port.name !== PAGE_PORT_NAME && port.name !== LEGACY_PORT_NAME) return;
  const who = classifySender(port.sender, { extensionId, extensionOrigin });
  if (!who.accept || who.kind !== "page") {
    port.disconnect();
    return;
  }
  const client = router.addClient({
    origin: who.origin,
    originError: who.error,
    post: (message) => port.postMessage(message),
    ...(port.name === LEGACY_PORT_NAME ? { commands: LEGACY_COMMANDS } : {}),
  });
  port.onMessage.addListener((message) => router.request(client, message));
  port.onDisconnect.addListener(() => router.removeClient(client));
});

// The extension's own self-test page: its origin is the extension's (the agent treats it as
// the user's own tool), it may run the self-test's commands and receive card events.
function connectExtensionPage(port) {
  const who = classifySender(port.sender, { extensionId, extensionOrigin });
  if (!who.accept || who.kind !== "extension") {
    port.disconnect();
    return;
  }
  const client = router.addClient({
    origin: who.origin,
    commands: EXTENSION_PAGE_COMMANDS,
    post: (message) => port.postMessage(message),
  });
  port.onMessage.addListener((message) => router.request(client, message));
  port.onDisconnect.addListener(() => router.removeClient(client));
}

// A tab's SmartPKI ports (smartpki-content.js). The agent keeps each port's key until it is
// closed; when the tab closes or navigates, the ports it opened are closed for it.
function connectSmartPki(port) {
  const who = classifySender(port.sender, { extensionId, extensionOrigin });
  if (!who.accept || who.kind !== "page") {
    port.disconnect();
    return;
  }
  const handles = new Set();
  const opens = new Set();
  const client = router.addClient({
    origin: who.origin,
    originError: who.error,
    commands: SMARTPKI_COMMANDS,
    post: (message) => {
      if (opens.delete(message?.id) && Number.isSafeInteger(message.result?.port)) {
        handles.add(message.result.port);
      }
      port.postMessage(message);
    },
  });
  port.onMessage.addListener((message) => {
    if (message?.command === "smartpki-open") opens.add(message.id);
    if (message?.command === "smartpki-close") handles.delete(message.arguments?.port);
    router.request(client, message);
  });
  port.onDisconnect.addListener(() => {
    router.removeClient(client);
    if (handles.size === 0) return;
    // Nobody reads these answers: the closes only free the agent's keys.
    const closer = router.addClient({ origin: who.origin, commands: SMARTPKI_COMMANDS, post: () => {} });
    let id = 0;
    for (const handle of handles) {
      id += 1;
      router.request(closer, { type: "request", id, command: "smartpki-close", arguments: { port: handle } });
    }
  });
}

// The toolbar popup asks one read-only question at a time: `{type: "popup-request", command}`.
// Its origin is the extension's own, taken from the sender like any other.
api.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (message?.type !== "popup-request") return false;
  const who = classifySender(sender, { extensionId, extensionOrigin });
  if (!who.accept || who.kind !== "extension") return false;
  const client = router.addClient({
    origin: who.origin,
    commands: POPUP_COMMANDS,
    post: (reply) => {
      router.removeClient(client);
      sendResponse(reply);
    },
  });
  router.request(client, { type: "request", id: 1, command: message.command, arguments: {} });
  return true; // sendResponse is called later.
});
