// The SmartPKI shim: runs in the page's own JavaScript world ("world": "MAIN") at
// document_start, in the top frame of https pages (and http://localhost, 127.0.0.1, [::1]).
//
// Pages written for SmartPKI (展新資訊's extension and native module, which the national
// business portal and others still ask users to install) look for three things in the top
// frame's world, all defined here with SmartPKI's names and behaviour:
// - `window.zhaninfo.smartpki.version`: the extension's version; the page library wants at
//   least "0.0.1.3" (compared as strings) and otherwise tells the user to install SmartPKI;
// - `navigator.connectSmartPKI()`: a Promise of a port (`addMessageListener`,
//   `addDisconnectListener`, `postMessage`, `disconnect`);
// - `ziRSAKey`: `new ziRSAKey()`, `.setPublic(hexModulus, hexExponent)`, `.encrypt(text)` →
//   lower-case hex of RSA PKCS#1 v1.5 type 2 (as jsbn's RSAKey, which SmartPKI's own is
//   inferred to be). The port uses it to send every PIN as RSA(pin + "_PKI") under the key
//   card-agent made for the port; if that fails the PIN goes in clear, as with SmartPKI.
//
// The port speaks SmartPKI's window messages, which smartpki-content.js answers:
//   here -> page window: {smartpkiReq: "reqOpen", origin}       (origin is never trusted)
//                        {smartpkiReq: "reqClose", tabid}
//                        {...message, tabid, msgId}              (info, sign, encrypt, decrypt)
//   content script -> here: {smartpkiRes: "resOpen", res: {success: tabid} | {err}}
//                           {smartpkiRes: "resClose", tabid}
//                           {smartpkiRes, tabid, message: {..., msgId}}
// The content script marks its answers with "card-agent-smartpki": true; answers without the
// mark (SmartPKI's own content script, when both extensions are installed) are not ours.
//
// Nothing here is secret from the page: the page owns this world. What protects the user is
// outside it: the browser's origin for the page, the agent's site approval and PIN rules.
//
// If SmartPKI's own script already defined these names, this one stands aside, and the content
// script answers only while this script's `connectSmartPKI` is the one in place (the
// "card-agent-smartpki-probe" event). A classic script; tests run it in a vm.
(() => {
  "use strict";

  const g = globalThis;
  const win = g.window;
  const INSTALLED = Symbol.for("card-agent.smartpki-shim");
  if (!win || win[INSTALLED]) return;
  if (win.location.origin === "null") return;
  const nav = win.navigator;
  // SmartPKI itself got here first: leave the page to it.
  if (typeof nav.connectSmartPKI === "function" || typeof win.ziRSAKey === "function") return;
  Object.defineProperty(win, INSTALLED, { value: true });

  /** What the page library checks (it needs at least "0.0.1.3"). */
  const EXTENSION_VERSION = "0.0.1.3";
  /** What SmartPKI's script adds to `info` for the page library's minimum-version check. */
  const MIN_AP_VERSION = "0.2.0.0";
  const MARK = "card-agent-smartpki";
  const PROBE = "card-agent-smartpki-probe";
  const PIN_SUFFIX = "_PKI";

  const BigInt_ = g.BigInt;
  const TextEncoder_ = g.TextEncoder;
  const getRandomValues = g.crypto.getRandomValues.bind(g.crypto);
  const postMessage = win.postMessage.bind(win);
  const Promise_ = g.Promise;

  // ---- ziRSAKey: RSA PKCS#1 v1.5 encryption (type 2) with BigInt, synchronous ----

  const HEX = /^[0-9a-fA-F]+$/;

  /** base^exp mod m, square and multiply. */
  function modPow(base, exp, m) {
    let result = 1n;
    let b = base % m;
    let e = exp;
    while (e > 0n) {
      if (e & 1n) result = (result * b) % m;
      b = (b * b) % m;
      e >>= 1n;
    }
    return result;
  }

  function ziRSAKey() {
    this.n = null;
    this.e = 0;
  }

  /** Sets the public key from hex strings (modulus, exponent). */
  ziRSAKey.prototype.setPublic = function setPublic(modulusHex, exponentHex) {
    if (typeof modulusHex !== "string" || typeof exponentHex !== "string" ||
        !HEX.test(modulusHex) || !HEX.test(exponentHex)) {
      throw new Error("Invalid RSA public key");
    }
    this.n = BigInt_(`0x${modulusHex}`);
    this.e = BigInt_(`0x${exponentHex}`);
    if (this.n < 2n ** 256n) throw new Error("Invalid RSA public key");
  };

  /**
   * RSA(text) with PKCS#1 v1.5 type 2 padding over the text's UTF-8 bytes: the hex of the
   * number, made even in length (no further leading zeros), as jsbn returns it. Null when the
   * text is too long for the key (jsbn's answer too).
   */
  ziRSAKey.prototype.encrypt = function encrypt(text) {
    if (this.n === null) throw new Error("No RSA public key");
    const k = Math.ceil(this.n.toString(16).length / 2);
    const message = new TextEncoder_().encode(String(text));
    if (message.length + 11 > k) return null;
    const block = new Uint8Array(k);
    block[1] = 2;
    const padding = block.subarray(2, k - message.length - 1);
    getRandomValues(padding);
    for (let i = 0; i < padding.length; i += 1) {
      // Padding bytes must not be zero: redraw each one that is.
      while (padding[i] === 0) getRandomValues(padding.subarray(i, i + 1));
    }
    block.set(message, k - message.length);
    let m = 0n;
    for (const byte of block) m = (m << 8n) | BigInt_(byte);
    const hex = modPow(m, this.e, this.n).toString(16);
    return hex.length % 2 === 0 ? hex : `0${hex}`;
  };

  // ---- The port ----

  const ports = new Map();
  /** connectSmartPKI() calls awaiting resOpen, oldest first (answered in order). */
  const opening = [];

  function Port(tabid) {
    this.tabid = tabid;
    this.key = null;
    this._nextMsgId = tabid * 10000;
    this._onMessage = null;
    this._onDisconnect = null;
    ports.set(tabid, this);
  }
  Port.prototype.addMessageListener = function addMessageListener(callback) {
    this._onMessage = callback;
  };
  Port.prototype.addDisconnectListener = function addDisconnectListener(callback) {
    this._onDisconnect = callback;
  };
  Port.prototype.disconnect = function disconnect() {
    postMessage({ smartpkiReq: "reqClose", tabid: this.tabid }, "*");
  };
  /** Sends one message; returns its msgId. A PIN is encrypted under the port's key. */
  Port.prototype.postMessage = function postPortMessage(msg) {
    msg.tabid = this.tabid;
    msg.msgId = this._nextMsgId;
    this._nextMsgId += 1;
    if (msg.pin && this.key) {
      try {
        msg.pin = this.key.encrypt(msg.pin + PIN_SUFFIX);
      } catch {
        // As SmartPKI: the PIN goes in clear, and the agent applies the same rules to it.
      }
    }
    postMessage(msg, "*");
    return msg.msgId;
  };

  function connectSmartPKI() {
    return new Promise_((resolve, reject) => {
      opening.push({ resolve, reject });
      postMessage({ smartpkiReq: "reqOpen", origin: win.location.href }, "*");
    });
  }

  win.addEventListener("message", (event) => {
    if (event.source !== win) return;
    const data = event.data;
    if (data === null || typeof data !== "object" || data[MARK] !== true) return;
    const kind = data.smartpkiRes;
    if (kind === "resOpen") {
      const waiting = opening.shift();
      if (!waiting) return;
      const res = data.res ?? {};
      if (res.success) waiting.resolve(new Port(res.success));
      else waiting.reject(res.err ?? "SmartPKI internal error");
      return;
    }
    const port = ports.get(data.tabid);
    if (!port) return;
    if (kind === "resClose") {
      ports.delete(data.tabid);
      port._onDisconnect?.();
    } else if (kind === "info") {
      const message = data.message ?? {};
      if (message.modulus) {
        try {
          const key = new ziRSAKey();
          key.setPublic(message.modulus, "10001");
          port.key = key;
        } catch {
          port.key = null;
        }
        delete message.modulus;
      }
      message.min_ap_version = MIN_AP_VERSION;
      port._onMessage?.(message);
    } else if (kind) {
      port._onMessage?.(data.message);
    }
  });

  // The content script asks, at each reqOpen, whether this script's connectSmartPKI is the one
  // the page uses (SmartPKI's own script may have replaced it since).
  win.addEventListener(PROBE, (event) => {
    if (nav.connectSmartPKI === connectSmartPKI && win.ziRSAKey === ziRSAKey) event.preventDefault();
  });

  nav.connectSmartPKI = connectSmartPKI;
  win.ziRSAKey = ziRSAKey;
  const zhaninfo = win.zhaninfo ?? {};
  zhaninfo.smartpki = { ...(zhaninfo.smartpki ?? {}), version: EXTENSION_VERSION, port: Port };
  win.zhaninfo = zhaninfo;
})();
