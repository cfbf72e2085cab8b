/* The page's HiPKI code, written the way published e-government pages and the vendor's samples
 * are (ES5, callbacks, XMLHttpRequest, the popup bridge, the BMP probe read through a canvas),
 * and behaving as they do (shared/reference/hipki-compat.md):
 * - the popup bridge: window.open(".../popupForm") from a click, a 3.5 s timer that gives up
 *   ("not installed") unless {"func":"getTbs"} arrives first, messages accepted only when
 *   event.origin is exactly the agent's, JSON.parse of the string, and dispatch on the
 *   RESPONSE's func ("sign", "pkcs11info", "decrypt"): any other func is ignored, so a wrong
 *   one leaves the page waiting, as it leaves real pages;
 * - the image probe: <img crossOrigin="anonymous">, drawn on a canvas, row 0 read pixel by
 *   pixel as blue, green, red until a blue of 0; the default-size (300-pixel) canvas and the
 *   2000x1 canvas most pages use; "{ret_code: 0x7600000D}" when nothing can be read.
 * Every function calls back with {via, transport, result?, ...}:
 *   transport "ok"            the agent answered (result: its JSON, parsed);
 *   transport "timeout"       the page's own 3.5 s getTbs timer fired ("not installed");
 *   transport "network-error" the browser gave the page nothing (blocked, refused, no CORS);
 *   transport "http-error"    an HTTP status other than 200;
 *   transport "canvas-error"  the image loaded but its pixels could not be read. */
