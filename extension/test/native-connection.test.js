// The shared native port: reuse, re-open after a disconnect, error text. The port is a fake
// (no browser, no native host runs in unit tests).
import { test } from "node:test";
import assert from "node:assert/strict";
import { NativeConnection } from "../lib/native-connection.js";
import { FakePort } from "./fakes.js";

function setup({ lastError = () => null } = {}) {
  const ports = [];
  const received = [];
  const disconnects = [];
  const conn = new NativeConnection({
    connect: () => {
      const port = new FakePort("tw.card_agent");
      ports.push(port);
      return port;
    },
    onMessage: (m) => received.push(m),
    onDisconnect: (reason) => disconnects.push(reason),
    lastError,
  });
  return { conn, ports, received, disconnects };
}

test("the port opens on first use and is reused for every request", () => {
  const { conn, ports } = setup();
  assert.equal(conn.connected, false);
  assert.equal(ports.length, 0, "nothing starts before a request");
  conn.post({ id: 1 });
  conn.post({ id: 2 });
  conn.post({ id: 3 });
  assert.equal(ports.length, 1);
  assert.deepEqual(ports[0].sent.map((m) => m.id), [1, 2, 3]);
  assert.equal(conn.connected, true);
});

test("messages from the host are passed on", () => {
  const { conn, ports, received } = setup();
  conn.post({ id: 1 });
  ports[0].receive({ id: 1, result: {} });
  assert.deepEqual(received, [{ id: 1, result: {} }]);
});

test("after a disconnect the next request opens a new port", () => {
  let chromeError = null;
  const { conn, ports, disconnects } = setup({ lastError: () => chromeError });
  conn.post({ id: 1 });
  chromeError = "Specified native messaging host not found.";
  ports[0].drop();
  chromeError = null; // Chrome clears lastError once the listener returns.
  assert.deepEqual(disconnects, ["Specified native messaging host not found."]);
  assert.equal(conn.connected, false);
  conn.post({ id: 2 });
  assert.equal(ports.length, 2);
  assert.deepEqual(ports[1].sent, [{ id: 2 }]);
  assert.equal(conn.opened, 2);
});

test("Firefox's port.error is read as the reason", () => {
  const { conn, ports, disconnects } = setup();
  conn.post({ id: 1 });
  ports[0].drop("No such native application tw.card_agent");
  assert.deepEqual(disconnects, ["No such native application tw.card_agent"]);
});

test("a port that throws on post is reported and replaced once", () => {
  const { conn, ports, disconnects } = setup();
  conn.post({ id: 1 });
  ports[0].throwOnPost = true;
  conn.post({ id: 2 });
  assert.equal(disconnects.length, 1, "requests sent on the dead port are failed at once");
  assert.match(disconnects[0], /disconnected port/);
  assert.equal(ports.length, 2);
  assert.deepEqual(ports[1].sent, [{ id: 2 }]);
  // The dead port's own late disconnect event changes nothing.
  ports[0].drop();
  assert.equal(disconnects.length, 1);
  assert.equal(conn.connected, true);
});

test("post throws when even a fresh port cannot be used", () => {
  const ports = [];
  const conn = new NativeConnection({
    connect: () => {
      const port = new FakePort();
      port.throwOnPost = true;
      ports.push(port);
      return port;
    },
    onMessage: () => {},
    onDisconnect: () => {},
  });
  assert.throws(() => conn.post({ id: 1 }), /disconnected port/);
});

test("messages from a replaced port are ignored", () => {
  const { conn, ports, received } = setup();
  conn.post({ id: 1 });
  ports[0].drop();
  conn.post({ id: 2 });
  ports[0].receive({ id: 1, result: "stale" });
  ports[1].receive({ id: 2, result: "fresh" });
  assert.deepEqual(received, [{ id: 2, result: "fresh" }]);
});

test("close disconnects without reporting a failure", () => {
  const { conn, ports, disconnects } = setup();
  conn.post({ id: 1 });
  conn.close();
  assert.equal(ports[0].disconnected, true);
  assert.equal(conn.connected, false);
  assert.deepEqual(disconnects, []);
  conn.close(); // twice is harmless
});
