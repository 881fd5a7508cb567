/**
 * AttacheError → Kubernetes `Status` object: errors made by attache on a kubernetes route look like the
 * API server's own, so kubectl prints "Error from server (Reason): message" and client libraries parse them.
 * Errors relayed from the API server never come through here: they pass through unchanged.
 */
import type { AttacheError, ErrorCode } from "../../errors.js";

/** metav1.StatusReason for each of attache's codes (the Kubernetes constant, where one fits the status). */
const REASONS: Record<ErrorCode, string> = {
  no_route: "NotFound",
  host_not_allowed: "Forbidden",
  method_not_allowed: "MethodNotAllowed",
  path_denied: "Forbidden",
  command_not_allowed: "Forbidden",
  body_too_large: "RequestEntityTooLarge",
  bad_request: "BadRequest",
  request_timeout: "Timeout",
  headers_too_large: "BadRequest",
  origin_not_allowed: "Forbidden",
  // Kubernetes has no 502 reason; ServiceUnavailable says what the client needs to know: try later.
  upstream_unreachable: "ServiceUnavailable",
  circuit_open: "ServiceUnavailable",
  overloaded: "ServiceUnavailable",
  // StatusReasonTimeout is Kubernetes' reason for a 504.
  upstream_timeout: "Timeout",
};

export interface KubernetesStatus {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure";
  message: string;
  reason: string;
  details?: { retryAfterSeconds?: number; causes?: Array<{ reason: string; message: string }> };
  code: number;
}

export function toStatus(err: AttacheError, message = err.message): KubernetesStatus {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: REASONS[err.code] ?? "InternalError",
    ...(err.retryAfter !== undefined ? { details: { retryAfterSeconds: err.retryAfter } } : {}),
    code: err.status,
  };
}

export function renderStatus(err: AttacheError, message?: string): { contentType: string; body: string } {
  return { contentType: "application/json", body: JSON.stringify(toStatus(err, message)) };
}
