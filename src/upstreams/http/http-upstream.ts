/**
 * HTTP(S) upstream for one route: balancer → pooled connection (undici) → response streamed back.
 *
 * The app-facing side is plain node:http: a prototype measured express + http-proxy-middleware in front
 * at about half the throughput of a bare node:http proxy (ARCHITECTURE.md). The upstream side is undici's
 * dispatcher (see resilience/pool.ts for why). http-proxy-middleware carries the WebSocket/SPDY upgrades,
 * where its handling of the raw socket is worth having; it is loaded on the first upgrade.
 * The kubernetes upstream composes this class with credentials, default deny and Status errors.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { AgentOptions } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Dispatcher } from "undici";
import { AttacheError } from "../../errors.js";
import { log } from "../../observability/log.js";
import { reportEndpoints } from "../../observability/metrics.js";
import { tracer } from "../../observability/tracing.js";
import { DEFAULTS } from "../../config/defaults.js";
import type { ResolvedRoute } from "../../config/validate.js";
import type { EndpointSource } from "../../discovery/endpoint-source.js";
import { countBody } from "../../http/count-body.js";
import { clientResponseHeaders, upstreamRequestHeaders } from "../../http/headers.js";
import { respondErrorOnSocket } from "../../http/respond-error.js";
import type { Route } from "../../routing/route.js";
import { parseRetryAfter } from "../../resilience/backoff.js";
import { classifyError, classifyStatus } from "../../resilience/classify.js";
import { Http2Clients, Pool, type Http2Options } from "../../resilience/pool.js";
import { leasePool, type PoolLease } from "../../resilience/shared-pools.js";
import type { RequestContext, Upstream } from "../upstream.js";
import { Balancer, type Slot } from "./balancer.js";
import { UpstreamCall } from "./upstream-call.js";
import { abortable, Deadline, type DeadlineSignal } from "../../resilience/deadline.js";

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/** How a pooled connection that the upstream had closed fails when it is reused. */
const STALE_SOCKET = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);
/** Bodies up to this size are buffered on idempotent requests of routes with `retry`, so a retry can resend them. */
export const REPLAY_LIMIT = 64 * 1024;
/** How much of a 5xx body `isVerdict` may read: an API server's Status is a few hundred bytes. */
const VERDICT_PEEK = 16 * 1024;

export interface HttpUpstreamOptions {
  route: ResolvedRoute;
  source: EndpointSource;
  tls?: AgentOptions;
  /** Sets the upstream's credentials on an outgoing request (replacing the client's Authorization). */
  authorize?: (headers: OutgoingHttpHeaders) => void;
  /** After a 401: re-read credentials; true when they changed and the request is worth one more try. */
  refreshCredentials?: () => boolean;
  /**
   * Whether a 5xx answer is the upstream's verdict on this one request rather than a sign of ill health
   * (kubernetes: a Status body), from its headers and the start of its body (resilience/classify.ts).
   */
  isVerdict?: (headers: IncomingHttpHeaders, start: Buffer) => boolean;
  /** Whether this request's response may outlive the route timeout (`streaming`). */
  isStreaming?: (ctx: RequestContext) => boolean;
  /**
   * Requests that hold their connection for minutes (watches): given, over HTTP/1.1 they get a pool of
   * their own, so that they never take every connection from ordinary requests.
   */
  isLongRunning?: (ctx: RequestContext) => boolean;
  /** HTTP/2 when the server offers it by ALPN (resilience/pool.ts). */
  http2?: Http2Options;
  describe?: () => Record<string, unknown>;
  /** Release what the options hold (secret watchers), with the upstream. */
  onClose?: () => void;
}

export class HttpUpstream implements Upstream {
  readonly kind: Upstream["kind"] = "http";
  readonly balancer: Balancer;
  readonly pool: Pool;
  /** For long-running requests over HTTP/1.1, when the owner tells them apart (`isLongRunning`). */
  readonly longPool: Pool | undefined;
  private readonly http2: Http2Clients | undefined;
  /** Without HTTP/2: the pool is shared with the routes of equal settings (resilience/shared-pools.ts). */
  private readonly lease: PoolLease | undefined;
  private wsProxy: Promise<WsProxy> | undefined;
  private readonly unreport: () => void;

