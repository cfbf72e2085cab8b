// The legacy shim: runs in the page's own JavaScript world ("world": "MAIN") at
// document_start, before the page's scripts, in the top frame of https pages (and of
// http://localhost, http://127.0.0.1, http://[::1] pages other than the agent's own).
//
// Pages written for HiCOS / HiPKI Local Sign Server call http://localhost:61161 directly
// (fetch, XMLHttpRequest, and an <img> whose BMP pixels carry JSON). Browsers now gate a public
// site's requests to loopback behind a "local network access" prompt. This shim takes those
// calls out of the network: it hands them to the extension, which sends them to card-agent as
// `legacy-request` with the page's origin as the browser reports it, and plays the answer back
// to the page as if it had come over HTTP. Everything else is passed to the browser untouched.
//
// What is intercepted (URLs http://localhost:61161, http://127.0.0.1:61161, http://[::1]:61161):
// - fetch(): GET and POST, with a string, URLSearchParams, Blob or buffer body;
// - XMLHttpRequest: asynchronous GET and POST, responseType "", "text", "json",
//   "arraybuffer" or "blob";
// - images: `img.src = ...` and `img.setAttribute("src", ...)`; the image is given a data: URL
//   of the BMP the agent returned, so a canvas can read its pixels.
// Anything else aimed at the agent (a synchronous XHR, a FormData or stream body, a body over
// 512 KiB, another method, <img src> written in the page's markup) goes over HTTP as before.
//
// This script cannot reach the extension: it posts to the isolated content script
// (content.js) on the page's own window,
//   here -> content.js: {"card-agent-legacy": "request", id, method, path, body?}
//   content.js -> here: {"card-agent-legacy": "response", id, result: {status, contentType,
//                        body (base64)}} | {..., id, error: {code, message, ...}}
// and keeps those messages from the page's own "message" listeners. A transport failure (the
// extension or the agent unreachable, no answer in time) reaches the page as a network error,
// exactly like an agent that is not running: XHR status 0 and "error" (or "timeout" when the
// page set xhr.timeout), a rejected fetch, an image "error".
//
// When card-agent does not hold the agent's port (another user's program listens there: every
// page's PIN and document sent to it would be that program's), nothing goes to the port over
// HTTP: the shim asks the agent once, at a page's first call to it ({"card-agent-legacy":
// "port-status", id}, answered like a request), and from then on what it cannot carry fails
// as a network error, and a window the page opens on the agent's address stays closed.
// Until the answer is known, a window.open of the agent's address waits for it (the window
// opens blank, then goes to the agent or closes).
//
// A classic script (content scripts cannot be modules). Nothing is logged: request bodies
// carry the page's PIN. Tests run this file in a vm with fake browser classes.
(() => {
  "use strict";

  const g = globalThis;
  const win = g.window;
  const INSTALLED = Symbol.for("card-agent.legacy-shim");
  if (!win || win[INSTALLED]) return;

  const MARK = "card-agent-legacy";
  const AGENT_PORT = "61161";
  const AGENT_HOSTS = ["localhost", "127.0.0.1", "[::1]"];
  /** `legacy-request`'s bound on the path with its query. Longer ones go over HTTP. */
  const MAX_PATH = 2048;
  /**
   * The largest body the shim carries. Browsers cap a native host's message to the extension
   * at 1 MB, and the answer to a sign holds the signed text (PKCS7 with the content attached)
   * in base64 twice over (the signature in the JSON, the JSON in `legacy-request`'s result):
   * about 1.8 times the body. A larger body goes over HTTP as without the extension (with the
   * browser's prompt) rather than fail after the card has signed.
   */
  const MAX_BODY = 512 * 1024;
  /**
   * The shim's own hang guard (the timeout ladder's page row for legacy calls). card-agent
   * answers a call that waits for a person within 150 s and the service worker gives up after
   * 160 s, so this fires only if a message was lost.
   */
  const TIMEOUT_MS = 170_000;

  const loc = win.location;
  // The agent's own pages (the popup bridge at /popupForm, the self-test page) call the agent
  // themselves, same-origin; they must keep doing so over HTTP.
  if (loc.protocol === "http:" && loc.port === AGENT_PORT && AGENT_HOSTS.includes(loc.hostname)) return;
  if (loc.origin === "null") return;
  Object.defineProperty(win, INSTALLED, { value: true });

  // Everything the shim uses, taken before any page script can replace it.
  const doc = g.document;
  const URL_ = g.URL;
  const Event_ = g.Event;
  const ProgressEvent_ = g.ProgressEvent ?? g.Event;
  const Response_ = g.Response;
  const Request_ = g.Request;
  const Blob_ = g.Blob;
  const TypeError_ = g.TypeError;
  const DOMException_ = g.DOMException;
  const TextDecoder_ = g.TextDecoder;
  const atob_ = g.atob.bind(g);
  const setTimeout_ = g.setTimeout.bind(g);
  const clearTimeout_ = g.clearTimeout.bind(g);
  const postMessage_ = win.postMessage.bind(win);
  const dispatch = g.EventTarget.prototype.dispatchEvent;
  const defineProperty = Object.defineProperty;
  const toTag = (v) => Object.prototype.toString.call(v);

  // ---- Which calls are the agent's ----

  /** The path and query of a URL aimed at the agent, else null. Every such call also starts
   * the question whether card-agent holds the port (once per page). */
  function agentPath(url) {
    const target = parseAgentUrl(url);
    if (target) portStatus();
    return target;
  }

  function parseAgentUrl(url) {
    let u;
    try {
      u = new URL_(String(url), doc.baseURI);
    } catch {
      return null;
    }
    if (u.protocol !== "http:" || u.port !== AGENT_PORT || !AGENT_HOSTS.includes(u.hostname)) {
      return null;
    }
    const path = u.pathname + u.search;
    return path.length <= MAX_PATH ? { path, href: u.href } : null;
  }

  const UNSUPPORTED = Symbol("left to the browser");

  /** How many bytes `text` takes in UTF-8, as the browser would send it. */
  function utf8Length(text) {
    if (text.length * 3 <= MAX_BODY) return text.length; // small enough whatever it holds
    let n = 0;
    for (let i = 0; i < text.length; i += 1) {
      const c = text.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
        n += 4;
        i += 1;
      } else n += 3;
    }
    return n;
  }

  /**
   * A request body as text, as the browser would send it, or UNSUPPORTED for what the shim
   * leaves to the browser (a FormData or a stream, a body over MAX_BODY). A Blob gives a
   * promise of its text. The agent reads form bodies only, so bytes are taken as UTF-8.
   */
  function bodyText(body) {
    if (body === undefined || body === null) return undefined;
    const bounded = (text) => (utf8Length(text) > MAX_BODY ? UNSUPPORTED : text);
    if (typeof body === "string") return bounded(body);
    const tag = toTag(body);
    if (tag === "[object URLSearchParams]") return bounded(String(body));
    if (tag === "[object Blob]" || tag === "[object File]") {
      return body.size > MAX_BODY ? UNSUPPORTED : body.text();
    }
    if (tag === "[object ArrayBuffer]" || g.ArrayBuffer.isView(body)) {
      return body.byteLength > MAX_BODY ? UNSUPPORTED : new TextDecoder_().decode(body);
    }
    return UNSUPPORTED;
  }

  // ---- The channel to the content script ----

  const idPrefix = `legacy-${Math.random().toString(36).slice(2, 10)}-`;
  let nextId = 1;
  /** id -> {resolve, reject, timer} */
  const waiting = new Map();

  class LegacyFailure extends Error {}

  /** Sends one call; resolves with `{status, contentType, body}` (body in base64). `kind`
   * "port-status" asks whether card-agent holds the port (`path` is then unused). */
  function call(method, path, body, kind = "request") {
    return new Promise((resolve, reject) => {
      if (typeof body === "string" && utf8Length(body) > MAX_BODY) {
        reject(new LegacyFailure("too large"));
        return;
      }
      const id = idPrefix + nextId++;
      const timer = setTimeout_(() => {
        waiting.delete(id);
        reject(new LegacyFailure("timeout"));
      }, TIMEOUT_MS);
      waiting.set(id, { resolve, reject, timer });
      const message = { [MARK]: kind, id, method, path };
      if (typeof body === "string") message.body = body;
      // Addressed to this document's own origin: the content script is in this window.
      postMessage_(message, loc.origin);
    });
  }

  const validResult = (r) =>
    r !== null && typeof r === "object" && Number.isInteger(r.status) &&
    typeof r.contentType === "string" && typeof r.body === "string";

  win.addEventListener("message", (event) => {
    if (event.source !== win) return;
    const data = event.data;
    if (toTag(data) !== "[object Object]" || data[MARK] !== "response") return;
    // Ours alone: the page's own message listeners (often written to JSON.parse whatever
    // arrives, for the popup bridge) never see the extension's traffic. Registered at
    // document_start with capture, this listener runs before any of the page's.
    event.stopImmediatePropagation();
    const entry = waiting.get(data.id);
    if (!entry) return;
    waiting.delete(data.id);
    clearTimeout_(entry.timer);
    if ("error" in data || !validResult(data.result)) entry.reject(new LegacyFailure("failed"));
    else entry.resolve(data.result);
  }, true);

  function decodeBytes(base64) {
    const binary = atob_(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // ---- Does card-agent hold the port? ----

  /** true: card-agent listens there; false: another program does; null: not known (yet). */
  let portOurs = null;
  let portQuery = null;

  /** Asks once; resolves with the answer (null when the extension or agent did not say). */
  function portStatus() {
    if (!portQuery) {
      portQuery = call("GET", "/", undefined, "port-status").then((r) => {
        try {
          const ours = JSON.parse(new TextDecoder_().decode(decodeBytes(r.body))).ours;
          portOurs = typeof ours === "boolean" ? ours : null;
        } catch {
          portOurs = null;
        }
        return portOurs;
      }, () => null);
    }
    return portQuery;
  }

  /** Whether a call the shim cannot carry may go to the port over HTTP. */
  const httpAllowed = () => portOurs !== false;

  const REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
    421: "Misdirected Request", 500: "Internal Server Error", 503: "Service Unavailable",
  };
  const NULL_BODY_STATUS = [101, 103, 204, 205, 304];

  // ---- fetch ----

  const fetch_ = g.fetch;
  if (typeof fetch_ === "function") {
    const abortError = (signal) => signal?.reason ?? new DOMException_("The user aborted a request.", "AbortError");

    async function legacyFetch(target, method, body, signal) {
      if (signal?.aborted) throw abortError(signal);
      const text = await body;
      const answer = call(method, target.path, method === "POST" ? text : undefined);
      let result;
      try {
        result = await (signal
          ? new Promise((resolve, reject) => {
            // The agent cannot be told to stop; the page just stops waiting.
            const onAbort = () => reject(abortError(signal));
            signal.addEventListener("abort", onAbort, { once: true });
            answer.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
          })
          : answer);
      } catch (error) {
        if (error instanceof LegacyFailure) throw new TypeError_("Failed to fetch");
        throw error;
      }
      const { status } = result;
      if (status < 200 || status > 599) throw new TypeError_("Failed to fetch");
      let response;
      try {
        response = new Response_(NULL_BODY_STATUS.includes(status) ? null : decodeBytes(result.body), {
          status,
          statusText: REASONS[status] ?? "",
          headers: { "content-type": result.contentType },
        });
      } catch {
        throw new TypeError_("Failed to fetch");
      }
      defineProperty(response, "url", { value: target.href, configurable: true });
      return response;
    }

    g.fetch = function fetch(input, init) {
      try {
        const isRequest = Request_ !== undefined && input instanceof Request_;
        const target = agentPath(isRequest ? input.url : input);
        if (target) {
          const method = String(init?.method ?? (isRequest ? input.method : "GET")).toUpperCase();
          const body = init && "body" in init && init.body !== undefined && init.body !== null
            ? bodyText(init.body)
            : isRequest && method === "POST" ? input.text() : undefined;
          // A GET with a body is the browser's TypeError to throw.
          const carried = method === "POST" ? body !== UNSUPPORTED : method === "GET" && body === undefined;
          if (carried) {
            const signal = init?.signal ?? (isRequest ? input.signal : undefined);
            return legacyFetch(target, method, body, signal);
          }
        }
        if (target && !httpAllowed()) return Promise.reject(new TypeError_("Failed to fetch"));
      } catch {
        // Whatever we could not read, the browser will judge.
      }
      return fetch_.apply(this, arguments);
    };
  }

  // ---- XMLHttpRequest ----

  const XHR = g.XMLHttpRequest;
  if (typeof XHR === "function") {
    const proto = XHR.prototype;
    const real = {
      open: proto.open,
      send: proto.send,
      abort: proto.abort,
      setRequestHeader: proto.setRequestHeader,
      getResponseHeader: proto.getResponseHeader,
      getAllResponseHeaders: proto.getAllResponseHeaders,
    };
    /**
     * xhr -> the state of a call aimed at the agent, from open() until the next open().
     * phase: "opened" (not sent yet), "sent" (waiting for the agent), "done".
     */
    const states = new WeakMap();
    const OWN = ["readyState", "status", "statusText", "responseText", "response", "responseURL", "responseXML"];
    const RESPONSE_TYPES = ["", "text", "json", "arraybuffer", "blob"];

    const fire = (xhr, type, loaded = 0, total = 0) => {
      const event = type === "readystatechange"
        ? new Event_(type)
        : new ProgressEvent_(type, { lengthComputable: total > 0, loaded, total });
      // Listener exceptions are reported by the browser, not thrown here.
      dispatch.call(xhr, event);
    };

    /** The object is re-opened: whatever the shim did with it is over. */
    function forget(xhr) {
      const st = states.get(xhr);
      if (!st) return;
      states.delete(xhr);
      st.generation += 1;
      if (st.timer) clearTimeout_(st.timer);
      if (st.shadowed) for (const name of OWN) delete xhr[name];
    }

    // Once the shim carries a call, the response side of the object is the shim's: own
    // properties shadow the prototype's getters until the next open().
    function shadow(xhr, st) {
      st.shadowed = true;
      const text = () => (st.bytes ? new TextDecoder_().decode(st.bytes) : "");
      const getters = {
        readyState: () => st.readyState,
        status: () => (st.readyState >= 2 ? st.status : 0),
        statusText: () => (st.readyState >= 2 ? st.statusText : ""),
        responseURL: () => (st.readyState >= 2 && st.status ? st.href : ""),
        responseXML: () => null,
        responseText() {
          const type = xhr.responseType;
          if (type !== "" && type !== "text") {
            throw new DOMException_(
              "The value is only accessible if the object's 'responseType' is '' or 'text'.",
              "InvalidStateError",
            );
          }
          return st.readyState >= 3 ? text() : "";
        },
        response() {
          const type = xhr.responseType;
          if (type === "" || type === "text") return st.readyState >= 3 ? text() : "";
          if (st.readyState !== 4 || !st.bytes) return null;
          if (type === "json") {
            try {
              return JSON.parse(text());
            } catch {
              return null;
            }
          }
          if (type === "arraybuffer") return st.bytes.buffer.slice(0);
          return new Blob_([st.bytes], { type: st.contentType });
        },
      };
      for (const [name, get] of Object.entries(getters)) {
        defineProperty(xhr, name, { get, configurable: true, enumerable: true });
      }
    }

    /**
     * Runs the steps of a response or a failure, each of which may run page code that aborts
     * or re-opens the request: a step runs only while the call it belongs to is current.
     */
    function run(xhr, st, steps) {
      const generation = st.generation;
      for (const step of steps) {
        if (st.generation !== generation) return;
        step();
      }
    }

    /** A network error, a timeout or an abort: status 0, then the event of that name. */
    function fail(xhr, st, kind) {
      if (st.phase !== "sent") return;
      st.phase = "done";
      if (st.timer) clearTimeout_(st.timer);
      Object.assign(st, { readyState: 4, status: 0, statusText: "", bytes: null });
      run(xhr, st, [
        () => fire(xhr, "readystatechange"),
        () => fire(xhr, kind),
        () => fire(xhr, "loadend"),
      ]);
    }

    function deliver(xhr, st, result) {
      if (st.phase !== "sent") return;
      let bytes;
      try {
        bytes = decodeBytes(result.body);
      } catch {
        return fail(xhr, st, "error");
      }
      st.phase = "done";
      if (st.timer) clearTimeout_(st.timer);
      Object.assign(st, {
        status: result.status,
        statusText: REASONS[result.status] ?? "",
        contentType: result.contentType,
      });
      const n = bytes.length;
      run(xhr, st, [
        () => { st.readyState = 2; fire(xhr, "readystatechange"); },
        () => { st.readyState = 3; st.bytes = bytes; fire(xhr, "readystatechange"); },
        () => fire(xhr, "progress", n, n),
        () => { st.readyState = 4; fire(xhr, "readystatechange"); },
        () => fire(xhr, "load", n, n),
        () => fire(xhr, "loadend", n, n),
      ]);
    }

    /** Objects opened on the agent's address that the shim does not carry. */
    const uncarried = new WeakMap();

    proto.open = function open(method, url) {
      forget(this);
      uncarried.delete(this);
      const result = real.open.apply(this, arguments);
      // As the specification reads it: async is true only when omitted or truthy.
      const isAsync = arguments.length < 3 ? true : Boolean(arguments[2]);
      const m = String(method).toUpperCase();
      const target = agentPath(url);
      if (target && isAsync && (m === "GET" || m === "POST")) {
        states.set(this, {
          phase: "opened", generation: 0, method: m, path: target.path, href: target.href,
          readyState: 1, status: 0, statusText: "", contentType: "", bytes: null,
        });
      } else if (target) {
        uncarried.set(this, { isAsync, method: m, path: target.path, href: target.href });
      }
      return result;
    };

    /** A call to the agent's address that may not go over HTTP: a network error. */
    function refuse(xhr, opened) {
      if (!opened.isAsync) throw new DOMException_("Failed to execute 'send' on 'XMLHttpRequest'.", "NetworkError");
      const st = {
        phase: "sent", generation: 0, method: opened.method, path: opened.path, href: opened.href,
        readyState: 1, status: 0, statusText: "", contentType: "", bytes: null,
      };
      states.set(xhr, st);
      shadow(xhr, st);
      fire(xhr, "loadstart");
      setTimeout_(() => fail(xhr, st, "error"), 0);
      return undefined;
    }

    proto.send = function send(body) {
      const st = states.get(this);
      const opened = uncarried.get(this);
      if (!st && opened && !httpAllowed()) return refuse(this, opened);
      if (!st) return real.send.apply(this, arguments);
      if (st.phase !== "opened") {
        throw new DOMException_("The object's state must be OPENED.", "InvalidStateError");
      }
      const text = st.method === "POST" ? bodyText(body) : undefined;
      if (text === UNSUPPORTED || !RESPONSE_TYPES.includes(this.responseType)) {
        // Not something the shim can carry faithfully: the browser sends it over HTTP, unless
        // another program holds the port.
        states.delete(this);
        if (!httpAllowed()) return refuse(this, { isAsync: true, method: st.method, path: st.path, href: st.href });
        return real.send.apply(this, arguments);
      }
      st.phase = "sent";
      shadow(this, st);
      fire(this, "loadstart");
      const ms = Number(this.timeout) || 0;
      if (ms > 0) st.timer = setTimeout_(() => fail(this, st, "timeout"), ms);
      const generation = st.generation;
      Promise.resolve(text)
        .then((t) => call(st.method, st.path, t))
        .then(
          (result) => {
            if (st.generation === generation) deliver(this, st, result);
          },
          () => {
            if (st.generation === generation) fail(this, st, "error");
          },
        );
      return undefined;
    };

    proto.abort = function abort() {
      const st = states.get(this);
      if (!st?.shadowed) return real.abort.apply(this, arguments);
      if (st.phase === "sent") fail(this, st, "abort");
      // The agent cannot be told to stop; its late answer is dropped.
      st.generation += 1;
      st.readyState = 0;
      return undefined;
    };

    proto.setRequestHeader = function setRequestHeader() {
      // Nothing to record: card-agent reads the body, not the headers. The browser still
      // checks the call (state, header name) as it would for any request.
      if (states.get(this)?.shadowed) {
        throw new DOMException_("The object's state must be OPENED.", "InvalidStateError");
      }
      return real.setRequestHeader.apply(this, arguments);
    };

    proto.getResponseHeader = function getResponseHeader(name) {
      const st = states.get(this);
      if (!st?.shadowed) return real.getResponseHeader.apply(this, arguments);
      if (st.readyState < 2 || !st.status) return null;
      return String(name).toLowerCase() === "content-type" ? st.contentType : null;
    };

    proto.getAllResponseHeaders = function getAllResponseHeaders() {
      const st = states.get(this);
      if (!st?.shadowed) return real.getAllResponseHeaders.apply(this, arguments);
      if (st.readyState < 2 || !st.status) return "";
      return `content-type: ${st.contentType}\r\n`;
    };
  }

  // ---- Windows on the agent's address (the popup bridge, /addDomain) ----

  const open_ = win.open;
  if (typeof open_ === "function") {
    win.open = function open(url) {
      let target = null;
      try {
        target = url === undefined ? null : agentPath(url);
      } catch {
        target = null;
      }
      if (!target || portOurs === true) return open_.apply(this, arguments);
      if (portOurs === false) return null;
      // Not known yet: a blank window now (pages need it at once), the agent's page once the
      // agent says the port is its own; closed if another program holds it.
      const args = Array.from(arguments);
      args[0] = "about:blank";
      const opened = open_.apply(this, args);
      if (opened) {
        portStatus().then((ours) => {
          if (ours === false) opened.close();
          else opened.location.href = target.href;
        });
      }
      return opened;
    };
  }

  // ---- Images ----

  const Img = g.HTMLImageElement;
  const srcDescriptor = Img && Object.getOwnPropertyDescriptor(Img.prototype, "src");
  if (srcDescriptor?.set && srcDescriptor.configurable) {
    const realSet = srcDescriptor.set;
    const realGet = srcDescriptor.get;
    const realSetAttribute = g.Element.prototype.setAttribute;
    /** img -> {href, token}: the agent URL the page set last, while it is the image's source. */
    const routed = new WeakMap();
    // An empty BMP: the image fails to decode and fires "error", as for a failed HTTP load.
    const BROKEN = "data:image/bmp;base64,";
    const MIME = /^[\w.+-]+\/[\w.+-]+$/;

    /** Takes over `img`'s source if `value` is the agent's; false to leave it to the browser. */
    function route(img, value) {
      const target = agentPath(value);
      if (!target) {
        routed.delete(img);
        return false;
      }
      const token = {};
      routed.set(img, { href: target.href, token });
      const current = () => routed.get(img)?.token === token;
      call("GET", target.path).then(
        (result) => {
          if (!current()) return;
          const type = result.contentType.split(";")[0].trim();
          const ok = result.status === 200 && MIME.test(type) && /^[A-Za-z0-9+/]*={0,2}$/.test(result.body);
          // A data: URL is same-origin to the page: the canvas the page draws it on stays
          // readable, as the agent's CORS answer made it over HTTP.
          realSet.call(img, ok ? `data:${type};base64,${result.body}` : BROKEN);
        },
        () => {
          if (current()) realSet.call(img, BROKEN);
        },
      );
      return true;
    }

    defineProperty(Img.prototype, "src", {
      configurable: true,
      enumerable: srcDescriptor.enumerable,
      get() {
        // The page reads back the URL it set, as it would over HTTP.
        return routed.get(this)?.href ?? realGet.call(this);
      },
      set(value) {
        if (!route(this, value)) realSet.call(this, value);
      },
    });

    g.Element.prototype.setAttribute = function setAttribute(name, value) {
      if (this instanceof Img && String(name).toLowerCase() === "src" && route(this, value)) {
        return undefined;
      }
      return realSetAttribute.apply(this, arguments);
    };
  }
})();
