/* The page's HiPKI code, written the way e-government pages wrote it for HiCOS / HiPKI Local
 * Sign Server (ES5, callbacks, XMLHttpRequest, a popup bridge, a BMP read through a canvas).
 * Every function calls back with {via, transport, status?, result?, error?}:
 *   transport "ok"            the agent answered (result: its JSON, parsed);
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
  var POPUP_ORIGIN = "http://localhost:" + POPUP_PORT;

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

  /* Direct call. */
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

  /* The popup bridge: the agent's own page calls it on our behalf. */
  function popup(pkg, cb) {
    var win = null;
    function receive(e) {
      if (e.origin !== POPUP_ORIGIN) return;
      var data = parse(e.data);
      if (data && data.func === "getTbs") {
        win.postMessage(JSON.stringify(pkg), "*");
        return;
      }
      window.removeEventListener("message", receive, false);
      cb({ via: "popup", transport: data ? "ok" : "bad-answer", result: data });
    }
    window.addEventListener("message", receive, false);
    win = window.open(POPUP_ORIGIN + "/popupForm", "hipkiPopup", "height=200,width=200,left=100,top=20");
    if (!win) cb({ via: "popup", transport: "blocked" });
  }

  function popupSign(tbs, pin, cb) { popup(signPackage(tbs, pin), cb); }
  function popupGetUserCert(cb) { popup({ func: "GetUserCert" }, cb); }

  /* The image probe: pkcs11info packed in BMP pixels, read back through a canvas. */
  function imageCheckEnvir(cb) {
    var img = new Image();
    img.crossOrigin = "anonymous";
    img.onload = function () {
      var text;
      try {
        var canvas = document.createElement("canvas");
        canvas.width = img.width;
        canvas.height = img.height;
        var ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0);
        var px = ctx.getImageData(0, 0, img.width, img.height).data;
        var s = "";
        var done = false;
        for (var i = 0; i < px.length && !done; i += 4) {
          var bgr = [px[i + 2], px[i + 1], px[i]];
          for (var k = 0; k < 3; k++) {
            if (bgr[k] === 0) { done = true; break; }
            s += String.fromCharCode(bgr[k]);
          }
        }
        text = decodeURIComponent(escape(s));
      } catch (e) {
        cb({ via: "image", transport: "canvas-error", error: String(e) });
        return;
      }
      cb({ via: "image", transport: "ok", result: parse(text), width: img.width, height: img.height });
    };
    img.onerror = function () { cb({ via: "image", transport: "network-error" }); };
    img.src = LOCAL + "/p11Image.bmp?t=" + new Date().getTime();
  }

  /* Asks the user (in the agent's own dialog) to trust this site. */
  function addDomain(cb) {
    function receive(e) {
      if (e.origin !== POPUP_ORIGIN) return;
      var data = typeof e.data === "string" ? parse(e.data) : e.data;
      if (!data || data.func !== "addDomain") return;
      window.removeEventListener("message", receive, false);
      cb({ via: "addDomain", transport: "ok", result: data });
    }
    window.addEventListener("message", receive, false);
    var w = window.open(POPUP_ORIGIN + "/addDomain?domain=" + encodeURIComponent(location.host),
      "hipkiAddDomain", "height=200,width=300");
    if (!w) cb({ via: "addDomain", transport: "blocked" });
  }

  return {
    xhrSign: xhrSign, xhrGetUserCert: xhrGetUserCert, fetchCheckEnvir: fetchCheckEnvir, popupSign: popupSign,
    popupGetUserCert: popupGetUserCert, imageCheckEnvir: imageCheckEnvir, addDomain: addDomain,
    messages: messages
  };
})();
