// Base64 as the card-agent protocol accepts it (protocol/src/encoding.rs): the standard or
// the URL-safe alphabet, padded exactly or not at all, no whitespace, no stray trailing bits.
// Node's own decoder skips what it does not understand, so it cannot be used on tokens.

const STANDARD = /^[A-Za-z0-9+/]*$/;
const URL_SAFE = /^[A-Za-z0-9_-]*$/;

/** The bytes of `text`, or `null` when it is not base64 as the protocol spells it. */
export function decodeBase64(text: string): Uint8Array | null {
  const urlSafe = /[-_]/.test(text);
  const padded = text.endsWith("=");
  let body = text;
  if (padded) {
    if (text.length % 4 !== 0) return null;
    body = text.replace(/={1,2}$/, "");
  }
  if (!(urlSafe ? URL_SAFE : STANDARD).test(body)) return null;
  const rest = body.length % 4;
  if (rest === 1) return null;
  // Padding, when present, must be exactly what the length calls for ("AQ=" is refused).
  if (padded && rest === 0) return null;
  const bytes = Buffer.from(body, urlSafe ? "base64url" : "base64");
  // Canonical only: re-encoding must give the same characters (no non-zero trailing bits).
  const again = bytes.toString(urlSafe ? "base64url" : "base64").replace(/=+$/, "");
  if (again !== body) return null;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Standard, padded base64. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
