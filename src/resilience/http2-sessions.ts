/**
 * HTTP/2 toward an upstream that offers it by ALPN, as client-go does: node:http2 sessions used directly,
 * one stream per request, behind the same dispatch interface as undici's Agent (so the upstream's
 * handlers, resilience stack and timeouts do not change). An upstream whose ALPN answer is HTTP/1.1
 * is handed to the pool's undici Agent from then on.
 *
 * Why not undici's own HTTP/2 (Agent → Pool → Client → client-h2): in the bench's profile its layers
 * and allocations were about a fifth of a Kubernetes route's CPU at 32 connections (test/bench/README.md).
 *
 * A connection carries up to `maxStreams` streams (fewer when the server's SETTINGS say so); a busier
 * upstream gets another connection, up to the pool's `maxSockets`, then requests wait in order. Before
 * the first connection is up, a burst of requests waits for it rather than opening one each. A PING
 * goes out every `pingInterval` and a connection silent for two intervals is closed
 * (silent-connection.ts), which ends its streams (a watch's client watches again). After a GOAWAY the
 * streams in flight finish and new requests take a new connection; a stream the server refused
 * (REFUSED_STREAM, or above the GOAWAY's last stream) fails like a reset keep-alive connection, which
 * the HTTP upstream resends once (upstreams/http/resend.ts). TLS sessions are resumed on reconnect.
 * A connection without streams for a whole `idleTimeout` closes.
 */
import { isIP } from "node:net";
import { connect as connectTls, type ConnectionOptions } from "node:tls";
import type { Dispatcher } from "undici";
import { Connection, type ConnectionOwner, type Http2Options } from "./http2-connection.js";
import { Exchange, type ExchangeOrigin } from "./http2-exchange.js";

export type { Http2Options };

/** What a pool needs of its dispatcher: undici's Agent has it, and so has the one `Http2Clients` makes. */
export interface PoolDispatcher {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  readonly stats: Record<string, { connected: number | boolean; free?: number; running: number }>;
  destroy(): Promise<void>;
}

/** The pool settings that apply to HTTP/2 connections too. */
export interface Http2PoolSettings {
  maxSockets: number;
  connectTimeout: number;
  idleTimeout: number;
}

/**
 * The HTTP/2 connections of one upstream, shared by its pools (the route's, and the one for long-running
 * requests): what one connection learnt, every pool uses.
 */
export class Http2Clients {
  /** What the last connection chose: "h2", or "http/1.1" when the server offered only that. */
  protocol: "h2" | "http/1.1" | undefined;
  private readonly origins = new Map<string, Origin>();
  private users = 0;

  constructor(
    readonly options: Http2Options,
    private readonly settings: Http2PoolSettings,
    private readonly tls: ConnectionOptions,
  ) {}

  /**
   * A dispatcher for one pool: HTTP/2 streams while the upstream speaks h2, `fallback` (the pool's undici
   * Agent) once it answers HTTP/1.1. The first pool's stats include the HTTP/2 connections (counted once).
   */
  dispatcher(fallback: PoolDispatcher): PoolDispatcher {
    const primary = this.users++ === 0;
    let closed = false;
    const clients = this;
    return {
      dispatch: (options, handler) => this.dispatch(options, handler, fallback),
      get stats() {
        return primary ? { ...fallback.stats, ...clients.h2Stats() } : fallback.stats;
      },
      destroy: async () => {
        if (!closed && --this.users === 0) this.close();
        closed = true;
        await fallback.destroy();
      },
    };
  }

  /** Open HTTP/2 connections and their streams, by origin. */
  private h2Stats(): PoolDispatcher["stats"] {
    const out: PoolDispatcher["stats"] = {};
    for (const [origin, o] of this.origins) {
      let running = 0;
      let free = 0;
      for (const c of o.connections) {
        running += c.streams;
        if (c.streams === 0) free++;
      }
      if (o.connections.length) out[origin] = { connected: o.connections.length, free, running };
    }
    return out;
  }

