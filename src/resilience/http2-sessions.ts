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
import type { IncomingHttpHeaders } from "node:http";
import {
  connect as connectHttp2,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders as Http2Headers,
  type OutgoingHttpHeaders as Http2OutgoingHeaders,
} from "node:http2";
import { isIP } from "node:net";
import type { Readable } from "node:stream";
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from "node:tls";
import type { Dispatcher } from "undici";
import { watchSilence } from "./silent-connection.js";

export interface Http2Options {
  /** Streams per HTTP/2 connection (Node's default SETTINGS_MAX_CONCURRENT_STREAMS is 100). */
  maxStreams: number;
  /** A PING this often; a connection that sends nothing back for two intervals is closed. 0: neither. */
  pingInterval: number;
}

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

const { HTTP2_HEADER_STATUS, NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = constants;
const EXCHANGE = Symbol("attache.h2exchange");
/**
 * Flow-control windows, as undici's HTTP/2 client had them: a stream may have 256 KiB in flight (a list
 * does not wait on a 64 KiB window per round trip), the connection 512 KiB. Node acknowledges the
 * connection's window as data arrives and a stream's as it is read, so a paused stream stalls only itself.
 */
const STREAM_WINDOW = 256 * 1024;
const CONNECTION_WINDOW = 512 * 1024;
/** The request context and trailers handed to handlers: none. */
const NONE = Object.freeze({});
type Stream = ClientHttp2Stream & { [EXCHANGE]: Exchange };

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
class Origin {
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

/** One HTTP/2 connection. */
class Connection {
  streams = 0;
  limit: number;
  private readonly session: ClientHttp2Session;
  private used = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private gone = false;

  constructor(
    private readonly origin: Origin,
    socket: TLSSocket,
    options: Http2Options,
    idleTimeout: number,
  ) {
    this.limit = options.maxStreams;
    this.session = connectHttp2(origin.url, {
      createConnection: () => socket,
      peerMaxConcurrentStreams: options.maxStreams,
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
    });
    const session = this.session;
    session.setLocalWindowSize(CONNECTION_WINDOW);
    session.unref();
    // Errors reach the streams ('error' then 'close' on each); the session's own is only noted.
    session.on("error", () => {});
    session.on("remoteSettings", (s) => {
      this.limit = Math.max(1, Math.min(options.maxStreams, s.maxConcurrentStreams ?? options.maxStreams));
      origin.drain();
    });
    // GOAWAY: no new streams here; those in flight finish (or fail with REFUSED_STREAM, resent).
    session.once("goaway", () => this.leave());
    session.once("close", () => this.leave());
    if (options.pingInterval > 0) {
      watchSilence(socket, 2 * options.pingInterval);
      this.timers.push(setInterval(() => this.ping(), options.pingInterval).unref());
    }
    if (idleTimeout > 0) this.timers.push(setInterval(() => this.closeIfIdle(), idleTimeout).unref());
  }

  send(exchange: Exchange): void {
    this.streams++;
    this.used = true;
    let stream: Stream;
    try {
      stream = this.session.request(exchange.headers(), { endStream: !exchange.options.body }) as Stream;
    } catch (err) {
      this.streams--;
      exchange.fail(err as Error);
      return;
    }
    exchange.attach(stream, this);
  }

  /** A stream of this connection closed. */
  released(): void {
    this.streams--;
    this.origin.drain();
  }

  destroy(): void {
    this.leave();
    this.session.destroy();
  }

  /** Closing or closed: what is left of its streams finishes or fails. */
  get closing(): boolean {
    return this.session.closed || this.session.destroyed;
  }

  private ping(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.ping(noop);
  }

  private closeIfIdle(): void {
    if (this.streams === 0 && !this.used) {
      this.leave();
      this.session.close();
    }
    this.used = false;
  }

  /** No new streams on this connection. */
  private leave(): void {
    if (this.gone) return;
    this.gone = true;
    for (const t of this.timers) clearInterval(t);
    this.origin.remove(this);
  }
}

function noop(): void {}

/** One request as one stream, and the controller its handler holds (undici's DispatchController). */
class Exchange implements Dispatcher.DispatchController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  private stream: Stream | undefined;
  private connection: Connection | undefined;
  private responded = false;
  private settled = false;
  private error: Error | undefined;

  constructor(
    private readonly origin: Origin,
    readonly options: Dispatcher.DispatchOptions,
    private readonly handler: Dispatcher.DispatchHandler,
    private readonly fallback: PoolDispatcher,
  ) {}

  start(): void {
    this.handler.onRequestStart?.(this, NONE);
  }

  /** The request headers as HTTP/2 has them: pseudo-headers first, `host` as `:authority`. */
  headers(): Http2OutgoingHeaders {
    const { options } = this;
    const source = options.headers as Record<string, string | string[] | undefined> | null | undefined;
    const out: Http2OutgoingHeaders = {
      ":method": options.method,
      ":scheme": "https",
      ":authority": (source?.host as string | undefined) ?? this.origin.url.host,
      ":path": options.path,
    };
    if (source) for (const name in source) if (name !== "host") out[name] = source[name];
    return out;
  }

  attach(stream: Stream, connection: Connection): void {
    this.stream = stream;
    this.connection = connection;
    stream[EXCHANGE] = this;
    // Each fires at most once per stream: `on` spares a once-wrapper per listener and request.
    stream.on("response", onStreamResponse);
    stream.on("data", onStreamData);
    stream.on("end", onStreamEnd);
    stream.on("error", onStreamError);
    stream.on("close", onStreamClose);
    if (this.paused) stream.pause();
    const body = this.options.body;
    if (!body) return;
    if (Buffer.isBuffer(body) || typeof body === "string" || body instanceof Uint8Array) stream.end(body);
    else {
      const readable = body as Readable;
      readable.once("error", (err) => this.abort(err));
      readable.pipe(stream);
    }
  }

  /** The server answered HTTP/1.1 at ALPN: this request goes to the pool's undici Agent instead. */
  handOver(): void {
    if (!this.aborted) this.fallback.dispatch(this.options, this.handler);
  }

  response(headers: Http2Headers): void {
    this.responded = true;
    if (this.aborted) return;
    // node:http2 made this object for this response alone: it becomes the response's headers as it is.
    const status = Number(headers[HTTP2_HEADER_STATUS]);
    delete headers[HTTP2_HEADER_STATUS];
    this.handler.onResponseStart?.(this, status, headers as IncomingHttpHeaders);
  }

  data(chunk: Buffer): void {
    if (!this.aborted) this.handler.onResponseData?.(this, chunk);
  }

  end(): void {
    if (this.settled || this.aborted) return;
    if (!this.responded) this.fail(streamError(this.stream!, this.connection!.closing, this.origin.url, undefined));
    else {
      this.settled = true;
      this.handler.onResponseEnd?.(this, NONE);
    }
  }

  noteError(err: Error): void {
    this.error ??= err;
  }

  closed(): void {
    this.connection!.released();
    if (!this.settled && !this.aborted) this.fail(streamError(this.stream!, this.connection!.closing, this.origin.url, this.error));
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.handler.onResponseError?.(this, err);
  }

  // ---- DispatchController ----

  abort(reason: Error): void {
    if (this.aborted || this.settled) return;
    this.aborted = true;
    this.reason = reason;
    if (this.stream) {
      this.stream.removeListener("data", onStreamData);
      if (!this.stream.destroyed) this.stream.close(NGHTTP2_CANCEL);
    } else this.origin.forget(this);
    this.fail(reason);
  }

  pause(): void {
    this.paused = true;
    this.stream?.pause();
  }

  resume(): void {
    this.paused = false;
    this.stream?.resume();
  }
}

// Stream listeners shared by every stream (no closures per request): `this` is the stream.
function onStreamResponse(this: Stream, headers: Http2Headers): void {
  this[EXCHANGE].response(headers);
}
function onStreamData(this: Stream, chunk: Buffer): void {
  this[EXCHANGE].data(chunk);
}
function onStreamEnd(this: Stream): void {
  this[EXCHANGE].end();
}
function onStreamError(this: Stream, err: Error): void {
  this[EXCHANGE].noteError(err);
}
function onStreamClose(this: Stream): void {
  this[EXCHANGE].closed();
}

/** Connection-level codes pass as they are (classify.ts knows them). */
const NETWORK = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT", "ECONNREFUSED"]);

/**
 * Why a stream ended without a complete response. The connection going away, or the server refusing the
 * stream (GOAWAY, REFUSED_STREAM: it did not process it), reads as a reset connection: the failure kind
 * the breaker counts, and that a replayable request is resent once on.
 */
function streamError(stream: ClientHttp2Stream, gone: boolean, url: URL, error: Error | undefined): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (error && code && NETWORK.has(code)) return error;
  if (stream.rstCode === NGHTTP2_REFUSED_STREAM || (gone && stream.rstCode !== NGHTTP2_CANCEL) || code === "ERR_HTTP2_GOAWAY_SESSION") {
    const why = error?.message ?? (stream.rstCode === NGHTTP2_REFUSED_STREAM ? "stream refused" : "connection closed");
    return Object.assign(new Error(`HTTP/2 connection to ${url.host}: ${why} before the response was complete`), {
      code: "ECONNRESET",
      cause: error,
    });
  }
  if (error) return error;
  return Object.assign(new Error(`HTTP/2 stream to ${url.host} reset (code ${stream.rstCode}) before the response was complete`), {
    code: "ERR_HTTP2_STREAM_ERROR",
  });
}
