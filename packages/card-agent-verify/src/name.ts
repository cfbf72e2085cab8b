// Distinguished names as text and attribute look-up, as protocol/src/verifier/name.rs shows
// them: RDNs in certificate order joined by ", ", multi-valued RDNs by "+", short names for
// the attributes of Taiwan's government certificates, `,+=\` escaped with `\`.

import { AsnConvert } from "@peculiar/asn1-schema";
import type { Name } from "@peculiar/asn1-x509";

/** commonName. */
export const CN = "2.5.4.3";
/** serialNumber. */
export const SERIAL_NUMBER = "2.5.4.5";
/** organizationalUnitName. */
export const OU = "2.5.4.11";

const SHORT_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.42": "GN",
  "1.2.840.113549.1.9.1": "emailAddress",
  "0.9.2342.19200300.100.1.25": "DC",
};

/** The DER of a name, to compare names exactly. */
export function nameDer(name: Name): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(name));
}

/** Whether two names are the same (DER equality). */
export function sameName(a: Name, b: Name): boolean {
  return Buffer.from(nameDer(a)).equals(Buffer.from(nameDer(b)));
}

/** The name in certificate order, e.g. `C=TW, O=行政院, OU=內政部憑證管理中心`. */
export function display(name: Name): string {
  return name
    .map((rdn) =>
      rdn
        .map((atv) => `${SHORT_NAMES[atv.type] ?? atv.type}=${escape(valueText(atv.value))}`)
        .join("+"),
    )
    .join(", ");
}

/** Every value of the attribute `oid`, in certificate order. */
export function attributeValues(name: Name, oid: string): string[] {
  return name.flatMap((rdn) => rdn.filter((atv) => atv.type === oid).map((atv) => valueText(atv.value)));
}

/**
 * A directory string as text, from its DER: UTF8String, PrintableString, IA5String and
 * VisibleString as UTF-8 (invalid bytes replaced), TeletexString as Latin-1, BMPString as
 * UTF-16; anything else as `#` and its DER in hex, as RFC 4514 does.
 */
function valueText(value: unknown): string {
  const der = new Uint8Array(AsnConvert.serialize(value));
  const { tag, content } = tlv(der);
  switch (tag) {
    case 0x0c: // UTF8String
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
      return new TextDecoder("utf-8").decode(content);
    case 0x14: // TeletexString
      return String.fromCharCode(...content);
    case 0x1e: {
      // BMPString: big-endian UTF-16 (an odd last byte is padded with 0, as the Rust reader does).
      const units: number[] = [];
      for (let i = 0; i < content.length; i += 2) units.push((content[i] << 8) | (content[i + 1] ?? 0));
      return decodeUtf16(units);
    }
    default:
      return `#${Buffer.from(der).toString("hex")}`;
  }
}

/** UTF-16 code units as text, unpaired surrogates replaced (like Rust's from_utf16_lossy). */
function decodeUtf16(units: number[]): string {
  let out = "";
  for (let i = 0; i < units.length; i += 1) {
    const u = units[i];
    if (u >= 0xd800 && u < 0xdc00 && i + 1 < units.length && units[i + 1] >= 0xdc00 && units[i + 1] < 0xe000) {
      out += String.fromCharCode(u, units[i + 1]);
      i += 1;
    } else if (u >= 0xd800 && u < 0xe000) {
      out += "\ufffd";
    } else {
      out += String.fromCharCode(u);
    }
  }
  return out;
}

/** Tag and content of one DER TLV (single-byte tags; the lengths DER allows). */
function tlv(der: Uint8Array): { tag: number; content: Uint8Array } {
  const tag = der[0];
  let length = der[1];
  let offset = 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i += 1) length = length * 256 + der[2 + i];
    offset = 2 + count;
  }
  return { tag, content: der.subarray(offset, offset + length) };
}

function escape(value: string): string {
  let out = "";
  for (const c of value) {
    if (c === "," || c === "+" || c === "=" || c === "\\") out += `\\${c}`;
    // Rust's char::is_control: the C0 and C1 control characters.
    else if (/[\u0000-\u001f\u007f-\u009f]/.test(c)) out += "\ufffd";
    else out += c;
  }
  return out;
}
