/**
 * The route's keep-alive connection pool: one undici Agent (a pool per endpoint origin).
 *
 * undici rather than http.Agent + http.request: in the bench, a bare node:http server forwarding with
 * undici's dispatch served about 1.5× the requests of the same server forwarding with http.request,
 * for less CPU (test/bench/README.md). undici has no `maxFreeSockets`: idle connections close after `idleTimeout`
 * (the HTTP upstream logs a warning when a route sets it).
 *
 * With `http2`, requests go as HTTP/2 streams when the server offers h2 by ALPN (as client-go does), on
 * node:http2 sessions shared by the upstream's pools (http2-sessions.ts); a server that only offers
 * HTTP/1.1 gets this pool's Agent, one request per connection.
 */
import { createRequire } from "node:module";
import type { ConnectionOptions } from "node:tls";
import type { Agent as UndiciAgent } from "undici";
import type { ResolvedPool } from "../config/validate.js";
import type { Http2Clients, PoolDispatcher } from "./http2-sessions.js";

// undici's index loads fetch, WebSocket, caches and mocks too: 150 ms of start-up against 45 ms for the
// Agent alone (start-up time is paid per pod). The version is pinned in package.json.
const load = createRequire(import.meta.url);
const Agent = load("undici/lib/dispatcher/agent.js") as typeof UndiciAgent;

export class Pool {
  readonly dispatcher: PoolDispatcher;
  private readonly h2: Http2Clients | undefined;

  /** `http2`: one Http2Clients may serve several pools of an upstream, so what one connection learnt serves all. */
  constructor(config: ResolvedPool, tls: ConnectionOptions = {}, http2?: Http2Clients) {
    this.h2 = http2 && config.keepAlive ? http2 : undefined;
    const agent = new Agent({
      connections: config.maxSockets,
      // pipelining 0: one request per connection, closed after it (keepAlive: false).
      pipelining: config.keepAlive ? 1 : 0,
      keepAliveTimeout: config.idleTimeout,
      keepAliveMaxTimeout: config.idleTimeout,
      // The route's deadline bounds the exchange; undici's own timers would cut watches and SSE.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: { ...tls, timeout: config.connectTimeout },
    });
    this.dispatcher = this.h2 ? this.h2.dispatcher(agent) : agent;
  }

  /** Open connections by origin (attache_endpoint_connections). */
  connections(): Map<string, number> {
    return new Map(Object.entries(this.dispatcher.stats).map(([origin, stats]) => [origin, Number(stats.connected)]));
  }

  /** Connections open right now, busy and free (for /routes and tests). */
  describe(): Record<string, unknown> {
    let busy = 0;
    let free = 0;
    for (const stats of Object.values(this.dispatcher.stats)) {
      // A pool per origin, or a single client when maxSockets is 1.
      const connected = Number(stats.connected);
      const idle = stats.free ?? (stats.running === 0 ? connected : 0);
      busy += connected - idle;
      free += idle;
    }
    return { busy, free, ...(this.h2 ? { protocol: this.h2.protocol ?? "not connected yet" } : {}) };
  }

  close(): void {
    void this.dispatcher.destroy();
  }
}
