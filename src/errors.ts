/** The one table of errors attache itself makes (docs/routes.md lists them): stable code → HTTP status. */

export const ERRORS = {
  no_route: { status: 404 },
  host_not_allowed: { status: 403 },
  method_not_allowed: { status: 405 },
  path_denied: { status: 403 },
  command_not_allowed: { status: 403 },
  body_too_large: { status: 413 },
  bad_request: { status: 400 },
  /** The request head did not arrive whole within limits.headersTimeout. */
  request_timeout: { status: 408 },
  /** The request head is larger than Node's 16 KiB. */
  headers_too_large: { status: 431 },
  /** A state-changing admin request sent by a web page (Origin, Sec-Fetch-Site). */
  origin_not_allowed: { status: 403 },
  upstream_unreachable: { status: 502 },
  circuit_open: { status: 503 },
  overloaded: { status: 503 },
  upstream_timeout: { status: 504 },
} as const satisfies Record<string, { status: number }>;

export type ErrorCode = keyof typeof ERRORS;

export interface AttacheErrorOptions {
  route?: string | undefined;
  cause?: unknown;
  /** Seconds, sent as Retry-After (circuit_open). */
  retryAfter?: number | undefined;
}

export class AttacheError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly route: string | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: AttacheErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "AttacheError";
    this.code = code;
    this.status = ERRORS[code].status;
    this.route = options.route;
    this.retryAfter = options.retryAfter;
  }
}

/**
 * Any error → AttacheError, keeping the original as `cause`. Network errors become
 * upstream_unreachable, deadlines upstream_timeout; the breaker and bulkhead already throw ours.
 * Used by every renderer (HTTP JSON, Kubernetes Status, RESP -ERR) so the mapping exists once.
 */
export function toAttacheError(err: unknown, route?: string): AttacheError {
  if (err instanceof AttacheError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const where = route ? `route ${route}: ` : "";
  if (code === "EDEADLINE" || code === "ETIMEDOUT")
    return new AttacheError("upstream_timeout", `${where}upstream did not answer in time`, { route, cause: err });
  // Only the stable code goes to the client: a foreign message may name files, hosts or internals.
  const detail = typeof code === "string" ? code : "internal error";
  return new AttacheError("upstream_unreachable", `${where}upstream unreachable (${detail})`, { route, cause: err });
}
