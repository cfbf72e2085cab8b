// The signing page: the card signs the text (CMS, detached), the server verifies it with openssl.
import { getCertificates, isAvailable, sign, CardAgentError } from "/js/card-agent.js";
import {
  describeError, describeServerError, serverError, showExtensionStatus, showMessage,
} from "/assets/messages.js";

const button = document.getElementById("sign");
const documentText = document.getElementById("document");
const message = document.getElementById("message");
const status = document.getElementById("extension-status");
const result = document.getElementById("result");
const verdict = document.getElementById("verdict");
const signatureBox = document.getElementById("signature");

const FAMILY_NAMES = {
  MOICA: "自然人憑證", MOEACA: "工商憑證", GCA: "政府機關憑證", XCA: "組織及團體憑證", HCA: "醫事憑證",
};

/** The certificate to sign with: the only signing certificate with a key, or the one chosen. */
async function chooseCertificate() {
  const chosen = document.getElementById("certificate");
  if (chosen) return chosen.value;
  const candidates = (await getCertificates()).filter((c) => c.hasPrivateKey &&
    (c.keyUsage.includes("nonRepudiation") || c.keyUsage.includes("digitalSignature")));
  if (candidates.length === 0) {
    throw new CardAgentError("CERT_NOT_FOUND", "No signing certificate with a key on the card.");
  }
  if (candidates.length === 1) return candidates[0].sha256;
  // Several: never pick one at random; let the person choose, then sign on the next click.
  const label = document.createElement("label");
  label.htmlFor = "certificate";
  label.textContent = "簽章憑證 Certificate";
  const select = document.createElement("select");
  select.id = "certificate";
  for (const c of candidates) {
    const option = document.createElement("option");
    option.value = c.sha256;
    option.textContent = `${c.subjectCn ?? c.subject} · ${c.cardFamily} · ${c.notAfter.slice(0, 10)}`;
    select.append(option);
  }
  button.before(label, select);
  return null;
}

async function signDocument() {
  button.disabled = true;
  result.hidden = true;
  showMessage(message, {
    state: "busy",
    zh: "請在 card-agent 視窗輸入 PIN 碼…",
    en: "Enter your PIN in the card-agent window…",
  });
  try {
    const certificate = await chooseCertificate();
    if (!certificate) {
      showMessage(message, { state: "info", zh: "請選擇簽章憑證，再按一次簽章。", en: "Choose a certificate, then sign again." });
      return;
    }
    const data = documentText.value;
    const { signature } = await sign({ certificate, data, hashAlgorithm: "SHA-256", format: "cms" });
    signatureBox.value = signature;
    const response = await fetch("/sign/verify", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ data, signature }),
    });
    result.hidden = false;
    if (!response.ok) {
      result.dataset.state = "invalid";
      throw await serverError(response);
    }
    const { signer, sameAsLoggedIn } = await response.json();
    result.dataset.state = "valid";
    const family = FAMILY_NAMES[signer.cardFamily] ?? signer.cardFamily;
    verdict.textContent = `簽署人 Signer: ${signer.name}（${family} ${signer.cardFamily}）`;
    if (sameAsLoggedIn === true) {
      const same = document.createElement("span");
      same.className = "en";
      same.textContent = "與登入者為同一人 The signer is the logged-in holder.";
      verdict.append(same);
    }
    showMessage(message, {
      state: "ok",
      zh: "簽章有效：伺服器已用 openssl 驗證。",
      en: "Signature valid: the server verified it with openssl.",
    });
  } catch (error) {
    if (error instanceof CardAgentError) {
      showMessage(message, { state: "error", ...describeError(error) });
    } else if (error.fromServer) {
      showMessage(message, { state: "error", ...describeServerError(error) });
    } else {
      showMessage(message, { state: "error", code: "NETWORK", zh: "無法連線到伺服器。", en: String(error.message ?? error) });
    }
  } finally {
    button.disabled = false;
  }
}

if (button) {
  button.addEventListener("click", signDocument);
  isAvailable().then((available) => {
    showExtensionStatus(status, available);
    button.disabled = false;
  });
}
