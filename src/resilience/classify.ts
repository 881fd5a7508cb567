/**
 * The one classifier of outcomes. Retry, breaker and outlier detection all ask it what happened,
 * so "what counts as a failure" is decided here and nowhere else.
 */

export type FailureKind = "connect-failure" | "reset" | "timeout";

/**
 * An error status the upstream answered on purpose about this one request (the Kubernetes API server's
 * `Status` body: an aggregated API that is down, a webhook that failed). Retry may cover its status;
 * it says nothing about the upstream's health, so the breaker and outlier detection never count it.
 */
export interface Verdict {
  readonly verdict: number;
}

/** What an attempt came to: success, a network failure kind, the upstream's error status, or its verdict. */
export type Outcome = "success" | FailureKind | number | Verdict;

const CONNECT_FAILURES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "ECONNECT_TIMEOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "ENOENDPOINT",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
]);
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

/** One frozen Verdict per status: classifying costs no allocation. */
const VERDICTS = new Map<number, Verdict>();

/**
 * Upstream status → outcome: 2xx and 3xx are success; any other status is itself, so that `retry.on`
 * can name it (429 included). `verdict`: the upstream said why, about this request (see Verdict).
 */
export function classifyStatus(status: number, verdict = false): Outcome {
  if (status < 400) return "success";
  if (!verdict) return status;
  let v = VERDICTS.get(status);
  if (!v) {
    v = Object.freeze({ verdict: status });
    VERDICTS.set(status, v);
  }
  return v;
}

/**
 * Counts against the breaker and the endpoint's health: network failures and 5xx answers. Not 4xx
 * (the app's business; 429 is back-pressure, not sickness) and not a verdict.
 */
export function isFailure(outcome: Outcome): boolean {
  if (typeof outcome === "number") return outcome >= 500;
  return typeof outcome === "string" && outcome !== "success";
}

/** Does a retry policy's `on` list cover this outcome? Any status may be named; `5xx` covers them all. */
export function retryCovers(on: readonly (string | number)[], outcome: Outcome): boolean {
  if (outcome === "success") return false;
  const status = typeof outcome === "object" ? outcome.verdict : outcome;
  if (typeof status === "number") return on.includes(status) || (status >= 500 && on.includes("5xx"));
  return on.includes(status);
}
