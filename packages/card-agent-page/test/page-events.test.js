// onCardEvent in the page library, against a fake window and a scripted extension.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCardAgent } from "../card-agent.js";
import { FakeWindow, flush } from "./fake-window.js";

function setup(answers = {}, options = {}) {
  const win = new FakeWindow();
  const commands = [];
  win.addEventListener("message", (event) => {
    const data = event.data;
    if (event.source !== win) return;
    if (data?.["card-agent"] === "ping") win.postMessage({ "card-agent": "pong", version: "0.1.0" });
    if (data?.["card-agent"] === "request") {
      commands.push(data.command);
      const answer = answers[data.command] ?? { result: { subscribed: data.command === "subscribe" } };
      win.postMessage({ "card-agent": "response", id: data.id, ...answer });
    }
  });
  const agent = createCardAgent({ window: win, presenceTimeout: 1000, ...options });
  const push = (event) => win.postMessage({ "card-agent": "event", event });
  return { win, agent, commands, push };
}

const removed = { type: "card-removed", reader: "R 00 00" };

test("listeners share one subscription and all receive events", async () => {
  const { agent, commands, push } = setup();
  const a = [];
  const b = [];
  agent.onCardEvent((e) => a.push(e));
  agent.onCardEvent((e) => b.push(e));
  await flush(8);
  assert.deepEqual(commands, ["subscribe"]);
  push(removed);
  await flush();
  assert.deepEqual(a, [removed]);
  assert.deepEqual(b, [removed]);
});

test("unsubscribe stops one listener; the last one unsubscribes from the agent", async () => {
  const { agent, commands, push } = setup();
  const a = [];
  const b = [];
  const stopA = agent.onCardEvent((e) => a.push(e));
  const stopB = agent.onCardEvent((e) => b.push(e));
  await flush(8);
  await stopA();
  assert.deepEqual(commands, ["subscribe"]);
  push(removed);
  await flush();
  assert.deepEqual(a, []);
  assert.deepEqual(b, [removed]);
  await stopB();
  assert.deepEqual(commands, ["subscribe", "unsubscribe"]);
  await stopB(); // twice is harmless
  assert.deepEqual(commands, ["subscribe", "unsubscribe"]);
});

test("subscribe, unsubscribe and subscribe again reach the agent in that order", async () => {
  const { agent, commands } = setup();
  const stop = agent.onCardEvent(() => {});
  const stopping = stop();
  agent.onCardEvent(() => {});
  await stopping;
  await flush(10);
  assert.deepEqual(commands, ["subscribe", "unsubscribe", "subscribe"]);
});

test("a refused subscription is reported to onError and the listener dropped", async () => {
  const { agent, push } = setup({
    subscribe: { error: { code: "SITE_NOT_TRUSTED", message: "not approved" } },
  });
  const errors = [];
  const seen = [];
  agent.onCardEvent((e) => seen.push(e), { onError: (e) => errors.push(e) });
  await flush(8);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "SITE_NOT_TRUSTED");
  push(removed);
  await flush();
  assert.deepEqual(seen, []);
});

test("a subscription ended by the extension is reported to onError", async () => {
  const { win, agent, push } = setup();
  const errors = [];
  const seen = [];
  agent.onCardEvent((e) => seen.push(e), { onError: (e) => errors.push(e) });
  await flush(8);
  win.postMessage({
    "card-agent": "subscription-ended",
    error: { code: "INTERNAL", message: "host exited", agent: "unreachable" },
  });
  await flush();
  assert.equal(errors[0].details.agent, "unreachable");
  push(removed);
  await flush();
  assert.deepEqual(seen, []);
});

test("a throwing listener does not keep the others from their events", async () => {
  const reported = [];
  const { agent, push } = setup({}, { reportError: (error) => reported.push(error) });
  const seen = [];
  agent.onCardEvent(() => {
    throw new Error("listener bug");
  });
  agent.onCardEvent((e) => seen.push(e));
  await flush(8);
  push(removed);
  await flush();
  assert.deepEqual(seen, [removed]);
  assert.equal(reported[0]?.message, "listener bug", "the listener's error is still surfaced");
});

test("onCardEvent needs a function", () => {
  const { agent } = setup();
  assert.throws(() => agent.onCardEvent("nope"), TypeError);
});
