// The login page: a challenge from the server, a token from the card, the server checks it.
import { authenticate, isAvailable, CardAgentError } from "/js/card-agent.js";
import {
  describeError, describeServerError, serverError, showExtensionStatus, showMessage,
} from "/assets/messages.js";

const button = document.getElementById("login");
const message = document.getElementById("message");
const status = document.getElementById("extension-status");

async function logIn() {
  button.disabled = true;
  showMessage(message, {
    state: "busy",
    zh: "請在 card-agent 視窗確認並輸入 PIN 碼…",
    en: "Confirm and enter your PIN in the card-agent window…",
  });
  try {
    // 1. A fresh single-use nonce, kept by the server for this session.
    const challenge = await fetch("/login/challenge", { credentials: "same-origin" });
    if (!challenge.ok) throw await serverError(challenge);
    const { challengeNonce } = await challenge.json();
    // 2. The card signs SHA-256(origin) || SHA-256(nonce); the browser supplies the origin.
    const token = await authenticate({ challengeNonce });
    // 3. The server verifies the token against the nonce it issued and its own origin.
    const response = await fetch("/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(token),
    });
    if (!response.ok) throw await serverError(response);
    showMessage(message, { state: "ok", zh: "登入成功。", en: "Logged in." });
    location.assign("/");
  } catch (error) {
    if (error instanceof CardAgentError && error.code === "USER_CANCELLED") {
      showMessage(message, { state: "info", code: error.code, zh: "已取消登入。", en: "Login cancelled." });
    } else if (error instanceof CardAgentError) {
      showMessage(message, { state: "error", ...describeError(error) });
    } else if (error.fromServer) {
      showMessage(message, { state: "error", ...describeServerError(error) });
    } else {
      showMessage(message, { state: "error", code: "NETWORK", zh: "無法連線到伺服器。", en: String(error.message ?? error) });
    }
    button.disabled = false;
  }
}

if (button) {
  button.addEventListener("click", logIn);
  isAvailable().then((available) => {
    showExtensionStatus(status, available);
    // Enabled either way: without the extension, a click says what to install.
    button.disabled = false;
  });
}
