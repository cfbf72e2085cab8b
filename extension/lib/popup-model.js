// What the toolbar popup shows, computed from the agent's answers. Pure: `t(key, ...subs)`
// is chrome.i18n.getMessage in the popup and a stub in tests.

/** Certificates expiring within this many days are shown as a warning. */
export const WARN_DAYS = 30;

const FAMILIES = new Set(["MOICA", "MOEACA", "GCA", "XCA", "HCA"]);

/** The localised name of a card family (`MOICA` -> 自然人憑證). */
export function familyName(family, t) {
  return t(`family_${FAMILIES.has(family) ? family : "unknown"}`);
}

/** The localised text for a protocol error, falling back to the agent's own message. */
export function errorText(error, t) {
  if (error?.agent === "unreachable") return t("agentUnreachable");
  const known = typeof error?.code === "string" ? t(`error_${error.code}`) : "";
  return known || error?.message || t("error_INTERNAL");
}

/**
 * The expiry line of a certificate or card: `{text, level}` with level "ok", "warn" (under
 * WARN_DAYS days left) or "expired".
 */
export function expiry(daysLeft, t) {
  if (!Number.isFinite(daysLeft)) return { text: "", level: "ok" };
  if (daysLeft < 0) return { text: t("expired"), level: "expired" };
  if (daysLeft < WARN_DAYS) return { text: t("daysLeftWarn", String(daysLeft)), level: "warn" };
  return { text: t("daysLeft", String(daysLeft)), level: "ok" };
}

/**
 * The popup's content from `version` and `status` answers (each `{result}` or `{error}`;
 * `status` may be absent when `version` already failed).
 */
export function buildView({ version, status }, t) {
  if (!version || "error" in version) {
    const unreachable = version?.error?.agent === "unreachable";
    return {
      agent: {
        level: "error",
        text: unreachable ? t("agentUnreachable") : t("agentError", errorText(version?.error, t)),
      },
      readers: null,
      cards: null,
    };
  }
  const v = version.result ?? {};
  const agent = { level: "ok", text: t("agentReachable", String(v.version ?? "?"), String(v.protocol ?? "?")) };
  if (!status || "error" in status) {
    return { agent: { level: "error", text: t("agentError", errorText(status?.error, t)) }, readers: null, cards: null };
  }
  const inventory = status.result ?? {};
  const readers = (inventory.readers ?? []).map((r) => ({
    name: r.name,
    text: r.cardPresent ? t("readerWithCard", familyName(r.cardFamily, t)) : t("readerEmpty"),
  }));
  const cards = (inventory.tokens ?? [])
    .filter((token) => (token.certificates ?? []).length > 0)
    .map((token) => cardView(token, t));
  return { agent, readers, cards };
}

// One card: its holder and the soonest expiry among its certificates (a MOICA card holds a
// signing and an encryption certificate; the first to expire is the one to act on).
function cardView(token, t) {
  const certs = token.certificates;
  const soonest = certs.reduce((a, b) => ((b.daysToExpiry ?? Infinity) < (a.daysToExpiry ?? Infinity) ? b : a));
  const holder = certs.find((c) => c.subjectCn)?.subjectCn ?? soonest.subject ?? "";
  return {
    label: token.label ?? token.serial ?? "",
    family: familyName(soonest.cardFamily, t),
    holder,
    expires: typeof soonest.notAfter === "string" ? soonest.notAfter.slice(0, 10) : "",
    expiry: expiry(soonest.daysToExpiry, t),
    demo: token.demo === true,
  };
}
