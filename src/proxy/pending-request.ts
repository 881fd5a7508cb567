/** The per-request state the pipeline's steps read and fill in, and the shape of a step. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ErrorCode } from "../errors.js";
import type { Generation } from "../lifecycle/generation.js";
import type { Span } from "../observability/otel.js";
import type { RequestLease } from "../resilience/inflight.js";
import type { Route } from "../routing/route.js";

/** A request while the steps run; once `route` is set it is the upstream's RequestContext. */
export interface PendingRequest {
  req: IncomingMessage;
  res: ServerResponse;
  generation: Generation;
  startedAt: number;
  requestId: string;
  route: Route | undefined;
  path: string;
  query: string;
  upstreamTarget?: string;
  /** attache's own error code when attache answered (or cut) the response: the refusal flag of metrics and the access log. */
  error?: ErrorCode | undefined;
  /** The connection, kept (req.socket is null once it is detached), and its bytes written before this response: what it wrote since is the response. */
  readonly socket: Socket | undefined;
  readonly writtenBefore: number;
  /** The server span, when tracing is on (observability/tracing.ts). */
  span?: Span | undefined;
  /** The client sent `Expect: 100-continue` and waits for `100 Continue` before its body. */
  expectsContinue?: boolean;
  /** Its places in the in-flight counts (drain; attache_inflight_requests once forwarded), given back once when it closes. */
  readonly lease: RequestLease;
  /** An upgrade request (WebSocket, SPDY): the raw connection and the bytes read past its head. */
  upgrade?: { readonly socket: Duplex; readonly head: Buffer };
}

/** One step of the request path: returns, or throws an AttacheError that http/respond-error.ts renders. */
export type Step = (request: PendingRequest) => void;
