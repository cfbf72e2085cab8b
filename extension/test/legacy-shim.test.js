// The legacy shim (legacy-shim.js), run in a vm over fake page classes: which calls it takes
// from the network, how it plays XMLHttpRequest, fetch and images back to the page, and what
// it leaves alone. The content script's side is played by the test (see legacy-fakes.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import vm from "node:vm";
import { FakeClock, flush } from "./fakes.js";
import { SHIM_SOURCE, answer, b64, loadShim, portStatusRequests, shimRequests } from "./legacy-fakes.js";

const ok = (text, contentType = "application/json; charset=utf-8", status = 200) =>
  ({ result: { status, contentType, body: b64(text) } });

/** Starts a call with `start`, answers the one request it posted, returns the request. */
async function answered(win, body) {
  await flush();
  const requests = shimRequests(win);
  const request = requests.at(-1);
  answer(win, request.id, body);
  await flush();
  return request;
}

test("intercepts the agent's three loopback names on port 61161, and nothing else", async () => {
  const carried = [
    "http://localhost:61161/",
    "http://127.0.0.1:61161/pkcs11info",
    "http://[::1]:61161/pkcs11info?withcert=true",
    "http://LOCALHOST:61161/sign",
    "http://localhost:61161/p11Image.bmp?t=1#frag",
  ];
  const untouched = [
    "https://localhost:61161/", // no TLS variant exists
    "http://localhost:61162/",
    "http://localhost/",
    "http://portal.example.gov.tw:61161/",
    "http://0.0.0.0:61161/",
    "http://localhost.:61161/",
    "/pkcs11info", // relative: the page's own server
    `http://localhost:61161/${"a".repeat(2048)}`, // over legacy-request's path bound
    "not a url at all ::::",
  ];
  for (const url of carried) {
    const { win, page, fetched } = loadShim();
    page.fetch(url);
    await flush();
    assert.equal(fetched.length, 0, url);
    assert.equal(shimRequests(win).length, 1, url);
  }
  for (const url of untouched) {
    const { win, page, fetched } = loadShim();
    page.fetch(url);
    await flush();
    assert.equal(fetched.length, 1, url);
    assert.equal(shimRequests(win).length, 0, url);
  }
  const { win, page } = loadShim();
  page.fetch("http://localhost:61161/p11Image.bmp?t=1#frag");
  await flush();
  assert.equal(shimRequests(win)[0].path, "/p11Image.bmp?t=1", "path and query, no fragment");
});

test("does nothing on the agent's own pages, which call it over HTTP themselves", async () => {
  for (const href of ["http://localhost:61161/popupForm", "http://127.0.0.1:61161/selfTest.htm"]) {
    const { win, page, fetched } = loadShim({ href });
    page.fetch("/sign", { method: "POST", body: "tbsPackage=x" });
    page.fetch("http://localhost:61161/pkcs11info");
    await flush();
    assert.equal(fetched.length, 2);
    assert.equal(shimRequests(win).length, 0);
  }
});

test("installs once even if injected twice", async () => {
  const { win, page, fetched } = loadShim();
  vm.runInNewContext(SHIM_SOURCE, page);
  page.fetch("http://localhost:61161/");
  await flush();
  assert.equal(shimRequests(win).length, 1);
  assert.equal(fetched.length, 0);
});

test("fetch: the agent's answer becomes a Response, as over HTTP", async () => {
  const { win, page } = loadShim();
  const pending = page.fetch("http://localhost:61161/pkcs11info?withcert=true", { cache: "no-store" });
  const request = await answered(win, ok('{"ret_code":0,"slots":[]}'));
  assert.deepEqual(request, {
    "card-agent-legacy": "request", id: request.id, method: "GET", path: "/pkcs11info?withcert=true",
  });
  const response = await pending;
  assert.equal(response.status, 200);
  assert.equal(response.ok, true);
  assert.equal(response.statusText, "OK");
  assert.equal(response.url, "http://localhost:61161/pkcs11info?withcert=true");
  assert.equal(response.headers.get("Content-Type"), "application/json; charset=utf-8");
  assert.deepEqual(await response.json(), { ret_code: 0, slots: [] });
});

