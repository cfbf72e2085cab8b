import { test } from "node:test";
import assert from "node:assert/strict";
import { classifySender, senderOrigin, siteOriginError } from "../lib/origin.js";

const ext = { extensionId: "hccjmiblnokapoamfkgnbbighmnfpoig",
  extensionOrigin: "chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig" };
const tab = { id: 7 };

test("senderOrigin prefers sender.origin over sender.url", () => {
  assert.equal(
    senderOrigin({ origin: "https://a.gov.tw", url: "https://evil.example/x" }),
    "https://a.gov.tw",
  );
});

test("senderOrigin falls back to the URL's origin when the browser gives none", () => {
  assert.equal(senderOrigin({ url: "https://a.gov.tw:8443/login?x=1#y" }), "https://a.gov.tw:8443");
  assert.equal(senderOrigin({ url: "https://a.gov.tw:443/" }), "https://a.gov.tw");
});

test("senderOrigin refuses an opaque origin instead of using the URL", () => {
  assert.equal(senderOrigin({ origin: "null", url: "https://a.gov.tw/sandboxed" }), null);
  assert.equal(senderOrigin({ url: "data:text/html,hi" }), null);
  assert.equal(senderOrigin({ url: "not a url" }), null);
  assert.equal(senderOrigin({}), null);
  assert.equal(senderOrigin(undefined), null);
});

test("https origins and loopback http origins are accepted", () => {
  for (const origin of [
    "https://www.gov.tw", "https://example.gov.tw:8443", "http://localhost",
    "http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173",
  ]) {
    assert.equal(siteOriginError(origin), null, origin);
  }
});

test("insecure contexts are SITE_NOT_TRUSTED with reason insecure-context", () => {
  for (const origin of [
    "http://example.gov.tw", "http://127.0.0.2", "http://localhost.example.com",
    "http://192.168.1.1", "ftp://localhost", "file://",
  ]) {
    const error = siteOriginError(origin);
    assert.equal(error?.code, "SITE_NOT_TRUSTED", origin);
  }
  const error = siteOriginError("http://example.gov.tw");
  assert.equal(error.reason, "insecure-context");
  assert.match(error.message, /https:\/\//);
  assert.match(error.message, /http:\/\/example\.gov\.tw/);
});

test("an unknown or malformed origin is SITE_NOT_TRUSTED with reason unknown-origin", () => {
  for (const origin of [null, undefined, "", "null", "https://a b", "x".repeat(513)]) {
    const error = siteOriginError(origin);
    assert.equal(error?.code, "SITE_NOT_TRUSTED", String(origin));
  }
  assert.equal(siteOriginError(null).reason, "unknown-origin");
});

test("classifySender: our content script in a top frame is a page with the browser's origin", () => {
  const who = classifySender(
    { id: ext.extensionId, tab, frameId: 0, origin: "https://a.gov.tw", url: "https://a.gov.tw/" },
    ext,
  );
  assert.deepEqual(who, { accept: true, kind: "page", origin: "https://a.gov.tw", error: null });
});

test("classifySender: an http page is accepted as a client but carries its refusal", () => {
  const who = classifySender({ id: ext.extensionId, tab, frameId: 0, url: "http://a.gov.tw/" }, ext);
  assert.equal(who.accept, true);
  assert.equal(who.origin, "http://a.gov.tw");
  assert.equal(who.error.code, "SITE_NOT_TRUSTED");
});

test("classifySender: other extensions and sub-frames are refused", () => {
  assert.equal(classifySender({ id: "other", tab, frameId: 0, url: "https://a/" }, ext).accept, false);
  assert.equal(
    classifySender({ id: ext.extensionId, tab, frameId: 3, url: "https://a/" }, ext).accept,
    false,
  );
  assert.equal(classifySender({ id: ext.extensionId, url: "https://a/" }, ext).accept, false);
  assert.equal(classifySender(undefined, ext).accept, false);
});

test("classifySender: the popup is an extension page with the extension's origin", () => {
  const who = classifySender(
    { id: ext.extensionId, url: `${ext.extensionOrigin}/popup.html`, origin: ext.extensionOrigin },
    ext,
  );
  assert.deepEqual(who, { accept: true, kind: "extension", origin: ext.extensionOrigin, error: null });
});

test("classifySender: an extension page opened in a tab is still the extension", () => {
  const who = classifySender(
    { id: ext.extensionId, tab, frameId: 0, url: `${ext.extensionOrigin}/popup.html` },
    ext,
  );
  assert.equal(who.kind, "extension");
  assert.equal(who.origin, ext.extensionOrigin);
});

test("classifySender: a web page whose URL merely mentions the extension is a page", () => {
  const who = classifySender(
    { id: ext.extensionId, tab, frameId: 0, url: `https://evil.example/${ext.extensionOrigin}/` },
    ext,
  );
  assert.equal(who.kind, "page");
  assert.equal(who.origin, "https://evil.example");
});
