// Fakes for the browser APIs the extension uses. No browser runs in these unit tests, so
// ports, timers and windows are stand-ins that record what was sent and let a test play the
// other side. The real browser path is for the end-to-end tests.

/** A fake `chrome.events.Event`. */
export class FakeEvent {
  constructor() {
    this.listeners = [];
  }
  addListener(fn) {
    this.listeners.push(fn);
  }
  removeListener(fn) {
    this.listeners = this.listeners.filter((l) => l !== fn);
  }
  fire(...args) {
    for (const fn of [...this.listeners]) fn(...args);
  }
}

/** A fake `runtime.Port`: records posted messages; the test fires its events. */
export class FakePort {
  constructor(name = "") {
    this.name = name;
    this.sent = [];
    this.onMessage = new FakeEvent();
    this.onDisconnect = new FakeEvent();
    this.disconnected = false;
    this.throwOnPost = false;
  }
  postMessage(message) {
    if (this.throwOnPost || this.disconnected) {
      throw new Error("Attempting to use a disconnected port object");
    }
    // Ports structured-clone their messages; a JSON round trip is close enough here.
    this.sent.push(JSON.parse(JSON.stringify(message)));
  }
  disconnect() {
    this.disconnected = true;
  }
  /** The other side answers. */
  receive(message) {
    this.onMessage.fire(message, this);
  }
  /** The other side goes away (Firefox sets `port.error`). */
  drop(error) {
    this.disconnected = true;
    if (error) this.error = { message: error };
    this.onDisconnect.fire(this);
  }
}

/** Timers that run only when the test advances the clock. */
export class FakeClock {
  constructor() {
    this.now = 0;
    this.timers = new Map();
    this.nextHandle = 1;
    this.setTimer = (fn, ms) => {
      const handle = this.nextHandle++;
      this.timers.set(handle, { fn, at: this.now + ms });
      return handle;
    };
    this.clearTimer = (handle) => {
      this.timers.delete(handle);
    };
  }
  get pending() {
    return this.timers.size;
  }
  advance(ms) {
    const until = this.now + ms;
    for (;;) {
      let next = null;
      for (const [handle, t] of this.timers) {
        if (t.at <= until && (next === null || t.at < next[1].at)) next = [handle, t];
      }
      if (next === null) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = until;
  }
}

// The fake `window` for postMessage traffic lives with the page library's own tests, so the
// package tests itself when installed; the content script's tests share it.
export { FakeWindow, flush } from "../../packages/card-agent-page/test/fake-window.js";

/**
 * Two fake runtime ports joined like `runtime.connect` joins a content script and the
 * service worker: what one side posts, the other receives on a later turn (JSON-cloned).
 * `sender` is what the browser would attach to the worker's end.
 */
export function linkedPorts(name, sender) {
  const near = new FakePort(name);
  const far = new FakePort(name);
  far.sender = sender;
  const wire = (from, to) => {
    from.postMessage = (message) => {
      if (from.disconnected) throw new Error("Attempting to use a disconnected port object");
      const copy = JSON.parse(JSON.stringify(message));
      from.sent.push(copy);
      setTimeout(() => { if (!to.disconnected) to.receive(copy); }, 0);
    };
    from.disconnect = () => {
      if (from.disconnected) return;
      from.disconnected = true;
      setTimeout(() => { to.disconnected = true; to.onDisconnect.fire(to); }, 0);
    };
  };
  wire(near, far);
  wire(far, near);
  return { near, far };
}

/** A fake `chrome` for the service worker: runtime events, native ports, extension id. */
export function fakeChrome(extensionId = "hccjmiblnokapoamfkgnbbighmnfpoig") {
  const natives = [];
  const chrome = {
    runtime: {
      id: extensionId,
      lastError: undefined,
      getURL: (path) => `chrome-extension://${extensionId}/${path}`,
      getManifest: () => ({ version: "0.1.0" }),
      onConnect: new FakeEvent(),
      onMessage: new FakeEvent(),
      connectNative: (name) => {
        const port = new FakePort(name);
        natives.push(port);
        chrome.onNativePort?.(port);
        return port;
      },
    },
  };
  return { chrome, natives };
}
