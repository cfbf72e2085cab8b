// What to tell people when card-agent reports an error: zh-TW first, then English.
// Pages match on the error's stable `code` (protocol/README.md), never on its message.

const TEXTS = {
  NO_READER: ["找不到讀卡機，請接上讀卡機。", "No card reader found: plug in your reader."],
  NO_CARD: ["請將憑證卡插入讀卡機。", "Insert your card in the reader."],
  UNKNOWN_CARD: ["無法辨識讀卡機中的卡片。", "The card in the reader is not one card-agent can use."],
  NO_MODULE: ["找不到憑證卡的驅動程式（PKCS#11 模組），請安裝讀卡機與卡片的驅動程式。", "No card driver (PKCS#11 module) could be loaded: install the card's driver."],
  NO_TOKEN: ["找不到指定的憑證卡。", "The requested card is not present."],
  CERT_NOT_FOUND: ["卡片上沒有可用的憑證。", "No usable certificate on the card."],
  KEY_NOT_FOUND: ["卡片上沒有這張憑證的私鑰。", "The card holds the certificate but not its key."],
  PIN_LOCKED: ["PIN 碼已鎖住，請攜卡至戶政事務所或受理窗口解鎖。", "The PIN is locked: the card must be unlocked at a registration office."],
  PIN_FORMAT: ["PIN 碼格式不正確（6 至 8 位數字），未送至卡片，不影響可嘗試次數。", "The PIN must be 6 to 8 digits; it was not sent to the card and no try was used."],
  PIN_REQUIRED: ["無法取得 PIN 碼：card-agent 無法顯示輸入視窗。", "No PIN could be obtained: card-agent cannot show its PIN window."],
  USER_CANCELLED: ["已取消。", "Cancelled."],
  BAD_REQUEST: ["網頁送出的要求有誤。", "The page sent a malformed request."],
  UNSUPPORTED_ALGORITHM: ["卡片不支援這個演算法。", "The card's key cannot do this algorithm."],
  TIMEOUT: ["等候逾時，請再試一次。", "No answer in time; please try again."],
  CARD_REMOVED: ["憑證卡在作業中被移除，請重新插入後再試一次。", "The card was removed during the operation: insert it and try again."],
  IO_ERROR: ["讀寫檔案失敗，請再試一次。", "A file could not be read or written; please try again."],
};

/** `{code, zh, en}` for any error thrown while using the card. */
export function describeError(error) {
  const code = typeof error?.code === "string" ? error.code : "ERROR";
  const details = error?.details ?? {};
  if (code === "PIN_INCORRECT") {
    const left = Number.isInteger(error.retriesLeft) ? error.retriesLeft : null;
    return left === null
      ? { code, zh: "PIN 碼錯誤。", en: "Wrong PIN." }
      : { code, zh: `PIN 碼錯誤，還可以再試 ${left} 次。`, en: `Wrong PIN: ${left} ${left === 1 ? "try" : "tries"} left.` };
  }
  if (code === "SITE_NOT_TRUSTED") {
    return details.reason === "insecure-context"
      ? { code, zh: "本網頁不是安全連線（https），無法使用憑證卡。", en: "This page is not a secure (https) page, so it cannot use your card." }
      : { code, zh: "您尚未允許本網站使用憑證卡。請在 card-agent 的詢問視窗中選擇「允許」。", en: "You have not allowed this site to use your card. Choose “Allow” when card-agent asks." };
  }
  if (code === "INTERNAL") {
    switch (details.agent) {
      case "extension-missing":
        return { code, zh: "請安裝並啟用 card-agent 瀏覽器擴充功能。", en: "Install and enable the card-agent browser extension." };
      case "extension-disconnected":
        return { code, zh: "card-agent 擴充功能已更新或重新載入，請重新整理本頁。", en: "The card-agent extension was updated or reloaded: reload this page." };
      case "unreachable":
        return { code, zh: "請安裝或啟動 card-agent 程式。", en: "Install or start the card-agent program." };
      default:
        return { code, zh: "card-agent 發生錯誤。", en: `card-agent failed: ${error.message}` };
    }
  }
  const text = TEXTS[code];
  if (text) return { code, zh: text[0], en: text[1] };
  return { code, zh: "發生錯誤。", en: String(error?.message ?? error) };
}

/** Shows a message: `state` is "busy", "info", "ok" or "error"; `code` is kept for scripts and tests. */
export function showMessage(element, { state, code = "", zh, en }) {
  element.dataset.state = state;
  element.dataset.code = code;
  element.replaceChildren();
  const main = document.createElement("span");
  main.textContent = zh;
  element.append(main);
  if (en) {
    const english = document.createElement("span");
    english.className = "en";
    english.lang = "en";
    english.textContent = en;
    element.append(english);
  }
  if (code && state === "error") {
    const tag = document.createElement("span");
    tag.className = "code";
    tag.textContent = `錯誤代碼 Error code: ${code}`;
    element.append(tag);
  }
}

/** Says whether the extension answered on this page. */
export function showExtensionStatus(element, available) {
  element.dataset.state = available ? "found" : "missing";
  element.textContent = available
    ? "已偵測到 card-agent 擴充功能。 Extension found."
    : "未偵測到 card-agent 擴充功能，請先安裝。 The card-agent extension was not found: install it first.";
}

/** An error from this site's server: `{reason, message}` in the body. */
export async function serverError(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // Not JSON: a proxy or a crash; the status says enough.
  }
  const error = new Error(body.message ?? `HTTP ${response.status}`);
  error.code = body.reason ?? `HTTP_${response.status}`;
  error.fromServer = true;
  return error;
}

/** The message for an error the server returned. */
export function describeServerError(error) {
  const [zh, en] = (error.message ?? "").split(" / ");
  return { code: error.code, zh: zh || "伺服器拒絕了這個要求。", en: en ?? "" };
}