  private dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, fallback: PoolDispatcher): boolean {
    const key = String(options.origin);
    let origin = this.origins.get(key);
    if (!origin) {
      origin = new Origin(this, new URL(key), this.settings, this.tls);
      this.origins.set(key, origin);
    }
    if (this.protocol === "http/1.1" || origin.url.protocol !== "https:") return fallback.dispatch(options, handler);
    origin.dispatch(new Exchange(origin, options, handler, fallback));
    return true;
  }

  private close(): void {
    for (const origin of this.origins.values()) origin.close();
    this.origins.clear();
  }
}

/** The connections to one origin, and the requests waiting for one. */
class Origin implements ConnectionOwner, ExchangeOrigin {
  readonly connections: Connection[] = [];
  private readonly waiting: Exchange[] = [];
  private connecting = false;
  private tlsSession: Buffer | undefined;
  private closed = false;
  private readonly connectOptions: ConnectionOptions;

  constructor(
    readonly clients: Http2Clients,
    readonly url: URL,
    private readonly settings: Http2PoolSettings,
    tls: ConnectionOptions,
  ) {
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    this.connectOptions = {
      ...(isIP(host) ? {} : { servername: host }),
      ...tls,
      host,
      port: Number(url.port || 443),
      ALPNProtocols: ["h2", "http/1.1"],
    };
  }

  dispatch(exchange: Exchange): void {
    exchange.start();
    if (exchange.aborted) return;
    const connection = this.available();
    if (connection) connection.send(exchange);
    else {
      this.waiting.push(exchange);
      this.grow();
    }
  }

  /** The least busy connection with a stream to spare (most often the only one). */
  private available(): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.connections) if (c.streams < c.limit && (!best || c.streams < best.streams)) best = c;
    return best;
  }

  forget(exchange: Exchange): void {
    const i = this.waiting.indexOf(exchange);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  /** A stream ended or a connection came up: waiting requests go. */
  drain(): void {
    while (this.waiting.length) {
      const connection = this.available();
      if (!connection) {
        this.grow();
        return;
      }
      connection.send(this.waiting.shift()!);
    }
  }

  remove(connection: Connection): void {
    const i = this.connections.indexOf(connection);
    if (i >= 0) this.connections.splice(i, 1);
    this.drain();
  }

  /** One connection attempt at a time, while requests wait and the pool has room. */
  private grow(): void {
    if (this.connecting || this.closed || !this.waiting.length || this.connections.length >= this.settings.maxSockets) return;
    this.connecting = true;
    const socket = connectTls({ ...this.connectOptions, ...(this.tlsSession ? { session: this.tlsSession } : {}) });
    const timer = setTimeout(() => {
      const err = new Error(`connect to ${this.url.host} timed out after ${this.settings.connectTimeout}ms`);
      socket.destroy(Object.assign(err, { code: "ECONNECT_TIMEOUT" }));
    }, this.settings.connectTimeout);
    socket.on("session", (session: Buffer) => (this.tlsSession = session));
    const failed = (err: Error) => {
      clearTimeout(timer);
      this.connecting = false;
      // As undici does: the requests waiting for this connection fail with its error.
      for (const exchange of this.waiting.splice(0)) exchange.fail(err);
    };
    socket.once("error", failed);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      socket.off("error", failed);
      this.connecting = false;
      if (this.closed) return void socket.destroy();
      if (socket.alpnProtocol !== "h2") {
        this.clients.protocol = "http/1.1";
        socket.destroy();
        for (const exchange of this.waiting.splice(0)) exchange.handOver();
        return;
      }
      this.clients.protocol = "h2";
      this.connections.push(new Connection(this, socket, this.clients.options, this.settings.idleTimeout));
      this.drain();
    });
  }

  close(): void {
    this.closed = true;
    const err = Object.assign(new Error("the upstream's pool was closed"), { code: "UND_ERR_DESTROYED" });
    for (const exchange of this.waiting.splice(0)) exchange.fail(err);
    for (const c of this.connections.splice(0)) c.destroy();
  }
}
