// SmartPKI pages, the content script's side: answers the window messages of the page's
// SmartPKI port (smartpki-shim.js, or any script that speaks SmartPKI's messages) by carrying
// them to card-agent on the "card-agent-smartpki" runtime port, as `smartpki-open`,
// `smartpki-call` and `smartpki-close` (protocol/README.md). Same world and frames as
// content.js (isolated, top frame only, https and loopback http).
//
// Page -> here:  {smartpkiReq: "reqOpen", origin}   `origin` is ignored: the worker takes the
//                                                    page's origin from the browser
//                {smartpkiReq: "reqClose", tabid}
//                {smartpkiReq: "info" | "sign" | "encrypt" | "decrypt", tabid, msgId, cmd, ...}
// Here -> page:  {smartpkiRes: "resOpen", res: {success: tabid, key: ""}} or res: {err}
//                {smartpkiRes: "info", tabid, message: {smartpkiRes: "info", version, modulus}}
//                  once after resOpen, unasked (the page library waits for it), and for each info
//                {smartpkiRes: cmd, tabid, message: {smartpkiRes, cmd, msgId, errorCode, ...}}
//                {smartpkiRes: "resClose", tabid}    the port is closed (asked, or lost)
// Every answer carries "card-agent-smartpki": true and goes to the page's own origin.
//
// The tabid is the agent's handle of the port. A port lost under the page (the extension
// reloaded, the agent stopped) is answered with resClose, which the page library reports as
// its error 20002 (20003 before the first info).
(() => {
  "use strict";

  const api = globalThis.chrome?.runtime ? globalThis.chrome : globalThis.browser;
  const win = globalThis.window;
  if (win.location.origin === "null") return;

  const MARK = "card-agent-smartpki";
  const PORT_NAME = "card-agent-smartpki";
  const PROBE = "card-agent-smartpki-probe";
  const MAX_MESSAGE = 1024 * 1024;
  /** The page fields a call carries, and their JSON types (SmartPKI's names and spelling). */
  const FIELDS = {
    cmd: "string", soltIndex: "integer", driverType: "integer", style: "integer",
    pin: "string", content: "string", signTime: "integer", format: "integer",
  };
  /**
   * The `errorCode` of a failure of the call itself, by protocol error code: the numbers of
   * agent/src/smartpki/codes.rs (a test keeps them equal). Failures of a step come from the
   * agent with their number already.
   */
  const ERROR_NUMBERS = {
    SITE_NOT_TRUSTED: 9013, BAD_REQUEST: 9014, TIMEOUT: 9016, INTERNAL: 9019,
  };
  /** The agent's "the port is not open" (codes.rs `PortClosed`). */
  const PORT_CLOSED = 9113;

  let port = null;
  let nextId = 1;
  /** Request id -> what the page is waiting for. */
  const pending = new Map();
  /** Our open ports (tabids); messages for other tabids are not ours. */
  const open = new Set();

  const isObject = (v) => Object.prototype.toString.call(v) === "[object Object]";

  function toPage(message) {
    win.postMessage({ ...message, [MARK]: true }, win.location.origin);
  }

  /** Whether our page script's connectSmartPKI is the page's (not SmartPKI's own). */
  function ours() {
    const probe = new win.CustomEvent(PROBE, { cancelable: true });
    return !win.dispatchEvent(probe);
  }

  function lost(tabid) {
    if (!open.delete(tabid)) return;
    toPage({ smartpkiRes: "resClose", tabid });
  }

  function getPort() {
    if (port) return port;
    const opened = api.runtime.connect({ name: PORT_NAME });
    opened.onMessage.addListener((message) => {
      if (isObject(message) && message.type === "response") answered(message);
    });
    opened.onDisconnect.addListener(() => {
      // The worker stopped (extension reloaded or updated): every port is gone with it.
      if (port !== opened) return;
      port = null;
      const waiting = [...pending.values()];
      pending.clear();
      for (const p of waiting) if (p.kind === "open") toPage({ smartpkiRes: "resOpen", res: { err: "card-agent disconnected" } });
      for (const tabid of [...open]) lost(tabid);
    });
    port = opened;
    return opened;
  }

  function send(kind, command, args, extra = {}) {
    const id = nextId;
    nextId += 1;
    const text = JSON.stringify({ type: "request", id, command, arguments: args });
    if (new TextEncoder().encode(text).length > MAX_MESSAGE) return false;
    try {
      getPort().postMessage(JSON.parse(text));
    } catch {
      port = null;
      return false;
    }
    pending.set(id, { kind, ...extra });
    return true;
  }

  function answered(message) {
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    const { result, error } = message;
    if (waiting.kind === "open") return opened(result, error);
    if (waiting.kind === "close") return lost(waiting.tabid);
    if (!open.has(waiting.tabid)) return;
    // The port is gone: the agent lost it (it restarted, PORT_CLOSED), stopped or cannot be
    // reached (INTERNAL), or an info failed (a page takes any info answer for the info).
    const gone = error
      ? error.code === "INTERNAL" || waiting.request === "info"
      : !isObject(result) || result.errorCode === PORT_CLOSED;
    if (gone) return lost(waiting.tabid);
    if (error) {
      return reply(waiting, { errorCode: ERROR_NUMBERS[error.code] ?? ERROR_NUMBERS.INTERNAL, errorMessage: String(error.message ?? "") });
    }
    reply(waiting, result);
  }

  function opened(result, error) {
    if (error) {
      // The agent is not there at all: like SmartPKI without its native module, the port opens
      // and drops at once (the page says it cannot connect, 20003).
      if (error.agent === "unreachable" || error.agent === "extension-disconnected") {
        const tabid = 1;
        toPage({ smartpkiRes: "resOpen", res: { success: tabid, key: "" } });
        toPage({ smartpkiRes: "resClose", tabid });
        return;
      }
      toPage({ smartpkiRes: "resOpen", res: { err: String(error.message ?? error.code) } });
      return;
    }
    const tabid = result?.port;
    if (!Number.isSafeInteger(tabid) || tabid <= 0) {
      toPage({ smartpkiRes: "resOpen", res: { err: "card-agent answered without a port" } });
      return;
    }
    open.add(tabid);
    toPage({ smartpkiRes: "resOpen", res: { success: tabid, key: "" } });
    // The page library waits for an info before its first step, without asking for one.
    toPage({
      smartpkiRes: "info",
      tabid,
      message: { smartpkiRes: "info", version: result.version, modulus: result.modulus },
    });
  }

  function reply(waiting, body) {
    const name = waiting.cmd ?? waiting.request;
    toPage({
      smartpkiRes: name,
      tabid: waiting.tabid,
      message: { ...body, smartpkiRes: name, cmd: waiting.cmd, msgId: waiting.msgId },
    });
  }

  /** The fields the agent reads, with numbers sent as decimal strings made numbers. */
  function callArguments(data) {
    const args = { port: data.tabid, request: data.smartpkiReq };
    for (const [field, type] of Object.entries(FIELDS)) {
      let value = data[field];
      if (value === undefined || value === null) continue;
      if (type === "integer" && typeof value === "string" && /^-?\d{1,15}$/.test(value)) value = Number(value);
      args[field] = value;
    }
    return args;
  }

  function call(data) {
    const { tabid, msgId } = data;
    const waiting = { tabid, msgId, request: data.smartpkiReq, cmd: typeof data.cmd === "string" ? data.cmd : undefined };
    if (!send("call", "smartpki-call", callArguments(data), waiting)) {
      reply(waiting, { errorCode: ERROR_NUMBERS.BAD_REQUEST, errorMessage: "The message is larger than 1 MiB." });
    }
  }

  win.addEventListener("message", (event) => {
    if (event.source !== win) return;
    const data = event.data;
    if (!isObject(data) || typeof data.smartpkiReq !== "string") return;
    const request = data.smartpkiReq;
    if (request === "reqOpen") {
      if (!ours()) return;
      if (!send("open", "smartpki-open", {})) toPage({ smartpkiRes: "resOpen", res: { err: "card-agent disconnected" } });
      return;
    }
    if (!open.has(data.tabid)) return;
    if (request === "reqClose") {
      if (!send("close", "smartpki-close", { port: data.tabid }, { tabid: data.tabid })) lost(data.tabid);
      return;
    }
    call(data);
  });
})();
