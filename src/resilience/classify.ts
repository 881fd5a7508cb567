/**
 * The one classifier of outcomes. Retry, breaker and outlier detection all ask it what happened,
 * so "what counts as a failure" is decided here and nowhere else.
 */

export type FailureKind = "connect-failure" | "reset" | "timeout";
/** What an attempt came to: success, a network failure kind, or the upstream's HTTP status. */
export type Outcome = "success" | FailureKind | number;

const CONNECT_FAILURES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ECONNECT_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT", "ENOENDPOINT", "CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "ERR_TLS_CERT_ALTNAME_INVALID", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"]);
const RESETS = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE", "UND_ERR_SOCKET"]);
const TIMEOUTS = new Set(["ETIMEDOUT", "EDEADLINE"]);

/** Network error → failure kind; undefined for errors that say nothing about the upstream's health. */
export function classifyError(err: unknown): FailureKind | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return undefined;
  if (CONNECT_FAILURES.has(code)) return "connect-failure";
  if (RESETS.has(code)) return "reset";
  if (TIMEOUTS.has(code)) return "timeout";
  return undefined;
}

/** Upstream status → outcome: 5xx is a failure, everything else (4xx included) is the app's business. */
export function classifyStatus(status: number): Outcome {
  return status >= 500 ? status : "success";
}

/** Counts against the breaker and the endpoint's health. 429 is back-pressure, not sickness. */
export function isFailure(outcome: Outcome): boolean {
  return outcome !== "success" && (typeof outcome !== "number" || outcome >= 500);
}

/** Does a retry policy's `on` list cover this outcome? */
export function retryCovers(on: readonly (string | number)[], outcome: Outcome): boolean {
  if (outcome === "success") return false;
  if (typeof outcome === "number") return on.includes(outcome) || (outcome >= 500 && on.includes("5xx"));
  return on.includes(outcome);
}