  constructor(private readonly options: HttpUpstreamOptions) {
    const { route, source } = options;
    const http = route.upstream.http;
    this.http2 = options.http2 && new Http2Clients(options.http2);
    // HTTP/2 pools learn their protocol per upstream (Http2Clients), so they stay the route's own.
    this.lease = this.http2 ? undefined : leasePool(route.pool, options.tls);
    this.pool = this.lease?.pool ?? new Pool(route.pool, options.tls, this.http2);
    this.longPool = options.isLongRunning ? new Pool(route.pool, options.tls, this.http2) : undefined;
    if (route.pool.maxFreeSockets !== undefined) {
      log.warn(
        { route: route.name },
        `pool.maxFreeSockets is not enforced: idle connections close after pool.idleTimeout (${route.pool.idleTimeout}ms)`,
      );
    }
    this.unreport = reportEndpoints(route.name, () => this.balancer.figures(this.connections()));
    this.balancer = new Balancer(
      route.name,
      source,
      http?.balance ?? DEFAULTS.route.balance,
      http?.outlierDetection && { ...DEFAULTS.route.outlierDetection, ...http.outlierDetection },
    );
  }

  async handle(ctx: RequestContext): Promise<void> {
    const { req, res, route } = ctx;
    const method = req.method ?? "GET";
    const length = req.headers["content-length"];
    const hasBody = length !== undefined ? length !== "0" : req.headers["transfer-encoding"] !== undefined;
    let body: Buffer | undefined;
    if (hasBody && IDEMPOTENT.has(method) && route.config.retry && length !== undefined && Number(length) <= REPLAY_LIMIT) {
      // Read before the exchange (whose deadline starts after it), so it gets the route timeout of its own: a body trickled forever must not hold the request.
      const reading = new Deadline(route.config.timeout);
      try {
        body = await abortable(readAll(req), reading.signal);
      } finally {
        reading.clear();
      }
    }
    const replayable = !hasBody || body !== undefined;
    const streaming = this.options.isStreaming?.(ctx) ?? route.config.streaming ?? DEFAULTS.route.streaming;
    // Only a retry can pick again, and it should pick another endpoint: no set to allocate otherwise.
    const tried = route.config.retry ? new Set<Slot>() : undefined;
    // One listener for the whole request: a client that leaves stops the call in flight, whichever try it is.
    const calls: InFlight = { current: undefined };
    let release: (() => void) | undefined;
    res.once("close", () => {
      // Also fires after every complete response: only a response cut short means the client left.
      if (!res.writableFinished) calls.current?.abort(clientGone());
      release?.();
    });

    const admitted = await route.resilience.exchange((signal) => this.attempt(ctx, signal, calls, tried, body, hasBody, replayable), {
      retryable: replayable && IDEMPOTENT.has(method),
      streaming,
      outcome: callOutcome,
      discard: discardCall,
      retryAfter: callRetryAfter,
    });
    const call = admitted.result;
    release = admitted.release;
    // The client may have gone between the upstream's answer and here: its "close" is already past.
    if (res.destroyed) {
      call.abort(clientGone());
      return release();
    }
    if (!streaming) {
      // The deadline covers the body too: past it, cut both sides (the client sees a truncated response).
      const deadline = admitted.deadline.signal;
      if (deadline.aborted) call.abort(deadline.reason as Error);
      else deadline.addEventListener("abort", () => call.abort(deadline.reason as Error));
    }
    res.writeHead(call.statusCode, clientResponseHeaders(call.headers, ctx.requestId));
    if (streaming) res.flushHeaders();
    call.pipeTo(res, release);
  }

  async upgrade(ctx: RequestContext, socket: Duplex, head: Buffer): Promise<void> {
    const slot = this.balancer.pick();
    if (!slot) throw noEndpoint(ctx.route.config.name);
    const { endpoint } = slot;
    const req = ctx.req as UpgradeRequest;
    req[TARGET] = { protocol: endpoint.protocol, host: endpoint.host, port: endpoint.port, ...this.options.tls };
    req.url = endpoint.basePath + ctx.path + ctx.query;
    const headers = upstreamRequestHeaders(req, ctx.route as Route, ctx.requestId, true);
    this.options.authorize?.(headers);
    req.headers = headers as IncomingMessage["headers"];
    ctx.upstreamTarget = endpoint.id;
    this.wsProxy ??= this.createWsProxy();
    const proxy = await this.wsProxy;
    proxy.upgrade(req, socket as Socket, head);
  }

