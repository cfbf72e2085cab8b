// One parsed certificate with what the checks need from it: the TBS bytes the CA signed, the
// names, validity, extensions and key. Parsing is @peculiar/asn1-x509's (strict DER schema).

import { AsnConvert } from "@peculiar/asn1-schema";
import { BasicConstraints, Certificate, KeyUsage, id_ce_basicConstraints, id_ce_keyUsage } from "@peculiar/asn1-x509";

/** A certificate as the verifier sees it. */
export interface ParsedCertificate {
  der: Uint8Array;
  cert: Certificate;
  /** The TBSCertificate's DER: what the issuer signed. */
  tbs: Uint8Array;
  notBefore: number;
  notAfter: number;
}

/** Parses DER X.509; throws a string saying why it is not a certificate. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(der, Certificate);
  } catch (e) {
    throw `${(e as Error).message}`;
  }
  // Nothing may follow the certificate: one DER value is one certificate.
  const reencoded = new Uint8Array(AsnConvert.serialize(cert));
  if (reencoded.length !== der.length) throw "trailing or missing bytes after the certificate";
  const tbs = cert.tbsCertificateRaw
    ? new Uint8Array(cert.tbsCertificateRaw)
    : new Uint8Array(AsnConvert.serialize(cert.tbsCertificate));
  const validity = cert.tbsCertificate.validity;
  return {
    der,
    cert,
    tbs,
    notBefore: unixSeconds(validity.notBefore.getTime()),
    notAfter: unixSeconds(validity.notAfter.getTime()),
  };
}

function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** The extension with `oid`, decoded by `type`; `null` when absent. Throws (a string) if repeated or malformed. */
export function extension<T>(c: ParsedCertificate, oid: string, type: new () => T): T | null {
  const found = (c.cert.tbsCertificate.extensions ?? []).filter((e) => e.extnID === oid);
  if (found.length === 0) return null;
  if (found.length > 1) throw `extension ${oid} appears more than once`;
  try {
    return AsnConvert.parse(found[0].extnValue, type);
  } catch (e) {
    throw `extension ${oid} is malformed: ${(e as Error).message}`;
  }
}

/** The key usage names (`digitalSignature`, `keyCertSign`, ...), or `null` without the extension. */
export function keyUsage(c: ParsedCertificate): string[] | null {
  const usage = extension(c, id_ce_keyUsage, KeyUsage);
  return usage ? usage.toJSON() : null;
}

/** The basic constraints, or `null` without the extension. */
export function basicConstraints(c: ParsedCertificate): BasicConstraints | null {
  return extension(c, id_ce_basicConstraints, BasicConstraints);
}

/** The SubjectPublicKeyInfo's DER. */
export function spkiDer(c: ParsedCertificate): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(c.cert.tbsCertificate.subjectPublicKeyInfo));
}

/** The serial number, upper-case hex without leading zero bytes ("00" for zero). */
export function serialHex(c: ParsedCertificate): string {
  const bytes = new Uint8Array(c.cert.tbsCertificate.serialNumber);
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start += 1;
  const hex = Buffer.from(bytes.subarray(start)).toString("hex").toUpperCase();
  return hex === "" ? "00" : hex;
}
