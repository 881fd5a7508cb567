/**
 * The HTTP request path, in order. Read this file first.
 *
 *   acceptHost → refuseCrossOrigin → assignRequestId → matchRoute → enforcePolicy → limitBody → allowContinue → forward
 *
 * Each step either returns or throws an AttacheError; respond-error.ts renders what is thrown.
 * `forward` hands the request to the route's upstream, whose resilience stack is policy-stack.ts.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { AttacheError, type ErrorCode } from "../errors.js";
import type { Generation, State } from "../lifecycle/generation.js";
import { log } from "../observability/log.js";
import type { Span } from "../observability/otel.js";
import { traceIdOf, tracer } from "../observability/tracing.js";
import { RequestLease } from "../resilience/inflight.js";
import type { Route } from "../routing/route.js";
import type { RequestContext } from "../upstreams/upstream.js";
import { acceptHost } from "./accept-host.js";
import { refuseCrossOrigin, refuseCrossOriginUpgrade } from "./cross-origin.js";
import { limitBody } from "./limit-body.js";
import { matchRoute } from "./match-route.js";
import { assignRequestId } from "./request-id.js";
import { respondError, respondErrorOnSocket } from "./respond-error.js";

/** A request while the steps run; once `route` is set it is the upstream's RequestContext. */
export interface PendingRequest {
  req: IncomingMessage;
  res: ServerResponse;
  generation: Generation;
  startedAt: number;
  requestId: string;
  route: Route | undefined;
  path: string;
  query: string;
  upstreamTarget?: string;
  /** attache's own error code when attache answered (or cut) the response: the refusal flag of metrics and the access log. */
  error?: ErrorCode | undefined;
  /** The connection, kept (req.socket is null once it is detached), and its bytes written before this response: what it wrote since is the response. */
  readonly socket: Socket | undefined;
  readonly writtenBefore: number;
  /** The server span, when tracing is on (observability/tracing.ts). */
  span?: Span | undefined;
  /** The client sent `Expect: 100-continue` and waits for `100 Continue` before its body. */
  expectsContinue?: boolean;
}

type Step = (request: PendingRequest) => void;

/** Route policy (methods, allow/deny) on the normalised path after the prefix: the one that is forwarded. */
function enforcePolicy(request: PendingRequest): void {
  const route = request.route!;
  route.policy.check(request.req.method ?? "GET", route.policyPath(request.path));
}

/** `Expect: 100-continue`: the client sends its body only once the route, its policy and maxBodySize have let it. */
function allowContinue(request: PendingRequest): void {
  if (request.expectsContinue) request.res.writeContinue();
}

export const steps: readonly Step[] = [acceptHost, refuseCrossOrigin, assignRequestId, matchRoute, enforcePolicy, limitBody, allowContinue];
const upgradeSteps: readonly Step[] = [acceptHost, refuseCrossOriginUpgrade, assignRequestId, matchRoute, enforcePolicy];

/** `expectsContinue`: the request came through the server's 'checkContinue' event. */
export function handleRequest(state: State, req: IncomingMessage, res: ServerResponse, expectsContinue = false): void {
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
  };
  const lease = new RequestLease(state.requests);
  res.once("close", () => {
    lease.release();
    record(request);
  });
  try {
    for (const step of steps) step(request);
  } catch (err) {
    request.error = respondError(res, err, { route: request.route?.name, requestId: request.requestId, upstream: request.route?.upstream, allow: request.route?.policy.allowedMethods });
    return;
  }
  forward(request, lease);
}

function forward(request: PendingRequest, lease: RequestLease): void {
  const route = request.route!;
  lease.add(route.meter.inflight);
  route.upstream.handle(request as RequestContext & PendingRequest).catch((err: unknown) => {
    request.error = respondError(request.res, err, { route: route.name, requestId: request.requestId, upstream: route.upstream });
  });
}

export function handleUpgrade(state: State, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const request: PendingRequest = { req, res: undefined as unknown as ServerResponse, generation: state.current, startedAt: performance.now(), requestId: "", route: undefined, path: "", query: "", socket: undefined, writtenBefore: 0 };
  new RequestLease(state.requests).releaseOnClose(socket);
  socket.on("error", () => socket.destroy());
  try {
    for (const step of upgradeSteps) step(request);
    const route = request.route!;
    if (!route.upstream.upgrade) throw new AttacheError("bad_request", `route ${route.name}: this route does not take upgrade requests`, { route: route.name });
    route.upstream.upgrade(request as RequestContext & PendingRequest, socket, head).catch((err: unknown) => {
      respondErrorOnSocket(socket, err, { route: route.name, requestId: request.requestId, upstream: route.upstream });
    });
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
    route.meter.duration.observe(seconds);
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
