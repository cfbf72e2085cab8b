// Where a request comes from. The origin sent to the agent is always the one the browser
// reports for the sender, never a value from the page: the agent binds authentication tokens
// to it (SHA-256(origin) || SHA-256(challengeNonce)), so a page that could choose it could
// obtain tokens valid for another site.

import { errorBody } from "./protocol.js";

/** Hosts on which plain http is accepted, for developers testing on their own machine. */
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** The protocol's bound on `origin`: at most 512 printable ASCII characters. */
const ORIGIN_PATTERN = /^[\x21-\x7e]{1,512}$/;

/**
 * The origin of a `runtime.MessageSender`: `sender.origin` when the browser gives it
 * (Chrome 80+), else the origin of `sender.url` (browsers without `sender.origin`).
 * Returns null when there is no real origin: an opaque one (a sandboxed document, reported
 * as "null") is not replaced by its URL's origin, because it is not that origin.
 */
export function senderOrigin(sender) {
  if (typeof sender?.origin === "string") {
    return sender.origin === "null" || sender.origin === "" ? null : sender.origin;
  }
  if (typeof sender?.url === "string") {
    try {
      const origin = new URL(sender.url).origin;
      if (origin !== "null") return origin;
    } catch {
      // Not a URL: fall through to "unknown".
    }
  }
  return null;
}

/**
 * Null when a page at `origin` may use the agent, else the error to answer with.
 *
 * Only secure contexts may: https, or http on a loopback host (localhost, 127.0.0.1,
 * [::1]) where no network attacker sits between the browser and the page. Anything else is
 * refused with `SITE_NOT_TRUSTED`, the protocol's code for "this site may not use the card";
 * the protocol has no separate code for insecure contexts, and `reason: "insecure-context"`
 * tells the two cases apart.
 */
export function siteOriginError(origin) {
  if (typeof origin !== "string" || !ORIGIN_PATTERN.test(origin)) {
    return errorBody("SITE_NOT_TRUSTED", "The page's origin could not be determined.", {
      reason: "unknown-origin",
    });
  }
  let url;
  try {
    url = new URL(origin);
  } catch {
    return errorBody("SITE_NOT_TRUSTED", "The page's origin could not be determined.", {
      reason: "unknown-origin",
    });
  }
  if (url.protocol === "https:") return null;
  if (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname)) return null;
  return errorBody(
    "SITE_NOT_TRUSTED",
    `card-agent works only on https:// pages (and http://localhost, http://127.0.0.1 or ` +
      `http://[::1] for development); this page is ${origin}.`,
    { reason: "insecure-context" },
  );
}

/**
 * Classifies the sender of a port or one-off message.
 *
 * Returns `{accept: false}` for senders that are not ours or not where our content script
 * runs (another extension, a sub-frame), `{accept: true, kind: "page", origin, error}` for
 * our content script in a tab's top frame (with `error` set when the page's origin may not
 * use the agent), and `{accept: true, kind: "extension", origin}` for our own extension pages
 * (the popup, also when opened in a tab), whose origin is the extension's own.
 */
export function classifySender(sender, { extensionId, extensionOrigin }) {
  if (!sender || sender.id !== extensionId) return { accept: false };
  const url = typeof sender.url === "string" ? sender.url : "";
  // Our own pages (the popup, or the same page opened in a tab). The browser sets
  // sender.url, content scripts never run in extension pages, and no extension page is
  // web-accessible, so no web page can appear here.
  if (url.startsWith(`${extensionOrigin}/`)) {
    return { accept: true, kind: "extension", origin: extensionOrigin, error: null };
  }
  if (!sender.tab) return { accept: false };
  // The content script is declared with all_frames: false. A sub-frame sender means
  // something else is talking; refuse it rather than lend it the tab's origin.
  if (sender.frameId !== undefined && sender.frameId !== 0) return { accept: false };
  const origin = senderOrigin(sender);
  return { accept: true, kind: "page", origin, error: siteOriginError(origin) };
}