  /** No listener of its own: ready at once (discovery gates requests, not the swap: see discovery/create-source.ts). */
  readiness(): Promise<void> {
    return Promise.resolve();
  }

  describe(): Record<string, unknown> {
    return {
      ...this.options.describe?.(),
      endpoints: this.balancer.describe(),
      source: this.options.source.describe(),
      pool: { ...this.pool.describe(), ...(this.lease ? { sharedByRoutes: this.lease.users() } : {}) },
      ...(this.longPool ? { longRunningPool: this.longPool.describe() } : {}),
    };
  }

  async close(): Promise<void> {
    this.unreport();
    this.options.onClose?.();
    this.balancer.close();
    this.options.source.close();
    if (this.lease) this.lease.release();
    else this.pool.close();
    this.longPool?.close();
  }

  /** Open connections by origin, both pools together. */
  private connections(): Map<string, number> {
    const open = this.pool.connections();
    if (this.longPool) for (const [origin, n] of this.longPool.connections()) open.set(origin, (open.get(origin) ?? 0) + n);
    return open;
  }

  /** One try against one endpoint; resolves with the response head, its body still to come. */
  private async attempt(
    ctx: RequestContext,
    signal: DeadlineSignal,
    calls: InFlight,
    tried: Set<Slot> | undefined,
    body: Buffer | undefined,
    hasBody: boolean,
    replayable: boolean,
  ): Promise<UpstreamCall> {
    const slot = this.balancer.pick(tried);
    if (!slot) throw noEndpoint(ctx.route.config.name);
    tried?.add(slot);
    ctx.upstreamTarget = slot.endpoint.id;
    let resent = false;
    let authRetried = false;
    for (;;) {
      // Before the pool's first HTTP/2 connection is up, one request goes first (resilience/pool.ts).
      const pool = this.poolFor(ctx);
      const gate = pool.gate();
      if (gate?.wait) await abortable(gate.wait, signal);
      ctx.attempts = (ctx.attempts ?? 0) + 1;
      const sentAt = performance.now();
      let headers: OutgoingHttpHeaders;
      try {
        headers = this.requestHeaders(ctx, slot);
      } catch (err) {
        gate?.open?.();
        throw err;
      }
      const span =
        ctx.span &&
        tracer?.httpClientSpan(ctx.span, ctx.req.method ?? "GET", slot.endpoint, ctx.path + ctx.query, ctx.attempts - 1, headers);
      const call = this.dispatch(ctx, pool, slot, headers, body, hasBody);
      calls.current = call;
      const onAbort = () => call.abort(signal.reason as Error);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort);
      try {
        await call.head;
        if (call.statusCode >= 500 && this.options.isVerdict)
          call.verdict = this.options.isVerdict(call.headers, await call.peek(VERDICT_PEEK));
      } catch (err) {
        // The keep-alive race: a pooled connection the upstream closed while idle fails on reuse. undici
        // does not say whether the connection was reused, so any reset before the head counts. Nothing
        // came back, so an idempotent request goes again once, even on routes without `retry` (issue 4).
        // Not a POST: the upstream may have acted on it before closing.
        if (
          !resent &&
          call.statusCode === 0 &&
          STALE_SOCKET.has((err as NodeJS.ErrnoException).code!) &&
          replayable &&
          IDEMPOTENT.has(ctx.req.method!) &&
          !signal.aborted &&
          !ctx.res.destroyed
        ) {
          resent = true;
          continue;
        }
        const kind = classifyError(err);
        if (kind) this.balancer.report(slot, kind);
        if (span) tracer?.end(span, { error: String((err as NodeJS.ErrnoException).code ?? "internal") });
        throw err;
      } finally {
        signal.removeEventListener("abort", onAbort);
        gate?.open?.();
      }
      ctx.upstreamMs = Math.round((performance.now() - sentAt) * 10) / 10;
      // A try's span covers dispatch to response head: which try answered, and how fast, is what it tells.
      if (span) tracer?.end(span, { status: call.statusCode });
      // 401: the credentials may have rotated under us (issue 5). Re-read them once; if they differ from
      // what this request carried (a file watcher may have re-read them meanwhile) and the request can be
      // sent again, it goes again with the new ones, and the client never sees the 401.
      if (call.statusCode === 401 && !authRetried && this.options.refreshCredentials) {
        authRetried = true;
        const changed = this.options.refreshCredentials();
        const current: OutgoingHttpHeaders = {};
        this.options.authorize?.(current);
        if ((changed || current.authorization !== headers.authorization) && replayable && !signal.aborted) {
          call.discard();
          continue;
        }
      }
      this.balancer.report(slot, callOutcome(call));
      return call;
    }
  }

  private requestHeaders(ctx: RequestContext, slot: Slot): OutgoingHttpHeaders {
    const headers = upstreamRequestHeaders(ctx.req, ctx.route as Route, ctx.requestId);
    this.options.authorize?.(headers);
    headers.host = slot.endpoint.authority;
    return headers;
  }

  /** Over HTTP/2 a watch is one stream among many; over HTTP/1.1 it holds a connection, so watches get their own budget. */
  private poolFor(ctx: RequestContext): Pool {
    return this.longPool && this.http2?.protocol !== "h2" && this.options.isLongRunning!(ctx) ? this.longPool : this.pool;
  }

  private dispatch(
    ctx: RequestContext,
    pool: Pool,
    slot: Slot,
    headers: OutgoingHttpHeaders,
    body: Buffer | undefined,
    hasBody: boolean,
  ): UpstreamCall {
    const { endpoint } = slot;
    const call = new UpstreamCall(slot);
    pool.dispatcher.dispatch(
      {
        origin: endpoint.origin,
        path: endpoint.basePath + ctx.path + ctx.query,
        method: ctx.req.method as Dispatcher.HttpMethod,
        headers: headers as Record<string, string | string[]>,
        body: body ?? (hasBody ? countBody(ctx.req, ctx.route.config.name, ctx.route.config.maxBodySize) : null),
      },
      call,
    );
    return call;
  }

  /** http-proxy-middleware for WebSocket/SPDY upgrades, loaded on the first one (start-up time is per pod). */
  private async createWsProxy(): Promise<WsProxy> {
    const { createProxyMiddleware } = await import("http-proxy-middleware");
    const route = this.options.route;
    return createProxyMiddleware<IncomingMessage>({
      router: (req) => (req as UpgradeRequest)[TARGET],
      ws: true,
      changeOrigin: true,
      secure: this.options.tls?.rejectUnauthorized !== false,
      ejectPlugins: true,
      logger: undefined,
      // Not `on: { error }`: ejectPlugins also ejects the plugin that wires `on`, and an upgrade whose
      // upstream refused the connection then threw an unhandled 'error' (test/regressions/ws-upgrade-refused-unhandled-error).
      plugins: [
        (proxy) =>
          proxy.on("error", (err, req, target) => {
            const socket = target as unknown as Socket;
            // Once the 101 went out the socket carries WebSocket frames: there is no HTTP answer left to give.
            if (socket.bytesWritten > 0) return void socket.destroy();
            respondErrorOnSocket(socket, err, {
              route: route.name,
              requestId: String((req as IncomingMessage).headers["x-request-id"] ?? ""),
              upstream: this,
            });
          }),
      ],
    });
  }
}

/** The call in flight for one request: the one a client that leaves must stop. */
interface InFlight {
  current: UpstreamCall | undefined;
}

type WsProxy = { upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void };

// What the resilience stack asks of an HTTP response; shared by every request (no per-request closures).
const callOutcome = (call: UpstreamCall) => classifyStatus(call.statusCode, call.verdict);
const discardCall = (call: UpstreamCall) => call.discard();
const callRetryAfter = (call: UpstreamCall) => parseRetryAfter(call.headers["retry-after"] as string | undefined);

const TARGET = Symbol("attache.upgradeTarget");
type UpgradeRequest = IncomingMessage & { [TARGET]?: Record<string, unknown> };

function noEndpoint(route: string): AttacheError {
  return new AttacheError("upstream_unreachable", `route ${route}: no endpoint available`, {
    route,
    cause: Object.assign(new Error("no endpoint"), { code: "ENOENDPOINT" }),
  });
}

function clientGone(): Error {
  return Object.assign(new Error("client went away"), { code: "ERR_CLIENT_GONE" });
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
    req.once("close", () => {
      if (!req.complete) reject(clientGone());
    });
  });
}
