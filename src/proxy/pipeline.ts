/**
 * The HTTP request path, in order. Read this file first.
 *
 *   acceptHost → refuseCrossOrigin → assignRequestId → matchRoute → enforcePolicy → limitBody → allowContinue → forward
 *
 * Each step (pending-request.ts) either returns or throws an AttacheError; http/respond-error.ts renders what is thrown.
 * `forward` hands the request to the route's upstream, whose resilience stack is policy-stack.ts. Upgrade requests
 * take the same path without the body steps and end in `forwardUpgrade`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { respondError, respondErrorOnSocket } from "../http/respond-error.js";
import type { State } from "../lifecycle/generation.js";
import { log } from "../observability/log.js";
import { traceIdOf, tracer } from "../observability/tracing.js";
import { RequestLease } from "../resilience/inflight.js";
import type { RequestContext } from "../upstreams/upstream.js";
import { acceptHost } from "./accept-host.js";
import { allowContinue } from "./allow-continue.js";
import { refuseCrossOrigin, refuseCrossOriginUpgrade } from "./cross-origin.js";
import { enforcePolicy } from "./enforce-policy.js";
import { forward, forwardUpgrade } from "./forward.js";
import { limitBody } from "./limit-body.js";
import { matchRoute } from "./match-route.js";
import type { PendingRequest, Step } from "./pending-request.js";
import { assignRequestId } from "./request-id.js";

export const steps: readonly Step[] = [
  acceptHost,
  refuseCrossOrigin,
  assignRequestId,
  matchRoute,
  enforcePolicy,
  limitBody,
  allowContinue,
  forward,
];
const upgradeSteps: readonly Step[] = [acceptHost, refuseCrossOriginUpgrade, assignRequestId, matchRoute, enforcePolicy, forwardUpgrade];

/** `expectsContinue`: the request came through the server's 'checkContinue' event. */
export function handleRequest(state: State, req: IncomingMessage, res: ServerResponse, expectsContinue = false): void {
  const lease = new RequestLease(state.requests);
  const request: PendingRequest = {
    req,
    res,
    generation: state.current,
    startedAt: performance.now(),
    requestId: "",
    route: undefined,
    path: "",
    query: "",
    socket: req.socket,
    writtenBefore: req.socket.bytesWritten,
    span: tracer?.serverSpan(req),
    expectsContinue,
    lease,
  };
  res.once("close", () => {
    lease.release();
    record(request);
  });
  try {
    for (const step of steps) step(request);
  } catch (err) {
    request.error = respondError(res, err, {
      route: request.route?.name,
      requestId: request.requestId,
      upstream: request.route?.upstream,
      allow: request.route?.policy.allowedMethods,
    });
  }
}

export function handleUpgrade(state: State, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const lease = new RequestLease(state.requests);
  lease.releaseOnClose(socket);
  const request: PendingRequest = {
    req,
    res: undefined as unknown as ServerResponse,
    generation: state.current,
    startedAt: performance.now(),
    requestId: "",
    route: undefined,
    path: "",
    query: "",
    socket: undefined,
    writtenBefore: 0,
    lease,
    upgrade: { socket, head },
  };
  socket.on("error", () => socket.destroy());
  try {
    for (const step of upgradeSteps) step(request);
  } catch (err) {
    respondErrorOnSocket(socket, err, { route: request.route?.name, requestId: request.requestId, upstream: request.route?.upstream });
  }
}

/** Metrics and the access log, once per request, when the response is over. */
function record(request: PendingRequest): void {
  const { route, res, req } = request;
  const seconds = (performance.now() - request.startedAt) / 1000;
  const status = res.headersSent ? res.statusCode : 0;
  if (request.span && tracer) {
    if (route) tracer.routed(request.span, req.method ?? "GET", route.name, route.prefix);
    tracer.end(request.span, { status, error: request.error });
  }
  // The declared body (a chunked one has no length to state); the response as written, head included.
  const declared = req.headers["content-length"];
  const bytesIn = declared !== undefined ? Number(declared) || 0 : 0;
  const bytesOut = (request.socket?.bytesWritten ?? request.writtenBefore) - request.writtenBefore;
  const ctx = request as PendingRequest & Partial<RequestContext>;
  if (route) {
    route.meter.count(req.method ?? "GET", status, request.error, bytesIn, bytesOut, ctx.attempts ?? 0);
    route.meter.observeDuration(seconds);
  }
  if (request.generation.config.log.access) {
    log.info(
      {
        route: route?.name,
        method: req.method,
        path: req.url,
        status,
        error: request.error,
        durationMs: Math.round(seconds * 1e4) / 10,
        upstream: request.upstreamTarget,
        upstreamMs: ctx.upstreamMs,
        attempts: ctx.attempts,
        bytesIn: declared !== undefined ? bytesIn : undefined,
        bytesOut,
        requestId: request.requestId,
        traceId: request.span?.spanContext().traceId ?? traceIdOf(req.headers.traceparent),
      },
      "access",
    );
  }
}
