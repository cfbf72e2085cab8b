// A stand-in for the page's window (no browser runs in unit tests): postMessage delivers a
// structured clone on a later turn, as the browser does, to the listeners of the window.
// The extension's tests use it too (extension/test/fakes.js re-exports it).

/** A fake `window` with `location.origin`, message listeners and postMessage. */
export class FakeWindow {
  constructor(origin = "https://a.gov.tw") {
    this.location = { origin };
    this.listeners = [];
    /** Everything posted to this window, in order: `{data, targetOrigin, source}`. */
    this.posted = [];
  }
  addEventListener(type, fn, options) {
    const capture = options === true || options?.capture === true;
    if (type !== "message") return;
    // At the target, capture listeners run before the others, each group in the order added.
    if (capture) this.listeners.splice(this.listeners.filter((l) => l.capture).length, 0, Object.assign(fn, { capture }));
    else this.listeners.push(fn);
  }
  removeEventListener(type, fn) {
    this.listeners = this.listeners.filter((l) => l !== fn);
  }
  postMessage(data, targetOrigin = "/", source = this) {
    // Structured clone, as the browser does between the content script's world and the page's.
    const copy = structuredClone(data);
    this.posted.push({ data: copy, targetOrigin, source });
    setTimeout(() => {
      let stopped = false;
      const event = {
        data: copy, source, origin: this.location.origin,
        stopImmediatePropagation: () => { stopped = true; },
      };
      for (const fn of [...this.listeners]) {
        if (stopped) break;
        fn(event);
      }
    }, 0);
  }
  /** A message from another window (e.g. an iframe) to this one. */
  postFrom(source, data) {
    this.postMessage(data, "*", source);
  }
  /** What was posted with the given card-agent marker. */
  marked(kind) {
    return this.posted.map((p) => p.data).filter((d) => d?.["card-agent"] === kind);
  }
}

/** Lets queued postMessage deliveries (and the microtasks they start) run. */
export function flush(rounds = 3) {
  let p = Promise.resolve();
  for (let i = 0; i < rounds; i += 1) p = p.then(() => new Promise((r) => setTimeout(r, 0)));
  return p;
}
