/**
 * HTTP(S) upstream for one route: balancer → pooled socket → http.request, streamed both ways.
 *
 * The request/response path is plain node:http (the bench's "floor"): a prototype measured express +
 * http-proxy-middleware in front at about half that throughput (ARCHITECTURE.md). http-proxy-middleware
 * carries the WebSocket/SPDY upgrades, where its handling of the raw socket is worth having.
 * The kubernetes upstream composes this class with credentials, default deny and Status errors.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders, type RequestOptions } from "node:http";
import { request as httpsRequest, type AgentOptions } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createProxyMiddleware } from "http-proxy-middleware";
import { AttacheError } from "../../errors.js";
import type { ResolvedRoute } from "../../config/validate.js";
import type { EndpointSource } from "../../discovery/endpoint-source.js";
import { clientResponseHeaders, upstreamRequestHeaders } from "../../proxy/headers.js";
import { countBody } from "../../proxy/limit-body.js";
import { respondErrorOnSocket } from "../../proxy/respond-error.js";
import type { Route } from "../../routing/route.js";
import { parseRetryAfter } from "../../resilience/backoff.js";
import { classifyError, classifyStatus } from "../../resilience/classify.js";
import { Pool } from "../../resilience/pool.js";
import type { RequestContext, Upstream } from "../upstream.js";
import { Balancer, type Slot } from "./balancer.js";
import type { DeadlineSignal } from "../../resilience/deadline.js";

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/** How a reused socket that the upstream had closed fails: "socket hang up", or a write into the closed socket. */
const STALE_SOCKET = new Set(["ECONNRESET", "EPIPE"]);
/** Bodies up to this size are buffered on idempotent requests of routes with `retry`, so a retry can resend them. */
export const REPLAY_LIMIT = 64 * 1024;

export interface HttpUpstreamOptions {
  route: ResolvedRoute;
  source: EndpointSource;
  tls?: AgentOptions;
  /** Sets the upstream's credentials on an outgoing request (replacing the client's Authorization). */
  authorize?: (headers: OutgoingHttpHeaders) => void;
  /** After a 401: re-read credentials; true when they changed and the request is worth one more try. */
  refreshCredentials?: () => boolean;
  /** Whether this request's response may outlive the route timeout (`streaming`). */
  isStreaming?: (ctx: RequestContext) => boolean;
  describe?: () => Record<string, unknown>;
  /** Release what the options hold (secret watchers), with the upstream. */
  onClose?: () => void;
}

export class HttpUpstream implements Upstream {
  readonly kind: Upstream["kind"] = "http";
  readonly balancer: Balancer;
  readonly pool: Pool;
  private readonly wsProxy: { upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void };