test("fetch: POST bodies as strings, URLSearchParams, Blobs, buffers and Request objects", async () => {
  const form = "tbsPackage=%7B%22func%22%3A%22MakeSignature%22%2C%22pin%22%3A%22123456%22%7D";
  const bodies = [
    form,
    new URLSearchParams({ tbsPackage: '{"a":"b c"}' }),
    new Blob([form]),
    new TextEncoder().encode(form),
    new TextEncoder().encode(form).buffer,
  ];
  const expected = [form, "tbsPackage=%7B%22a%22%3A%22b+c%22%7D", form, form, form];
  for (const [i, body] of bodies.entries()) {
    const { win, page } = loadShim();
    const pending = page.fetch("http://localhost:61161/sign", { method: "post", body });
    const request = await answered(win, ok("{}"));
    assert.equal(request.method, "POST");
    assert.equal(request.body, expected[i], `body ${i}`);
    assert.equal((await pending).status, 200);
  }
  const { win, page } = loadShim();
  const pending = page.fetch(new Request("http://127.0.0.1:61161/sign", { method: "POST", body: form }));
  const request = await answered(win, ok("{}"));
  assert.equal(request.path, "/sign");
  assert.equal(request.body, form);
  await pending;
});

test("fetch: what the shim cannot carry faithfully goes to the browser", async () => {
  const form = new FormData();
  form.set("tbsPackage", "{}");
  const calls = [
    ["http://localhost:61161/sign", { method: "POST", body: form }],
    ["http://localhost:61161/sign", { method: "POST", body: new ReadableStream() }],
    ["http://localhost:61161/sign", { method: "PUT", body: "x" }],
    ["http://localhost:61161/", { method: "OPTIONS" }],
    ["http://localhost:61161/", { method: "GET", body: "x" }], // the browser's TypeError
  ];
  for (const [url, init] of calls) {
    const { win, page, fetched } = loadShim();
    page.fetch(url, init);
    await flush();
    assert.equal(fetched.length, 1, init.method);
    assert.equal(fetched[0].init, init, "passed on exactly as given");
    assert.equal(shimRequests(win).length, 0);
  }
});

test("fetch: statuses and content types are the agent's; a null-body status has no body", async () => {
  const { win, page } = loadShim();
  const notFound = page.fetch("http://localhost:61161/nothing");
  await answered(win, ok("not found\n", "text/plain; charset=utf-8", 404));
  const r = await notFound;
  assert.equal(r.status, 404);
  assert.equal(r.ok, false);
  assert.equal(await r.text(), "not found\n");
  const empty = page.fetch("http://localhost:61161/");
  await answered(win, ok("", "text/plain", 204));
  assert.equal((await empty).body, null);
});

test("fetch: a failure or an impossible answer is a network error (TypeError)", async () => {
  const answers = [
    { error: { code: "INTERNAL", message: "no host", agent: "unreachable" } },
    { result: { status: 200 } },
    { result: { status: 0, contentType: "text/plain", body: "" } },
    { result: { status: 200, contentType: "text/plain", body: "*** not base64 ***" } },
    { result: { status: 200, contentType: "bad\nheader", body: "" } },
  ];
  for (const body of answers) {
    const { win, page } = loadShim();
    const pending = page.fetch("http://localhost:61161/pkcs11info").catch((e) => e);
    await answered(win, body);
    const error = await pending;
    assert.equal(error.name, "TypeError", JSON.stringify(body));
    assert.equal(error.message, "Failed to fetch");
  }
});

test("a body over 512 KiB goes over HTTP: its signed answer would not fit the native host's 1 MB", async () => {
  const big = "x".repeat(512 * 1024 + 1);
  const bodies = [
    big, new Blob([big]), new TextEncoder().encode(big), new URLSearchParams({ tbsPackage: big }),
    "申".repeat(200_000), // 200,000 characters, 600,000 bytes in UTF-8
  ];
  for (const body of bodies) {
    const { win, page, fetched, xhrSent } = loadShim();
    page.fetch("http://localhost:61161/sign", { method: "POST", body });
    const xhr = new page.XMLHttpRequest();
    xhr.open("POST", "http://localhost:61161/sign");
    xhr.send(body);
    await flush();
    assert.equal(fetched.length, 1);
    assert.equal(xhrSent.length, 1);
    assert.equal(shimRequests(win).length, 0);
  }
  // 512 KiB itself is carried.
  const { win, page } = loadShim();
  page.fetch("http://localhost:61161/sign", { method: "POST", body: "x".repeat(512 * 1024) });
  page.fetch("http://localhost:61161/sign", { method: "POST", body: `${"申".repeat(174_762)}xx` });
  await flush();
  assert.equal(shimRequests(win).length, 2);
});

