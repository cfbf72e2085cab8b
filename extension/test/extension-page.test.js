// The port the extension's own self-test page uses: its commands, and no PIN from it either.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkRequest } from "../lib/router.js";
import { EXTENSION_PAGE_COMMANDS, timeoutFor } from "../lib/protocol.js";

test("the self-test's commands pass, page-only commands and PINs do not", () => {
  for (const command of ["status", "environment-check", "self-test-sign", "subscribe"]) {
    assert.equal(checkRequest({ type: "request", id: 1, command, arguments: {} }, EXTENSION_PAGE_COMMANDS), null, command);
  }
  for (const command of ["sign", "authenticate", "verify-pin", "legacy-request"]) {
    assert.equal(checkRequest({ type: "request", id: 1, command, arguments: {} }, EXTENSION_PAGE_COMMANDS).field, "command", command);
  }
  const withPin = checkRequest({ type: "request", id: 1, command: "self-test-sign", arguments: { pin: "123456" } }, EXTENSION_PAGE_COMMANDS);
  assert.equal(withPin.field, "arguments.pin");
});

test("the self-test's sign waits for a person, the check for the card", () => {
  assert.equal(timeoutFor("self-test-sign"), timeoutFor("sign"));
  assert.equal(timeoutFor("environment-check"), timeoutFor("status"));
});