var HiPKI = (function () {
  "use strict";

  function param(name) {
    var m = new RegExp("[?&]" + name + "=([^&]*)").exec(location.search);
    return m ? decodeURIComponent(m[1]) : null;
  }
  // Pages hard-code 61161; the test harness may move the agent (see README.md).
  var PORT = param("port") || "61161";
  var POPUP_PORT = param("popupPort") || PORT;
  var LOCAL = "http://localhost:" + PORT;
  // What pages compare event.origin with: "http://localhost:61161" on a normal run.
  var AGENT_ORIGIN = "http://localhost:" + POPUP_PORT;

  // Every message this page receives, for the tests (legacy pages listen to all of them).
  var messages = [];
  window.addEventListener("message", function (e) {
    messages.push({ origin: e.origin, data: typeof e.data === "string" ? e.data : JSON.stringify(e.data) });
  }, false);

  function parse(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  function signPackage(tbs, pin) {
    return {
      func: "MakeSignature",
      signatureType: "PKCS7",
      tbs: encodeURIComponent(tbs),
      tbsEncoding: "NONE",
      hashAlgorithm: "SHA256",
      withCardSN: "true",
      pin: encodeURIComponent(pin),
      nonce: "test-nonce-1",
      slotDescription: "__NotExistedTag__",
      withSCAP: "false"
    };
  }

  /* Direct call (pages that may reach the agent: with the browser's permission, or through
   * the extension). */
  function xhr(method, path, body, cb) {
    var x = new XMLHttpRequest();
    x.open(method, LOCAL + path, true);
    if (body !== null) x.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
    x.onreadystatechange = function () {
      if (x.readyState !== 4) return;
      if (x.status === 200) {
        cb({ via: "xhr", transport: "ok", status: 200, result: parse(x.responseText),
          contentType: x.getResponseHeader("Content-Type") });
      } else {
        cb({ via: "xhr", transport: x.status === 0 ? "network-error" : "http-error", status: x.status });
      }
    };
    x.send(body);
  }

  function xhrSign(tbs, pin, cb) {
    // The quirk every page has: "+" pre-escaped inside the JSON, which is posted unencoded.
    var body = "tbsPackage=" + JSON.stringify(signPackage(tbs, pin)).replace(/\+/g, "%2B");
    xhr("POST", "/sign", body, cb);
  }

  /* The vendor's decrypt sample's IE path: the package posted unencoded to /decrypt. */
  function xhrDecrypt(cipher, cipherType, plainEncoding, pin, cb) {
    var pkg = { cipher: encodeURIComponent(cipher.replace(/[\r\n]/g, "")), cipherType: cipherType,
      plainEncoding: plainEncoding, pin: encodeURIComponent(pin), func: "DecryptData" };
    xhr("POST", "/decrypt", "tbsPackage=" + JSON.stringify(pkg), cb);
  }

  function xhrGetUserCert(cb) {
    xhr("GET", "/pkcs11info?withcert=true", null, cb);
  }

  /* A newer page: fetch, CheckEnvir as a POST with an empty body. */
  function fetchCheckEnvir(cb) {
    fetch(LOCAL + "/pkcs11info", { method: "POST", body: "", cache: "no-store" })
      .then(function (r) {
        if (r.status !== 200) { cb({ via: "fetch", transport: "http-error", status: r.status }); return null; }
        return r.text().then(function (t) { cb({ via: "fetch", transport: "ok", status: 200, result: parse(t) }); });
      })
      ["catch"](function (e) { cb({ via: "fetch", transport: "network-error", error: String(e) }); });
  }

  /* The popup bridge. `expect` is the response func this call dispatches on. */
  var RESPONSE_FUNC = { MakeSignature: "sign", GetUserCert: "pkcs11info", CheckEnvir: "pkcs11info",
    DecryptData: "decrypt", umakeSig: "umakeSig" };

  function popup(pkg, cb, opts) {
    opts = opts || {};
    var expect = RESPONSE_FUNC[pkg.func];
    var postTarget = null;
    var timeoutId = null;
    var t0 = performance.now();
    var events = ["open"];
    var getTbsMs = null;
    function done(r) {
      window.removeEventListener("message", receiveMessage, false);
      r.events = events;
      r.getTbsMs = getTbsMs;
      cb(r);
    }
    function checkFinish() {
      // The page's own give-up, as published pages have it.
      events.push("timeout");
      if (postTarget) postTarget.close();
      done({ via: "popup", transport: "timeout" });
    }
    function receiveMessage(event) {
      if (event.origin !== AGENT_ORIGIN) return;
      var ret = parse(event.data);
      if (!ret || !ret.func) return;
      if (ret.func === "getTbs") {
        clearTimeout(timeoutId);
        if (getTbsMs === null) getTbsMs = performance.now() - t0;
        events.push("getTbs");
        postTarget.postMessage(JSON.stringify(opts.send || pkg), opts.targetOrigin || "*");
        events.push("sent");
      } else if (ret.func === expect) {
        events.push("answer");
        done({ via: "popup", transport: "ok", result: ret });
      }
      // Any other func: ignored, as real pages ignore it.
    }
    window.addEventListener("message", receiveMessage, false);
    postTarget = window.open(AGENT_ORIGIN + "/popupForm", "hipkiPopup", "height=200,width=200,left=100,top=20");
    if (!postTarget) { done({ via: "popup", transport: "blocked" }); return; }
    timeoutId = setTimeout(checkFinish, 3500);
  }

  function popupSign(tbs, pin, cb) { popup(signPackage(tbs, pin), cb); }
  function popupGetUserCert(cb) { popup({ func: "GetUserCert" }, cb); }
  function popupCheckEnvir(cb) { popup({ func: "CheckEnvir" }, cb); }
  /* As the vendor's decrypt sample builds it: cipher and pin wrapped, line breaks removed. */
  function popupDecrypt(cipher, cipherType, plainEncoding, pin, cb) {
    popup({
      cipher: encodeURIComponent(cipher.replace(/[\r\n]/g, "")),
      cipherType: cipherType,
      plainEncoding: plainEncoding,
      pin: encodeURIComponent(pin),
      func: "DecryptData"
    }, cb);
  }
  /* A library that posts to the agent's origin rather than "*". */
  function popupSignTargeted(tbs, pin, cb) {
    popup(signPackage(tbs, pin), cb, { targetOrigin: AGENT_ORIGIN });
  }

  /* The image probe: the compact pkcs11info in row 0 of a BMP, read through a canvas. */
  function imageCheckEnvir(canvasWidth, cb) {
    if (typeof canvasWidth === "function") { cb = canvasWidth; canvasWidth = 0; }
    var img = new Image();
    img.crossOrigin = "anonymous";
    img.onload = function () {
      var output = "";
      try {
        var canvas = document.createElement("canvas");
        if (canvasWidth) { canvas.width = canvasWidth; canvas.height = 1; }
        // else the default size, 300x150: one probe reads only its first 300 pixels.
        var ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0);
        for (var i = 0; i < canvas.width; i++) {
          var data = ctx.getImageData(i, 0, 1, 1).data;
          if (data[2] === 0) break;
          output = output + String.fromCharCode(data[2], data[1], data[0]);
        }
      } catch (e) {
        cb({ via: "image", transport: "canvas-error", error: String(e) });
        return;
      }
      if (output === "") output = '{"ret_code": 1979711501}';
      cb({ via: "image", transport: "ok", result: parse(output), text: output, width: img.width, height: img.height });
    };
    img.onerror = function () { cb({ via: "image", transport: "network-error" }); };
    img.src = LOCAL + "/p11Image.bmp?t=" + new Date().getTime();
  }

  /* Asks the user (in the agent's own dialog) to trust this site, as pages do: the host name
   * in the query, the answer by postMessage from the agent's origin. */
  function addDomain(domain, cb) {
    if (typeof domain === "function") { cb = domain; domain = null; }
    function receive(e) {
      if (e.origin !== AGENT_ORIGIN) return;
      var data = typeof e.data === "string" ? parse(e.data) : e.data;
      if (!data || data.func !== "addDomain") return;
      window.removeEventListener("message", receive, false);
      cb({ via: "addDomain", transport: "ok", result: data });
    }
    window.addEventListener("message", receive, false);
    var w = window.open(AGENT_ORIGIN + "/addDomain?domain=" + encodeURIComponent(domain || location.hostname),
      "hipkiAddDomain", "height=400,width=400,left=100,top=20");
    if (!w) cb({ via: "addDomain", transport: "blocked" });
  }

  return {
    xhrSign: xhrSign, xhrDecrypt: xhrDecrypt, xhrGetUserCert: xhrGetUserCert, fetchCheckEnvir: fetchCheckEnvir, popupSign: popupSign,
    popupSignTargeted: popupSignTargeted, popupGetUserCert: popupGetUserCert, popupCheckEnvir: popupCheckEnvir,
    popupDecrypt: popupDecrypt, imageCheckEnvir: imageCheckEnvir, addDomain: addDomain, messages: messages
  };
})();