test("fetch: an AbortSignal stops the wait; the late answer is dropped", async () => {
  const { win, page } = loadShim();
  const controller = new AbortController();
  const pending = page.fetch("http://localhost:61161/pkcs11info", { signal: controller.signal });
  await flush();
  controller.abort();
  const error = await pending.catch((e) => e);
  assert.equal(error.name, "AbortError");
  answer(win, shimRequests(win)[0].id, ok("{}"));
  await flush();
  const already = page.fetch("http://localhost:61161/pkcs11info", { signal: AbortSignal.abort() });
  assert.equal((await already.catch((e) => e)).name, "AbortError");
});

test("fetch: no answer within the hang guard is a network error", async () => {
  const clock = new FakeClock();
  const { win, page } = loadShim({ timers: clock });
  const pending = page.fetch("http://localhost:61161/sign", { method: "POST", body: "tbsPackage=%7B%7D" });
  await flush();
  assert.equal(shimRequests(win).length, 1);
  clock.advance(170_000);
  assert.equal((await pending.catch((e) => e)).name, "TypeError");
  // Its answer, if it ever comes, goes nowhere.
  answer(win, shimRequests(win)[0].id, ok("{}"));
  await flush();
});

test("each call has its own id, and answers are matched by id whatever their order", async () => {
  const { win, page } = loadShim();
  const a = page.fetch("http://localhost:61161/a");
  const b = page.fetch("http://localhost:61161/b");
  await flush();
  const [ra, rb] = shimRequests(win);
  assert.notEqual(ra.id, rb.id);
  answer(win, "legacy-unknown-1", ok("stranger"));
  answer(win, rb.id, ok("for b"));
  answer(win, ra.id, ok("for a"));
  assert.equal(await (await a).text(), "for a");
  assert.equal(await (await b).text(), "for b");
});

test("the page's own message listeners never see the answers", async () => {
  const { win, page } = loadShim();
  const seen = [];
  win.addEventListener("message", (event) => seen.push(event.data));
  win.addEventListener("message", (event) => seen.push(event.data), true);
  const pending = page.fetch("http://localhost:61161/");
  await answered(win, ok("version:1.3.4.1"));
  await pending;
  win.postMessage('{"func":"getTbs"}');
  await flush();
  assert.deepEqual(seen.filter((d) => d?.["card-agent-legacy"] === "response"), []);
  assert.ok(seen.includes('{"func":"getTbs"}'), "other messages still reach the page");
});

/** Records every event an XHR fires, with the state seen in the handler. */
function watch(xhr) {
  const log = [];
  const types = ["readystatechange", "loadstart", "progress", "load", "loadend", "error", "abort", "timeout"];
  for (const type of types) {
    xhr.addEventListener(type, () => log.push(`${type}:${xhr.readyState}:${xhr.status}`));
  }
  return log;
}

test("XHR: an asynchronous POST is carried and played back event by event", async () => {
  const { win, page, xhrSent } = loadShim();
  const xhr = new page.XMLHttpRequest();
  const log = watch(xhr);
  let onload = null;
  xhr.onload = function (event) {
    onload = { self: this, type: event.type, text: this.responseText };
  };
  xhr.open("POST", "http://localhost:61161/sign");
  xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
  xhr.send("tbsPackage=%7B%22tbs%22%3A%22a%2Bb%22%7D");
  assert.equal(xhr.readyState, 1);
  const request = await answered(win, ok('{"func":"MakeSignature","ret_code":0}'));
  assert.equal(xhrSent.length, 0, "nothing went to the network");
  assert.equal(request.body, "tbsPackage=%7B%22tbs%22%3A%22a%2Bb%22%7D");
  assert.deepEqual(log, [
    "readystatechange:1:0", // from open(), as the browser fires it
    "loadstart:1:0",
    "readystatechange:2:200",
    "readystatechange:3:200",
    "progress:3:200",
    "readystatechange:4:200",
    "load:4:200",
    "loadend:4:200",
  ]);
  assert.deepEqual(onload, { self: xhr, type: "load", text: '{"func":"MakeSignature","ret_code":0}' });
  assert.equal(xhr.status, 200);
  assert.equal(xhr.statusText, "OK");
  assert.equal(xhr.responseURL, "http://localhost:61161/sign");
  assert.equal(xhr.response, '{"func":"MakeSignature","ret_code":0}');
  assert.equal(xhr.getResponseHeader("content-type"), "application/json; charset=utf-8");
  assert.equal(xhr.getResponseHeader("X-Other"), null);
  assert.equal(xhr.getAllResponseHeaders(), "content-type: application/json; charset=utf-8\r\n");
  assert.ok(xhr instanceof page.XMLHttpRequest);
});

