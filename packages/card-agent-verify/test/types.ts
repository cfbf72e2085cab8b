// Compiled only (npm run typecheck): the declarations in dist/ used as a server written in
// TypeScript uses them, through the package's exports map.
import {
  PathError, TrustStore, verify, verifyCertificatePath, VerifyError,
  type AuthToken, type VerifiedIdentity, type VerifyErrorKind,
} from "card-agent-verify";

export function login(body: unknown, nonce: string, trust: TrustStore): VerifiedIdentity | VerifyErrorKind {
  try {
    return verify(body, { expectedOrigin: "https://example.gov.tw", nonce, trust });
  } catch (error) {
    if (error instanceof VerifyError) return error.kind;
    throw error;
  }
}

export function issuer(der: Uint8Array): string {
  try {
    return verifyCertificatePath(der, TrustStore.government()).rootSubject;
  } catch (error) {
    return error instanceof PathError ? error.kind : "unknown";
  }
}

export const token: AuthToken = {
  format: "card-agent-auth:1", unverifiedCertificate: "", algorithm: "ES256", signature: "", appVersion: "",
};
// @ts-expect-error: the nonce is required
verify(token, { expectedOrigin: "https://example.gov.tw", trust: new TrustStore() });
