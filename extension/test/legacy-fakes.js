// Fakes for the page world the legacy shim patches: XMLHttpRequest, fetch, <img>. Each
// records what would have gone to the network, so a test can tell what the shim carried from
// what it left to the browser. Node supplies EventTarget, Event, Response, Request, Blob.
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { FakeClock, FakeWindow } from "./fakes.js";

export const SHIM_SOURCE = readFileSync(new URL("../legacy-shim.js", import.meta.url), "utf8");

/** ProgressEvent, which Node lacks. */
export class FakeProgressEvent extends Event {
  constructor(type, init = {}) {
    super(type);
    this.lengthComputable = Boolean(init.lengthComputable);
    this.loaded = init.loaded ?? 0;
    this.total = init.total ?? 0;
  }
}

const XHR_EVENTS = ["readystatechange", "loadstart", "progress", "load", "loadend", "error", "abort", "timeout"];

/**
 * A browser's XMLHttpRequest, as far as the shim can tell: an EventTarget with `on*` handler
 * attributes (registered as listeners, so dispatched events reach them), getters on the
 * prototype, and a `send` that stands for the network (it records the call).
 */
export function fakeXhrClass() {
  const sent = [];
  class XMLHttpRequest extends EventTarget {
    constructor() {
      super();
      this._state = 0;
      this.timeout = 0;
      this.responseType = "";
      this.requestHeaders = {};
    }
    open(method, url, async) {
      if (method === "BAD METHOD") throw new DOMException("bad method", "SyntaxError");
      this.opened = { method, url: String(url), async: arguments.length < 3 ? true : Boolean(async) };
      this._state = 1;
      this.dispatchEvent(new Event("readystatechange"));
    }
    setRequestHeader(name, value) {
      if (this._state !== 1) throw new DOMException("not opened", "InvalidStateError");
      this.requestHeaders[name] = value;
    }
    send(body) {
      sent.push({ xhr: this, body, ...this.opened });
    }
    abort() {
      this.realAborted = true;
    }
    getResponseHeader() {
      return "from the network";
    }
    getAllResponseHeaders() {
      return "from: the network\r\n";
    }
    get readyState() { return this._state; }
    get status() { return 0; }
    get statusText() { return ""; }
    get responseText() { return "from the network"; }
    get response() { return "from the network"; }
    get responseURL() { return ""; }
    get responseXML() { return null; }
  }
  for (const type of XHR_EVENTS) {
    const key = Symbol(type);
    Object.defineProperty(XMLHttpRequest.prototype, `on${type}`, {
      configurable: true,
      get() { return this[key]?.handler ?? null; },
      set(handler) {
        if (this[key]) this.removeEventListener(type, this[key].listener);
        if (typeof handler !== "function") {
          this[key] = null;
          return;
        }
        const listener = (event) => handler.call(this, event);
        this[key] = { handler, listener };
        this.addEventListener(type, listener);
      },
    });
  }
  return { XMLHttpRequest, sent };
}

/** Element and HTMLImageElement: `src` is an accessor on the prototype, as in browsers. */
export function fakeImageClasses() {
  const loads = [];
  class Element {
    constructor() {
      this.attributes = {};
    }
    setAttribute(name, value) {
      this.attributes[String(name).toLowerCase()] = String(value);
      if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src") loads.push({ img: this, src: String(value) });
    }
    getAttribute(name) {
      return this.attributes[String(name).toLowerCase()] ?? null;
    }
  }
  class HTMLImageElement extends Element {}
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: true,
    get() { return this.attributes.src ?? ""; },
    set(value) {
      // The real setter reflects into the attribute without calling setAttribute().
      this.attributes.src = String(value);
      loads.push({ img: this, src: String(value) });
    },
  });
  class Image extends HTMLImageElement {}
  return { Element, HTMLImageElement, Image, loads };
}

/**
 * Loads legacy-shim.js in a vm whose globals are a fake page at `href`, with timers on the
 * fake clock `timers`. Returns the window
 * (postMessage traffic), the page's globals as the shim left them, and what reached the
 * "network".
 */
export function loadShim({ href = "https://portal.example.gov.tw/login/index.html", timers = new FakeClock() } = {}) {
  const url = new URL(href);
  const win = new FakeWindow(url.origin);
  Object.assign(win.location, { href: url.href, protocol: url.protocol, hostname: url.hostname, port: url.port });
  const { XMLHttpRequest, sent: xhrSent } = fakeXhrClass();
  const { Element, HTMLImageElement, Image, loads } = fakeImageClasses();
  // window.open: the windows the page opened, each a fake with a location and close().
  const opened = [];
  win.open = function open(url, name, features) {
    const w = { name, features, closed: false, location: { href: String(url) }, close() { this.closed = true; } };
    opened.push(w);
    return w;
  };
  const fetched = [];
  const fetch = function fetch(input, init) {
    fetched.push({ input, init, self: this });
    return Promise.resolve(new Response("from the network"));
  };
  const page = {
    window: win, document: { baseURI: url.href }, XMLHttpRequest, Element, HTMLImageElement, Image, fetch,
    Event, ProgressEvent: FakeProgressEvent, EventTarget, Response, Request, Blob, DOMException,
    TextDecoder, URL, atob, ArrayBuffer,
    // The shim's timers run only when a test advances this clock.
    setTimeout: timers.setTimer,
    clearTimeout: timers.clearTimer,
  };
  vm.runInNewContext(SHIM_SOURCE, page);
  return { win, page, xhrSent, fetched, loads, opened, timers };
}

/** Requests the shim posted for the content script. */
export function shimRequests(win) {
  return win.posted.map((p) => p.data).filter((d) => d?.["card-agent-legacy"] === "request");
}

/** The shim's questions whether card-agent holds the port. */
export function portStatusRequests(win) {
  return win.posted.map((p) => p.data).filter((d) => d?.["card-agent-legacy"] === "port-status");
}

/** Plays the content script: answers the shim's request `id`. */
export function answer(win, id, body) {
  win.postMessage({ "card-agent-legacy": "response", id, ...body });
}

export const b64 = (text) => Buffer.from(text).toString("base64");
