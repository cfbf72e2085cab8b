// A login page as SmartPKI pages are written (the business portal's "憑證登入"), to the API
// SmartPKI's page library uses (see extension/README.md, "SmartPKI pages"): our own code, not
// SmartPKI's library (which is not published under a licence that lets us ship it), doing
// what that library does:
// - find the extension's version in the top frame's `zhaninfo.smartpki.version` (at least
//   "0.0.1.3", compared as strings), else tell the user to install SmartPKI;
// - open the top frame's `navigator.connectSmartPKI()`, wait for the unasked `info`, check its
//   `version` (at least "6.0.1.0"), reuse the port for the next action (sending `info` again);
// - run one step at a time, each answer's msgId must be the step's (else 20009), stop at the
//   first errorCode other than 0 and show its errorMessage;
// - a port that drops is 20002 after an info, 20003 before; a refused connect is 20004.
// The login sends the PIN with LoadCertificateByHca and Sign, then again in a second chain
// (LoadCertificateByHca, and ReadUserData for a company's attached card), as the sample does.
//
// The outcome is marked for tests: #message[data-state][data-code] (data-code is the step's
// errorCode, or the library's 2000x), #cert-type, #name, #verdict, #signed-data.

const REQUIRED_EXTENSION = "0.0.1.3";
const REQUIRED_MODULE = "6.0.1.0";
const DETACHED = 0x40;
const NOATTR = 0x100;
const DRIVER_SMART_CARD = 1;
const FORMAT_BASE64 = 64;
const COMPANY_TYPES = [2, 3, 6, 17];

const $ = (id) => document.getElementById(id);
const message = $("message");

function show(state, code, text) {
  message.dataset.state = state;
  message.dataset.code = String(code);
  message.textContent = text;
}

/** The top frame, as the library climbs to it (at most 10 parents). */
function topWindow() {
  let win = window;
  for (let i = 0; i < 10 && win !== win.parent; i += 1) win = win.parent;
  return win;
}

let port = null;
let everInfo = false;
/** The step waiting for its answer: {msgId, resolve, reject}, or the wait for info. */
let waiting = null;

class StepError extends Error {
  constructor(code, text, cmd) {
    super(text);
    this.code = code;
    this.cmd = cmd;
  }
}

function onPortMessage(msg) {
  const current = waiting;
  if (!current) return;
  if (msg.smartpkiRes === "info") {
    if (current.info) {
      waiting = null;
      everInfo = true;
      current.resolve(msg);
    }
    return;
  }
  if (current.info) return;
  waiting = null;
  if (msg.msgId !== current.msgId) {
    current.reject(new StepError("20009", "SmartPKI內部處理發生錯誤", msg.cmd));
  } else if (Number(msg.errorCode) !== 0) {
    current.reject(new StepError(String(msg.errorCode), msg.errorMessage, msg.cmd));
  } else {
    current.resolve(msg);
  }
}

function onPortDisconnect() {
  port = null;
  const current = waiting;
  waiting = null;
  const error = everInfo
    ? new StepError("20002", "SmartPKI連接意外中斷，請重新操作")
    : new StepError("20003", "無法連接SmartPKI，請確認SmartPKI元件安裝成功");
  if (current) current.reject(error);
  else show("error", error.code, error.message);
}

/** The port, opened (or reused) and past its info: resolves with the info message. */
async function ready() {
  const info = new Promise((resolve, reject) => {
    waiting = { info: true, resolve, reject };
  });
  if (port) {
    port.postMessage({ msgCmd: "info", smartpkiReq: "info" });
  } else {
    const nav = topWindow().navigator;
    if (typeof nav.connectSmartPKI !== "function") {
      throw new StepError("20001", "呼叫擴充套件失敗，可能原因為此網站不允許使用擴充套件");
    }
    try {
      port = await nav.connectSmartPKI();
    } catch (err) {
      waiting = null;
      throw new StepError("20004", `連接SmartPKI元件時發生錯誤: ${err}`);
    }
    port.addMessageListener(onPortMessage);
    port.addDisconnectListener(onPortDisconnect);
  }
  const msg = await info;
  if (!(msg.version >= REQUIRED_MODULE)) throw new StepError("version", "此頁面需要新版 SmartPKI 元件才能使用");
  return msg;
}

/** One step: posted on the port, resolved with its answer. */
function step(fields) {
  return new Promise((resolve, reject) => {
    if (!port) {
      reject(new StepError("20002", "SmartPKI連接意外中斷，請重新操作"));
      return;
    }
    const msg = { ...fields, smartpkiReq: "sign" };
    waiting = { info: false, msgId: null, resolve, reject };
    waiting.msgId = port.postMessage(msg);
  });
}

async function login() {
  $("login").disabled = true;
  $("record").hidden = true;
  show("busy", "", "簽章中… Signing…");
  const pin = $("pin").value;
  const content = $("content").value;
  try {
    await ready();
    const style = DETACHED | NOATTR;
    await step({ cmd: "Initial", soltIndex: -1, driverType: DRIVER_SMART_CARD, style });
    const cert = await step({ cmd: "LoadCertificateByHca", pin });
    await step({ cmd: "LoadContent", content });
    await step({ cmd: "Sign", pin, signTime: 0 });
    const output = await step({ cmd: "Output", format: FORMAT_BASE64 });
    const all = await step({ cmd: "GetAll" });
    // The sample's second chain: the certificate again with the PIN, and a company's
    // attached card's authorisation data.
    await ready();
    await step({ cmd: "Initial", soltIndex: -1, driverType: DRIVER_SMART_CARD, style });
    const again = await step({ cmd: "LoadCertificateByHca", pin });
    if (COMPANY_TYPES.includes(again.certType) && again.isMainCard === 2) {
      await step({ cmd: "ReadUserData", pin });
    }
    $("cert-type").textContent = String(cert.certType);
    $("name").textContent = all.name;
    $("owner-id").textContent = all.id;
    $("subject").textContent = all.subjectName.replace("serialNumber", "SERIALNUMBER");
    $("card-number").textContent = all.cardNumber;
    $("main-card").textContent = String(all.isMainCard);
    $("signed-data").value = output.returnValue;
    const verified = await fetch("/sign/verify", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ data: content, signature: output.returnValue }),
    });
    const answer = await verified.json();
    $("verdict").textContent = answer.ok ? `OK: ${answer.signer.name}` : `${answer.reason}: ${answer.message}`;
    $("record").hidden = false;
    show(answer.ok ? "ok" : "error", answer.ok ? "0" : answer.reason, answer.ok ? "登入成功 Logged in" : "驗證失敗");
  } catch (error) {
    if (error instanceof StepError) show("error", error.code, `${error.cmd ? `${error.cmd}: ` : ""}${error.message}`);
    else show("error", "page", String(error));
  } finally {
    $("login").disabled = false;
  }
}

const status = $("extension-status");
let version = "";
try {
  version = topWindow().zhaninfo.smartpki.version;
} catch {
  version = "";
}
if (version && version >= REQUIRED_EXTENSION) {
  status.dataset.state = "found";
  status.dataset.version = version;
  status.textContent = `SmartPKI ${version}`;
  $("login").disabled = false;
} else {
  status.dataset.state = "missing";
  status.textContent = "請確認是否要至Chrome應用程式商店取得「SmartPKI 多憑證安控模組擴充套件」";
}
$("login").addEventListener("click", login);
$("close").addEventListener("click", () => port?.disconnect());
window.addEventListener("beforeunload", () => port?.disconnect());
