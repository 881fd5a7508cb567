/** When one try goes again before the resilience stack sees it: a stale pooled socket (to another endpoint if there is one), or rotated credentials. */
import type { OutgoingHttpHeaders } from "node:http";
import type { DeadlineSignal } from "../../resilience/deadline.js";
import type { RequestContext } from "../upstream.js";
import { IDEMPOTENT } from "./replay-body.js";
import type { UpstreamCall } from "./upstream-call.js";

/** How a pooled connection that the upstream had closed fails when it is reused. */
const STALE_SOCKET = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

/**
 * The keep-alive race: a pooled connection the upstream closed while idle fails on reuse. undici
 * does not say whether the connection was reused, so any reset before the head counts. Nothing
 * came back, so an idempotent request goes again once, even on routes without `retry` (to another
 * endpoint when the balancer has one: the first may be going away).
 * Not a POST: the upstream may have acted on it before closing.
 */
export function isStaleSocket(err: unknown, call: UpstreamCall, ctx: RequestContext, signal: DeadlineSignal, replayable: boolean): boolean {
  return (
    call.statusCode === 0 &&
    STALE_SOCKET.has((err as NodeJS.ErrnoException).code!) &&
    replayable &&
    IDEMPOTENT.has(ctx.req.method!) &&
    !signal.aborted &&
    !ctx.res.destroyed
  );
}

/**
 * After a 401 the credentials may have rotated under us. Re-read them once; true if they differ from
 * what the request carried (a file watcher may have re-read them meanwhile), so that it may go again
 * with the new ones and the client never sees the 401.
 */
export function credentialsRotated(
  refreshCredentials: () => boolean,
  authorize: ((headers: OutgoingHttpHeaders) => void) | undefined,
  sent: OutgoingHttpHeaders,
): boolean {
  const changed = refreshCredentials();
  const current: OutgoingHttpHeaders = {};
  authorize?.(current);
  return changed || current.authorization !== sent.authorization;
}
