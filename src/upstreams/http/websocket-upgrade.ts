/** WebSocket/SPDY upgrades of an HTTP upstream, carried by http-proxy-middleware (loaded on the first one). */
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { AgentOptions } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ResolvedRoute } from "../../config/validate.js";
import { upstreamRequestHeaders } from "../../http/headers.js";
import { respondErrorOnSocket } from "../../http/respond-error.js";
import type { Route } from "../../routing/route.js";
import type { RequestContext, Upstream } from "../upstream.js";
import type { Slot } from "./balancer.js";

type WsProxy = { upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void };

const TARGET = Symbol("attache.upgradeTarget");
type UpgradeRequest = IncomingMessage & { [TARGET]?: Record<string, unknown> };

export interface WebSocketUpgradeOptions {
  route: ResolvedRoute;
  tls?: AgentOptions | undefined;
  /** Sets the upstream's credentials on the upgrade request (replacing the client's Authorization). */
  authorize?: ((headers: OutgoingHttpHeaders) => void) | undefined;
}

export class WebSocketUpgrades {
  private wsProxy: Promise<WsProxy> | undefined;

  /** `upstream` is the one whose errors these are: it renders them (http/respond-error.ts). */
  constructor(
    private readonly options: WebSocketUpgradeOptions,
    private readonly upstream: Upstream,
  ) {}

  /** Hands the client's upgrade to the endpoint of `slot`. */
  async upgrade(ctx: RequestContext, slot: Slot, socket: Duplex, head: Buffer): Promise<void> {
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
              upstream: this.upstream,
            });
          }),
      ],
    });
  }
}