  constructor(private readonly options: HttpUpstreamOptions) {
    const { route, source } = options;
    const http = route.upstream.http;
    this.pool = new Pool(route.pool, options.tls);
    this.balancer = new Balancer(route.name, source, http?.balance ?? "round-robin", http?.outlierDetection && {
      consecutiveFailures: http.outlierDetection.consecutiveFailures ?? 5,
      ejectionTime: http.outlierDetection.ejectionTime ?? 30_000,
      maxEjectionPercent: http.outlierDetection.maxEjectionPercent ?? 50,
    });
    this.wsProxy = createProxyMiddleware<IncomingMessage>({
      router: (req) => (req as UpgradeRequest)[TARGET],
      ws: true,
      changeOrigin: true,
      secure: options.tls?.rejectUnauthorized !== false,
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
            respondErrorOnSocket(socket, err, { route: route.name, requestId: String((req as IncomingMessage).headers["x-request-id"] ?? ""), upstream: this });
          }),
      ],
    });
  }

  async handle(ctx: RequestContext): Promise<void> {
    const { req, res, route } = ctx;
    const method = req.method ?? "GET";
    const length = req.headers["content-length"];
    const hasBody = length !== undefined ? length !== "0" : req.headers["transfer-encoding"] !== undefined;
    let body: Buffer | undefined;
    if (hasBody && IDEMPOTENT.has(method) && route.config.retry && length !== undefined && Number(length) <= REPLAY_LIMIT) {
      body = await readAll(req);
    }
    const replayable = !hasBody || body !== undefined;
    const streaming = this.options.isStreaming?.(ctx) ?? route.config.streaming ?? false;
    // Only a retry can pick again, and it should pick another endpoint: no set to allocate otherwise.
    const tried = route.config.retry ? new Set<Slot>() : undefined;

    const admitted = await route.resilience.exchange((signal) => this.attempt(ctx, signal, tried, body, hasBody, replayable), {
      retryable: replayable && IDEMPOTENT.has(method),
      streaming,
      outcome: responseOutcome,
      discard: discardResponse,
      retryAfter: responseRetryAfter,
    });
    const upstreamRes = admitted.result;
    const done = () => {
      admitted.release();
      if (!upstreamRes.complete) upstreamRes.destroy();
    };
    // The client may have gone between the upstream's answer and here: its "close" is already past.
    if (res.destroyed) return done();
    res.once("close", done);
    if (!streaming) {
      // The deadline covers the body too: past it, cut both sides (the client sees a truncated response).
      const deadline = admitted.deadline.signal;
      if (deadline.aborted) return void res.destroy(deadline.reason as Error);
      deadline.addEventListener("abort", () => res.destroy(deadline.reason as Error), { once: true });
    }
    upstreamRes.on("error", (err) => res.destroy(err));
    res.writeHead(upstreamRes.statusCode ?? 502, clientResponseHeaders(upstreamRes.headers, ctx.requestId));
    if (streaming) res.flushHeaders();
    upstreamRes.pipe(res);
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
    this.wsProxy.upgrade(req, socket as Socket, head);
  }

  describe(): Record<string, unknown> {
    return { ...this.options.describe?.(), endpoints: this.balancer.describe(), source: this.options.source.describe(), pool: this.pool.describe() };
  }

  async close(): Promise<void> {
    this.options.onClose?.();
    this.balancer.close();
    this.options.source.close();
    this.pool.close();
  }

  /** One try against one endpoint; resolves with the response head, its body still to read. */
  private attempt(ctx: RequestContext, signal: DeadlineSignal, tried: Set<Slot> | undefined, body: Buffer | undefined, hasBody: boolean, replayable: boolean): Promise<IncomingMessage> {
    const slot = this.balancer.pick(tried);
    if (!slot) return Promise.reject(noEndpoint(ctx.route.config.name));
    tried?.add(slot);
    ctx.upstreamTarget = slot.endpoint.id;
    return new Promise<IncomingMessage>((resolve, reject) => {
      let staleRetried = false;
      let authRetried = false;
      const send = (): void => {
        const proxyReq = this.send(ctx, slot, signal);
        slot.inflight++;
        let settled = false;
        const settle = (err: unknown, response?: IncomingMessage) => {
          if (settled) return;
          settled = true;
          // least-request counts a request until its response is over, not just until its headers.
          if (response) response.once("close", () => slot.inflight--);
          else slot.inflight--;
          signal.removeEventListener("abort", onAbort);
          ctx.res.off("close", onClientGone);
          if (response) {
            // 401: the credentials may have rotated under us (issue 5). Re-read them once; if they differ from
            // what this request carried (a file watcher may have re-read them meanwhile) and the request can be
            // sent again, it goes again with the new ones, and the client never sees the 401.
            if (response.statusCode === 401 && !authRetried && this.options.refreshCredentials) {
              authRetried = true;
              const changed = this.options.refreshCredentials();
              const current: OutgoingHttpHeaders = {};
              this.options.authorize?.(current);
              if ((changed || current.authorization !== proxyReq.getHeader("authorization")) && replayable && !signal.aborted) {
                response.resume();
                send();
                return;
              }
            }
            this.balancer.report(slot, classifyStatus(response.statusCode ?? 502));
            resolve(response);
            return;
          }
          // Node's documented race: a pooled socket the upstream closed while idle fails on reuse.
          // Nothing came back, so an idempotent request goes again once, on a fresh socket, even on
          // routes without `retry` (issue 4). Not a POST: the upstream may have acted on it before closing.
          if (proxyReq.reusedSocket && STALE_SOCKET.has((err as NodeJS.ErrnoException).code!) && replayable && IDEMPOTENT.has(ctx.req.method!) && !staleRetried && !signal.aborted) {
            staleRetried = true;
            send();
            return;
          }
          const kind = classifyError(err);
          if (kind) this.balancer.report(slot, kind);
          reject(err);
        };
        const onAbort = () => proxyReq.destroy(signal.reason as Error);
        const onClientGone = () => proxyReq.destroy(clientGone());
        signal.addEventListener("abort", onAbort, { once: true });
        ctx.res.once("close", onClientGone);
        proxyReq.once("response", (r) => settle(undefined, r));
        proxyReq.once("error", (err) => settle(err));
        if (body) proxyReq.end(body);
        else if (!hasBody) proxyReq.end();
        else {
          const stream = countBody(ctx.req, ctx.route.config.name, ctx.route.config.maxBodySize);
          stream.once("error", (err) => proxyReq.destroy(err));
          stream.pipe(proxyReq);
        }
      };
      send();
    });
  }

  private send(ctx: RequestContext, slot: Slot, signal: DeadlineSignal): ClientRequest {
    const { endpoint } = slot;
    const headers = upstreamRequestHeaders(ctx.req, ctx.route as Route, ctx.requestId);
    this.options.authorize?.(headers);
    headers.host = endpoint.authority;
    const options: RequestOptions = {
      agent: this.pool.agent(endpoint.protocol),
      host: endpoint.host,
      port: endpoint.port,
      method: ctx.req.method,
      path: endpoint.basePath + ctx.path + ctx.query,
      headers,
    };
    const proxyReq = endpoint.protocol === "https:" ? httpsRequest({ ...options, ...this.options.tls }) : httpRequest(options);
    // Connect timeout: only while a new socket is connecting; a pooled one is already connected.
    proxyReq.once("socket", (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => proxyReq.destroy(connectTimeout(this.options.route.pool.connectTimeout)), this.options.route.pool.connectTimeout);
      socket.once(endpoint.protocol === "https:" ? "secureConnect" : "connect", () => clearTimeout(timer));
      socket.once("close", () => clearTimeout(timer));
    });
    if (signal.aborted) proxyReq.destroy(signal.reason as Error);
    return proxyReq;
  }
}

// What the resilience stack asks of an HTTP response; shared by every request (no per-request closures).
const responseOutcome = (r: IncomingMessage) => classifyStatus(r.statusCode ?? 502);
const discardResponse = (r: IncomingMessage) => void r.resume();
const responseRetryAfter = (r: IncomingMessage) => parseRetryAfter(r.headers["retry-after"] as string | undefined);

const TARGET = Symbol("attache.upgradeTarget");
type UpgradeRequest = IncomingMessage & { [TARGET]?: Record<string, unknown> };

function noEndpoint(route: string): AttacheError {
  return new AttacheError("upstream_unreachable", `route ${route}: no endpoint available`, { route, cause: Object.assign(new Error("no endpoint"), { code: "ENOENDPOINT" }) });
}

function connectTimeout(ms: number): Error {
  return Object.assign(new Error(`connect timed out after ${ms}ms`), { code: "ECONNECT_TIMEOUT" });
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
