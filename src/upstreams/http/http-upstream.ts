/**
 * HTTP(S) upstream for one route: balancer → pooled connection (undici) → response streamed back.
 *
 * The app-facing side is plain node:http: a prototype measured express + http-proxy-middleware in front
 * at about half the throughput of a bare node:http proxy (test/bench/README.md). The upstream side is undici's
 * dispatcher (see resilience/pool.ts for why). http-proxy-middleware carries the WebSocket/SPDY upgrades,
 * where its handling of the raw socket is worth having; it is loaded on the first upgrade.
 * The kubernetes upstream composes this class with credentials, default deny and Status errors.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { AgentOptions } from "node:https";
import type { Duplex } from "node:stream";
import type { Dispatcher } from "undici";
import { log } from "../../observability/log.js";
import { reportEndpoints } from "../../observability/endpoint-metrics.js";
import { tracer } from "../../observability/tracing.js";
import { DEFAULTS } from "../../config/defaults.js";
import type { ResolvedRoute } from "../../config/validate.js";
import type { EndpointSource } from "../../discovery/endpoint-source.js";
import { countBody } from "../../http/count-body.js";
import { clientResponseHeaders, upstreamRequestHeaders } from "../../http/headers.js";
import type { Route } from "../../routing/route.js";
import { parseRetryAfter } from "../../resilience/backoff.js";
import { classifyError, classifyStatus } from "../../resilience/classify.js";
import { Http2Clients, type Http2Options } from "../../resilience/http2-sessions.js";
import { Pool } from "../../resilience/pool.js";
import { leasePool, type PoolLease } from "../../resilience/shared-pools.js";
import type { RequestContext, Upstream } from "../upstream.js";
import { Balancer, type Slot } from "./balancer.js";
import { UpstreamCall } from "./upstream-call.js";
import type { DeadlineSignal } from "../../resilience/deadline.js";
import { clientGone, noEndpoint } from "./call-errors.js";
import { IDEMPOTENT, planBody, readReplayableBody } from "./replay-body.js";
import { credentialsRotated, isStaleSocket } from "./resend.js";
import { WebSocketUpgrades } from "./websocket-upgrade.js";

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
  /** HTTP/2 when the server offers it by ALPN (resilience/http2-sessions.ts). */
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
  private readonly upgrades: WebSocketUpgrades;
  private readonly unreport: () => void;

  constructor(private readonly options: HttpUpstreamOptions) {
    const { route, source } = options;
    const http = route.upstream.http;
    this.http2 = options.http2 && new Http2Clients(options.http2, route.pool, options.tls ?? {});
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
    this.upgrades = new WebSocketUpgrades(options, this);
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
    const { hasBody, buffer } = planBody(ctx);
    const body = buffer ? await readReplayableBody(ctx) : undefined;
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
    await this.upgrades.upgrade(ctx, slot, socket, head);
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
    let slot = this.balancer.pick(tried);
    if (!slot) throw noEndpoint(ctx.route.config.name);
    tried?.add(slot);
    ctx.upstreamTarget = slot.endpoint.id;
    let resent = false;
    let authRetried = false;
    for (;;) {
      const pool = this.poolFor(ctx);
      ctx.attempts = (ctx.attempts ?? 0) + 1;
      const sentAt = performance.now();
      const headers = this.requestHeaders(ctx, slot);
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
        // The keep-alive race: once per try (resend.ts).
        if (!resent && isStaleSocket(err, call, ctx, signal, replayable)) {
          resent = true;
          // Nothing reached the endpoint, which may be going away (a pod that stops closes its
          // connections): another endpoint, when there is one, takes the resend.
          slot = this.balancer.pick(tried ?? new Set([slot])) ?? slot;
          tried?.add(slot);
          ctx.upstreamTarget = slot.endpoint.id;
          continue;
        }
        const kind = classifyError(err);
        if (kind) this.balancer.report(slot, kind);
        if (span) tracer?.end(span, { error: String((err as NodeJS.ErrnoException).code ?? "internal") });
        throw err;
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
      ctx.upstreamMs = Math.round((performance.now() - sentAt) * 10) / 10;
      // A try's span covers dispatch to response head: which try answered, and how fast, is what it tells.
      if (span) tracer?.end(span, { status: call.statusCode });
      // 401: credentials that rotated under us get the request one more go (resend.ts).
      if (call.statusCode === 401 && !authRetried && this.options.refreshCredentials) {
        authRetried = true;
        if (credentialsRotated(this.options.refreshCredentials, this.options.authorize, headers) && replayable && !signal.aborted) {
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
}

/** The call in flight for one request: the one a client that leaves must stop. */
interface InFlight {
  current: UpstreamCall | undefined;
}

// What the resilience stack asks of an HTTP response; shared by every request (no per-request closures).
const callOutcome = (call: UpstreamCall) => classifyStatus(call.statusCode, call.verdict);
const discardCall = (call: UpstreamCall) => call.discard();
const callRetryAfter = (call: UpstreamCall) => parseRetryAfter(call.headers["retry-after"] as string | undefined);
