/**
 * One request as one HTTP/2 stream (http2-sessions.ts): the stream's events become the undici
 * handler's calls, and the handler's pause/resume/abort act on the stream. Why a stream ended without a
 * complete response is told here too (streamError), as the resilience stack classifies it.
 */
import type { IncomingHttpHeaders } from "node:http";
import {
  constants,
  type ClientHttp2Stream,
  type IncomingHttpHeaders as Http2Headers,
  type OutgoingHttpHeaders as Http2OutgoingHeaders,
} from "node:http2";
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";

const { HTTP2_HEADER_STATUS, NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = constants;
const EXCHANGE = Symbol("attache.h2exchange");
/** The request context and trailers handed to handlers: none. */
const NONE = Object.freeze({});
export type Stream = ClientHttp2Stream & { [EXCHANGE]: Exchange };

/** The origin an exchange belongs to: its address, and the queue an exchange aborted before its stream leaves. */
export interface ExchangeOrigin {
  readonly url: URL;
  forget(exchange: Exchange): void;
}

/** The connection an exchange's stream is on: whether it is closing, and the end of each stream. */
export interface StreamConnection {
  readonly closing: boolean;
  released(): void;
}

/** Where a request goes when the upstream answered HTTP/1.1 at ALPN: the pool's undici Agent. */
export interface Fallback {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
}

/** One request as one stream, and the controller its handler holds (undici's DispatchController). */
export class Exchange implements Dispatcher.DispatchController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  private stream: Stream | undefined;
  private connection: StreamConnection | undefined;
  private responded = false;
  private settled = false;
  private error: Error | undefined;

  constructor(
    private readonly origin: ExchangeOrigin,
    readonly options: Dispatcher.DispatchOptions,
    private readonly handler: Dispatcher.DispatchHandler,
    private readonly fallback: Fallback,
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

  attach(stream: Stream, connection: StreamConnection): void {
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
