/**
 * The route's keep-alive connection pool: one undici Agent (a pool per endpoint origin).
 *
 * undici rather than http.Agent + http.request: in the bench, a bare node:http server forwarding with
 * undici's dispatch served about 1.5× the requests of the same server forwarding with http.request,
 * for less CPU (test/bench/README.md). undici has no `maxFreeSockets`: idle connections close after `idleTimeout`
 * (the HTTP upstream logs a warning when a route sets it).
 *
 * With `http2`, a connection speaks HTTP/2 when the server offers it by ALPN (as client-go does) and
 * then carries up to `maxStreams` requests at once; one that only offers HTTP/1.1 gets one request per
 * connection, as without. undici's client takes one `pipelining` for both, so each client learns its
 * protocol at connect (`Http2Clients`), and a silent HTTP/2 connection is closed (silent-connection.ts).
 */
import { createRequire } from "node:module";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import type { Agent as UndiciAgent, Client as UndiciClient, Pool as UndiciPool, buildConnector } from "undici";
import type { ResolvedPool } from "../config/validate.js";
import { watchSilence } from "./silent-connection.js";

// undici's index loads fetch, WebSocket, caches and mocks too: 150 ms of start-up against 45 ms for the
// Agent alone (start-up time is paid per pod). The version is pinned in package.json.
const load = createRequire(import.meta.url);
const Agent = load("undici/lib/dispatcher/agent.js") as typeof UndiciAgent;

export interface Http2Options {
  /** Streams per HTTP/2 connection (Node's default SETTINGS_MAX_CONCURRENT_STREAMS is 100). */
  maxStreams: number;
  /** A PING this often; a connection that sends nothing back for two intervals is closed. 0: neither. */
  pingInterval: number;
}

export class Pool {
  readonly dispatcher: UndiciAgent;
  private readonly h2: Http2Clients | undefined;
  /** With `http2`, until this pool's first connection is up: the first request's, which the others wait for. */
  private opening: { promise: Promise<void>; open: () => void } | undefined;
  private connected = false;

  /** `http2`: one Http2Clients may serve several pools of an upstream, so what one connection learnt serves all. */
  constructor(config: ResolvedPool, tls: ConnectionOptions = {}, http2?: Http2Clients) {
    this.h2 = http2 && config.keepAlive ? http2 : undefined;
    this.dispatcher = new Agent({
      connections: config.maxSockets,
      // pipelining 0: one request per connection, closed after it (keepAlive: false).
      pipelining: config.keepAlive ? 1 : 0,
      keepAliveTimeout: config.idleTimeout,
      keepAliveMaxTimeout: config.idleTimeout,
      // The route's deadline bounds the exchange; undici's own timers would cut watches and SSE.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: { ...tls, timeout: config.connectTimeout },
      ...(this.h2 ? this.h2.agentOptions((ok) => this.onConnected(ok)) : {}),
    });
  }

  /**
   * With `http2`, before this pool's first connection is up: one request goes ahead (`open` the gate once
   * its head or error is in) and the others `wait` for that connection. undici's pool counts a client that
   * is still connecting as busy and would open a connection for each request of a burst, where one
   * HTTP/2 connection carries them all. Undefined once a connection is up: nothing per request after.
   */
  gate(): { wait?: Promise<void>; open?: () => void } | undefined {
    if (!this.h2 || this.connected) return undefined;
    if (this.opening) return { wait: this.opening.promise };
    let resolve!: () => void;
    const opening = {
      promise: new Promise<void>((r) => (resolve = r)),
      open: () => {
        if (this.opening === opening) this.opening = undefined;
        resolve();
      },
    };
    this.opening = opening;
    return { open: opening.open };
  }

  /** A connection is up (or failed): after undici has widened its client, whose drain is a microtask, the waiters go. */
  private onConnected(ok: boolean): void {
    if (ok) this.connected = true;
    const opening = this.opening;
    if (opening) setImmediate(opening.open);
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
      const idle = "free" in stats ? stats.free : stats.running === 0 ? connected : 0;
      busy += connected - idle;
      free += idle;
    }
    return { busy, free, ...(this.h2 ? { protocol: this.h2.protocol ?? "not connected yet" } : {}) };
  }

  close(): void {
    void this.dispatcher.destroy();
  }
}

/** The undici clients of pools whose connections may be HTTP/2: each sets its `pipelining` by the protocol its connection chose. */
export class Http2Clients {
  /** What the last connection chose: new clients start with it, so a burst of requests shares one HTTP/2 connection. */
  protocol: "h2" | "http/1.1" | undefined;

  constructor(private readonly options: Http2Options) {}

  /** For the Agent of one pool; `connected` runs after each of its connections is up (true) or failed. */
  agentOptions(connected: (ok: boolean) => void): Record<string, unknown> {
    const Pool = load("undici/lib/dispatcher/pool.js") as typeof UndiciPool;
    return {
      allowH2: true,
      maxConcurrentStreams: this.options.maxStreams,
      pingInterval: this.options.pingInterval,
      factory: (origin: URL, opts: UndiciPool.Options) =>
        new Pool(origin, { ...opts, factory: (o: URL, co: object) => this.client(o, co as UndiciClient.Options, connected) }),
    };
  }

  private client(origin: URL, opts: UndiciClient.Options, connected: (ok: boolean) => void): UndiciClient {
    const Client = load("undici/lib/dispatcher/client.js") as typeof UndiciClient;
    const connect = opts.connect as buildConnector.connector;
    let h2 = this.protocol === "h2";
    const client: UndiciClient = new Client(origin, {
      ...opts,
      // Until the connection says otherwise, one request at a time: HTTP/1.1 would pipeline the rest behind a watch.
      pipelining: h2 ? this.options.maxStreams : 1,
      connect: (connectOptions, callback) =>
        connect(connectOptions, (...result) => {
          const [err, socket] = result;
          if (!err) {
            h2 = (socket as TLSSocket).alpnProtocol === "h2";
            this.protocol = h2 ? "h2" : "http/1.1";
            if (h2 && this.options.pingInterval > 0) watchSilence(socket, 2 * this.options.pingInterval);
          } else connected(false);
          callback(...result);
        }),
    });
    // After undici has set the connection up: the setter resumes the queue with the new width.
    client.on("connect", () => {
      const width = h2 ? this.options.maxStreams : 1;
      if (client.pipelining !== width) client.pipelining = width;
      connected(true);
    });
    return client;
  }
}
