/** The only code that writes an error response: anything thrown → AttacheError → JSON (or the kind's own body). */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { STATUS_CODES } from "node:http";
import { toAttacheError, type AttacheError, type ErrorCode } from "../errors.js";
import { log } from "../observability/log.js";
import { metrics } from "../observability/metrics.js";

/** The upstream that was to answer, as far as errors go: its kind may render them itself (kubernetes: a Status object). */
export interface ErrorRenderer {
  readonly kind: string;
  renderError?(err: AttacheError): { contentType: string; body: string };
}

interface ErrorScope {
  route?: string | undefined;
  upstream?: ErrorRenderer | undefined;
  requestId?: string | undefined;
  /** The 405's Allow header. */
  allow?: string | undefined;
}

/** Answers (or cuts) the response; returns the error code for the access log and metrics, if one was decided. */
export function respondError(res: ServerResponse, err: unknown, scope: ErrorScope = {}): ErrorCode | undefined {
  // The client went away: nobody to answer, and nothing to count against the upstream.
  if (res.destroyed && !res.headersSent) return undefined;
  const error = translate(err, scope);
  if (res.headersSent) {
    // The response is under way: the only honest signal left is to cut it.
    res.destroy(error);
    return error.code;
  }
  const { contentType, body } = render(error, scope.upstream);
  const headers: Record<string, string | number> = {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    "x-attache-error": error.code,
    "cache-control": "no-store",
  };
  if (scope.requestId) headers["x-request-id"] = scope.requestId;
  if (error.retryAfter !== undefined) headers["retry-after"] = error.retryAfter;
  if (error.code === "method_not_allowed" && scope.allow) headers.allow = scope.allow;
  res.writeHead(error.status, headers);
  res.end(body);
  boundUnreadBody(res.req);
  return error.code;
}

/** After an answer, how long the rest of a request body may keep coming (Node reads and drops it to reuse the connection). */
const UNREAD_BODY_GRACE_MS = 1000;

/** A body refused or cut short must not hold the connection: one that has not ended within the grace is cut. */
function boundUnreadBody(req: IncomingMessage | undefined): void {
  if (!req || req.complete) return;
  const cut = setTimeout(() => req.socket?.destroy(), UNREAD_BODY_GRACE_MS);
  req.once("close", () => clearTimeout(cut));
}

/** Same answer on a raw socket, for refused upgrade requests. */
export function respondErrorOnSocket(socket: Duplex, err: unknown, scope: ErrorScope = {}): void {
  const error = translate(err, scope);
  const { contentType, body } = render(error, scope.upstream);
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\ncontent-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-attache-error: ${error.code}\r\n${scope.requestId ? `x-request-id: ${scope.requestId}\r\n` : ""}connection: close\r\n\r\n${body}`,
    );
  } else socket.destroy();
}

function translate(err: unknown, scope: ErrorScope): AttacheError {
  const error = toAttacheError(err, scope.route);
  if (error !== err) {
    // A foreign error (network, TLS, a bug): the client gets the nearest code of src/errors.ts, the log gets the detail.
    log.warn({ err, route: scope.route, requestId: scope.requestId, code: error.code }, "upstream error");
  }
  if (scope.route && error.status >= 500) metrics.upstreamErrors.inc({ route: scope.route, reason: error.code });
  return error;
}

function render(error: AttacheError, upstream: ErrorRenderer | undefined): { contentType: string; body: string } {
  if (upstream?.renderError) return upstream.renderError(error);
  const body = JSON.stringify({ error: { code: error.code, message: error.message, ...(error.route ? { route: error.route } : {}) } });
  return { contentType: "application/json", body };
}
