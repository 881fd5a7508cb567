/** The last step: hand the request (or the upgrade) to the route's upstream, whose resilience stack is policy-stack.ts. */
import { AttacheError } from "../errors.js";
import type { RequestContext } from "../upstreams/upstream.js";
import type { PendingRequest } from "./pending-request.js";
import { respondError, respondErrorOnSocket } from "../http/respond-error.js";

/** Counted in attache_inflight_requests from here until the response closes; what the upstream throws later is rendered here. */
export function forward(request: PendingRequest): void {
  const route = request.route!;
  request.lease.add(route.meter.inflight);
  route.upstream.handle(request as RequestContext & PendingRequest).catch((err: unknown) => {
    request.error = respondError(request.res, err, { route: route.name, requestId: request.requestId, upstream: route.upstream });
  });
}

/** An upgrade request to an upstream that takes them (kubernetes exec/attach/port-forward, WebSocket over http). */
export function forwardUpgrade(request: PendingRequest): void {
  const route = request.route!;
  const { socket, head } = request.upgrade!;
  if (!route.upstream.upgrade)
    throw new AttacheError("bad_request", `route ${route.name}: this route does not take upgrade requests`, { route: route.name });
  route.upstream.upgrade(request as RequestContext & PendingRequest, socket, head).catch((err: unknown) => {
    respondErrorOnSocket(socket, err, { route: route.name, requestId: request.requestId, upstream: route.upstream });
  });
}