test("XHR: onreadystatechange-style pages (readyState 4 and status 200) work", async () => {
  const { win, page } = loadShim();
  const xhr = new page.XMLHttpRequest();
  let result = null;
  xhr.onreadystatechange = function () {
    if (this.readyState === 4 && this.status === 200) result = JSON.parse(this.responseText);
  };
  xhr.open("GET", "http://127.0.0.1:61161/pkcs11info?withcert=true", true);
  xhr.send(null);
  const request = await answered(win, ok('{"ret_code":0}'));
  assert.equal(request.method, "GET");
  assert.equal("body" in request, false, "a GET carries no body");
  assert.deepEqual(result, { ret_code: 0 });
});

test("XHR: responseType json, arraybuffer and blob", async () => {
  const { win, page } = loadShim();
  const make = (type) => {
    const xhr = new page.XMLHttpRequest();
    xhr.open("GET", "http://localhost:61161/pkcs11info");
    xhr.responseType = type;
    xhr.send();
    return xhr;
  };
  const json = make("json");
  await answered(win, ok('{"ret_code":0}'));
  // (The vm's objects have the vm's prototypes; compare the data.)
  assert.equal(JSON.stringify(json.response), '{"ret_code":0}');
  assert.throws(() => json.responseText, { name: "InvalidStateError" });
  const buffer = make("arraybuffer");
  await answered(win, ok("BM"));
  assert.deepEqual([...new Uint8Array(buffer.response)], [66, 77]);
  const blob = make("blob");
  await answered(win, ok("BM", "image/bmp"));
  assert.equal(blob.response.type, "image/bmp");
  assert.equal(await blob.response.text(), "BM");
  const broken = make("json");
  await answered(win, ok("not json"));
  assert.equal(broken.response, null);
});

test("XHR: synchronous, FormData, other methods, other URLs and documents go to the network", async () => {
  const { win, page, xhrSent } = loadShim();
  const cases = [
    (x) => { x.open("POST", "http://localhost:61161/sign", false); x.send("tbsPackage=x"); },
    (x) => { x.open("POST", "http://localhost:61161/sign"); x.send(new FormData()); },
    (x) => { x.open("PUT", "http://localhost:61161/sign"); x.send("x"); },
    (x) => { x.open("GET", "https://portal.example.gov.tw/api"); x.send(); },
    (x) => { x.open("GET", "http://localhost:61161/"); x.responseType = "document"; x.send(); },
  ];
  for (const run of cases) {
    const xhr = new page.XMLHttpRequest();
    run(xhr);
    // The browser's own object, untouched: its getters answer.
    assert.equal(xhr.responseText, "from the network");
    assert.equal(xhr.getResponseHeader("x"), "from the network");
  }
  await flush();
  assert.equal(xhrSent.length, cases.length);
  assert.deepEqual(xhrSent.map((s) => s.method), ["POST", "POST", "PUT", "GET", "GET"]);
  assert.equal(shimRequests(win).length, 0);
});

test("XHR: a failure is a network error: status 0, error, loadend", async () => {
  const { win, page } = loadShim();
  const xhr = new page.XMLHttpRequest();
  const log = watch(xhr);
  let errored = false;
  xhr.onerror = () => { errored = true; };
  xhr.open("POST", "http://localhost:61161/sign");
  xhr.send("tbsPackage=%7B%7D");
  await answered(win, { error: { code: "TIMEOUT", message: "late" } });
  assert.deepEqual(log.slice(2), ["readystatechange:4:0", "error:4:0", "loadend:4:0"]);
  assert.equal(errored, true);
  assert.equal(xhr.responseText, "");
  assert.equal(xhr.getAllResponseHeaders(), "");
});

test("XHR: the page's timeout fires 'timeout'; the late answer is dropped", async () => {
  const clock = new FakeClock();
  const { win, page } = loadShim({ timers: clock });
  const xhr = new page.XMLHttpRequest();
  const log = watch(xhr);
  xhr.open("GET", "http://localhost:61161/pkcs11info");
  xhr.timeout = 5000;
  xhr.send();
  await flush();
  clock.advance(5000);
  assert.deepEqual(log.slice(2), ["readystatechange:4:0", "timeout:4:0", "loadend:4:0"]);
  answer(win, shimRequests(win)[0].id, ok("{}"));
  await flush();
  assert.equal(log.length, 5);
  assert.equal(xhr.status, 0);
});

