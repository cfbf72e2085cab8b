// Compiled only (tsc --noEmit, npm run typecheck): the declarations used as a site written in
// TypeScript uses them. A wrong declaration fails here or in the check of card-agent.js.
import {
  authenticate, CardAgentError, createCardAgent, ERROR_CODES, fromBase64, getCertificates,
  onCardEvent, sign, toBase64, type AuthToken, type ErrorCode, type SignResult,
} from "card-agent-page";

export async function login(challengeNonce: string): Promise<string> {
  const controller = new AbortController();
  const token: AuthToken = await authenticate({ challengeNonce, signal: controller.signal });
  const der: Uint8Array = token.unverifiedCertificateBytes;
  const signature: Uint8Array = token.signatureBytes;
  void der;
  void signature;
  // The wire token, as posted to the server.
  return JSON.stringify(token);
}

export async function signForm(form: string): Promise<Uint8Array> {
  const [certificate] = await getCertificates();
  const der: Uint8Array = certificate.derBase64Bytes;
  void der;
  const result: SignResult = await sign({
    certificate: certificate.sha256,
    data: form,
    format: "cms",
    signal: AbortSignal.timeout(60_000),
  });
  // @ts-expect-error: format is required
  await sign({ certificate: certificate.sha256, data: form });
  return result.signatureBytes;
}

export function explain(error: unknown): string {
  if (!(error instanceof CardAgentError)) return "unexpected";
  const code: ErrorCode = error.code;
  switch (code) {
    case "CERT_EXPIRED":
    case "CERT_NOT_YET_VALID":
      return "certificate";
    case "PIN_INCORRECT":
      return `tries left: ${error.retriesLeft ?? "?"}`;
    default:
      return error.details.agent ?? code;
  }
}

export const codes: readonly ErrorCode[] = ERROR_CODES;
export const roundTrip: string = toBase64(fromBase64("AAEC"));
export const stop: () => Promise<void> = onCardEvent((event) => {
  if (event.type === "card-inserted") console.log(event.cardFamily);
});
export const custom = createCardAgent({ presenceTimeout: 500 });
// @ts-expect-error: an unknown error code does not type-check
export const wrong: ErrorCode = "NO_SUCH_CODE";
