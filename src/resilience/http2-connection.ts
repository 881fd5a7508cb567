/**
 * One HTTP/2 connection of an origin (http2-sessions.ts): its session, the streams on it up to the
 * server's limit, a PING every pingInterval, and its end (GOAWAY, close, idle), after which the origin
 * no longer sends it streams.
 */
import { connect as connectHttp2, type ClientHttp2Session } from "node:http2";
import type { TLSSocket } from "node:tls";
import type { Exchange, Stream } from "./http2-exchange.js";
import { watchSilence } from "./silent-connection.js";

/**
 * Flow-control windows, as undici's HTTP/2 client had them: a stream may have 256 KiB in flight (a list
 * does not wait on a 64 KiB window per round trip), the connection 512 KiB. Node acknowledges the
 * connection's window as data arrives and a stream's as it is read, so a paused stream stalls only itself.
 */
const STREAM_WINDOW = 256 * 1024;
const CONNECTION_WINDOW = 512 * 1024;

export interface Http2Options {
  /** Streams per HTTP/2 connection (Node's default SETTINGS_MAX_CONCURRENT_STREAMS is 100). */
  maxStreams: number;
  /** A PING this often; a connection that sends nothing back for two intervals is closed. 0: neither. */
  pingInterval: number;
}

/** What a connection tells its origin: streams may go (a stream ended, the limit grew), and its end. */
export interface ConnectionOwner {
  readonly url: URL;
  drain(): void;
  remove(connection: Connection): void;
}

/** One connection: its session, its streams and timers. */
export class Connection {
  streams = 0;
  limit: number;
  private readonly session: ClientHttp2Session;
  private used = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private gone = false;

  constructor(
    private readonly origin: ConnectionOwner,
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