test("XHR: no answer within the hang guard is a network error", async () => {
  const clock = new FakeClock();
  const { page } = loadShim({ timers: clock });
  const xhr = new page.XMLHttpRequest();
  const log = watch(xhr);
  xhr.open("GET", "http://localhost:61161/pkcs11info");
  xhr.send();
  await flush();
  clock.advance(170_000);
  await flush();
  assert.deepEqual(log.slice(2), ["readystatechange:4:0", "error:4:0", "loadend:4:0"]);
});

test("XHR: abort() fires abort and resets; re-opening to another URL gives the browser back", async () => {
  const { win, page, xhrSent } = loadShim();
  const xhr = new page.XMLHttpRequest();
  const log = watch(xhr);
  xhr.open("GET", "http://localhost:61161/pkcs11info");
  xhr.send();
  await flush();
  xhr.abort();
  assert.deepEqual(log.slice(2), ["readystatechange:4:0", "abort:4:0", "loadend:4:0"]);
  assert.equal(xhr.readyState, 0);
  answer(win, shimRequests(win)[0].id, ok("{}"));
  await flush();
  assert.equal(log.length, 5, "the late answer fires nothing");
  xhr.open("GET", "https://portal.example.gov.tw/next");
  xhr.send();
  assert.equal(xhrSent.length, 1);
  assert.equal(xhr.responseText, "from the network", "the shim's properties are gone");
  assert.equal(Object.hasOwn(xhr, "readyState"), false);
});

test("XHR: re-opening while a call is in flight drops that call's answer", async () => {
  const { win, page } = loadShim();
  const xhr = new page.XMLHttpRequest();
  const texts = [];
  xhr.onload = () => texts.push(xhr.responseText);
  xhr.open("GET", "http://localhost:61161/first");
  xhr.send();
  await flush();
  xhr.open("GET", "http://localhost:61161/second");
  xhr.send();
  await flush();
  const [first, second] = shimRequests(win);
  answer(win, first.id, ok("first"));
  answer(win, second.id, ok("second"));
  await flush();
  assert.deepEqual(texts, ["second"]);
});

test("XHR: send() twice and setRequestHeader() after send() throw as in browsers", async () => {
  const { page } = loadShim();
  const xhr = new page.XMLHttpRequest();
  xhr.open("GET", "http://localhost:61161/");
  xhr.send();
  assert.throws(() => xhr.send(), { name: "InvalidStateError" });
  assert.throws(() => xhr.setRequestHeader("X", "y"), { name: "InvalidStateError" });
  assert.throws(() => new page.XMLHttpRequest().open("BAD METHOD", "http://localhost:61161/"), { name: "SyntaxError" });
});

test("image: new Image() with the agent's BMP gets a data: URL a canvas can read", async () => {
  const { win, page, loads } = loadShim();
  const img = new page.Image();
  img.crossOrigin = "anonymous";
  img.src = "http://localhost:61161/p11Image.bmp?t=5";
  assert.equal(img.src, "http://localhost:61161/p11Image.bmp?t=5", "the page reads back what it set");
  assert.equal(loads.length, 0, "the browser was not asked to load the agent's URL");
  const request = await answered(win, ok("BM\x00\x01", "image/bmp"));
  assert.deepEqual(request, {
    "card-agent-legacy": "request", id: request.id, method: "GET", path: "/p11Image.bmp?t=5",
  });
  assert.deepEqual(loads.map((l) => l.src), [`data:image/bmp;base64,${b64("BM\x00\x01")}`]);
  assert.equal(loads[0].img, img);
});

test("image: setAttribute('src') is routed too; other images and attributes are untouched", async () => {
  const { win, page, loads } = loadShim();
  const img = new page.HTMLImageElement();
  img.setAttribute("SRC", "http://127.0.0.1:61161/p11Image.bmp");
  img.setAttribute("alt", "probe");
  const other = new page.Image();
  other.src = "https://portal.example.gov.tw/logo.png";
  const notAnImage = new page.Element();
  notAnImage.setAttribute("src", "http://localhost:61161/p11Image.bmp");
  await answered(win, ok("BM", "image/bmp"));
  assert.equal(shimRequests(win).length, 1);
  assert.deepEqual(loads.map((l) => l.src), [
    "https://portal.example.gov.tw/logo.png",
    `data:image/bmp;base64,${b64("BM")}`,
  ]);
  assert.equal(img.getAttribute("alt"), "probe");
  assert.equal(notAnImage.getAttribute("src"), "http://localhost:61161/p11Image.bmp");
});

test("image: a failure, a non-200 status or an odd type breaks the image (its error event)", async () => {
  const answers = [
    { error: { code: "INTERNAL", message: "x", agent: "unreachable" } },
    ok("not found", "text/plain", 404),
    ok("BM", "image/bmp\"><script>"),
  ];
  for (const body of answers) {
    const { win, page, loads } = loadShim();
    const img = new page.Image();
    img.src = "http://localhost:61161/p11Image.bmp";
    await answered(win, body);
    assert.deepEqual(loads.map((l) => l.src), ["data:image/bmp;base64,"], JSON.stringify(body));
  }
});

test("image: a newer src wins over an answer still on its way", async () => {
  const { win, page, loads } = loadShim();
  const img = new page.Image();
  img.src = "http://localhost:61161/p11Image.bmp?1";
  await flush();
  img.src = "https://portal.example.gov.tw/other.png";
  assert.equal(img.src, "https://portal.example.gov.tw/other.png");
  answer(win, shimRequests(win)[0].id, ok("BM", "image/bmp"));
  await flush();
  assert.deepEqual(loads.map((l) => l.src), ["https://portal.example.gov.tw/other.png"]);
});

/** Loads the shim, makes one carried call, and answers its question about the port. */
async function withPortAnswer(ours) {
  const loaded = loadShim();
  loaded.page.fetch("http://localhost:61161/pkcs11info");
  await flush();
  const [status] = portStatusRequests(loaded.win);
  assert.ok(status, "the first call asks whether card-agent holds the port");
  answer(loaded.win, status.id, ok(JSON.stringify({ ours })));
  await flush();
  return loaded;
}

test("another program holds the port: nothing goes to it over HTTP, no window opens on it", async () => {
  const { win, page, fetched, xhrSent, opened, timers } = await withPortAnswer(false);
  assert.equal(portStatusRequests(win).length, 1, "asked once");
  const big = "x".repeat(512 * 1024 + 1);
  const form = new FormData();
  for (const init of [{ method: "POST", body: form }, { method: "POST", body: big }, { method: "PUT", body: "x" }]) {
    const error = await page.fetch("http://localhost:61161/sign", init).catch((e) => e);
    assert.equal(error.name, "TypeError", init.method);
  }
  const xhr = new page.XMLHttpRequest();
  const log = watch(xhr);
  xhr.open("POST", "http://localhost:61161/sign");
  xhr.send(big);
  timers.advance(0);
  await flush();
  assert.deepEqual(log.slice(-3), ["readystatechange:4:0", "error:4:0", "loadend:4:0"]);
  const sync = new page.XMLHttpRequest();
  sync.open("GET", "http://localhost:61161/pkcs11info", false);
  assert.throws(() => sync.send(), (e) => e.name === "NetworkError");
  assert.equal(page.window.open("http://localhost:61161/popupForm", "hipkiPopup"), null);
  assert.equal(fetched.length, 0);
  assert.equal(xhrSent.length, 0);
  assert.equal(opened.length, 0);
  // Other addresses are untouched.
  page.fetch("https://portal.example.gov.tw/api");
  assert.equal(page.window.open("https://portal.example.gov.tw/help").location.href, "https://portal.example.gov.tw/help");
  assert.equal(fetched.length, 1);
});

test("card-agent holds the port: what the shim cannot carry still goes over HTTP", async () => {
  const { page, fetched, opened } = await withPortAnswer(true);
  page.fetch("http://localhost:61161/sign", { method: "POST", body: new FormData() });
  await flush();
  assert.equal(fetched.length, 1);
  const w = page.window.open("http://localhost:61161/popupForm", "hipkiPopup");
  assert.equal(w.location.href, "http://localhost:61161/popupForm");
  assert.equal(opened.length, 1);
});

test("a window on the agent's address before the answer: blank, then the agent's page or closed", async () => {
  for (const ours of [true, false]) {
    const { win, page, opened } = loadShim();
    const w = page.window.open("http://localhost:61161/popupForm", "hipkiPopup", "width=200");
    assert.equal(w.location.href, "about:blank");
    assert.equal(opened[0].features, "width=200");
    await flush();
    const [status] = portStatusRequests(win);
    answer(win, status.id, ok(JSON.stringify({ ours })));
    await flush();
    if (ours) assert.equal(w.location.href, "http://localhost:61161/popupForm");
    else assert.equal(w.closed, true);
  }
});
