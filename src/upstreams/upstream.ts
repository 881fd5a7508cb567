/** The seam every upstream kind implements (registry.ts lists them): one exchange in, one response out. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { AttacheError } from "../errors.js";
import type { ResolvedRoute } from "../config/validate.js";
import type { PathRuleConfig, UPSTREAM_KINDS } from "../config/schema.js";
import type { Span } from "../observability/otel.js";
import type { Resilience } from "../resilience/policy-stack.js";

/** One HTTP request on its way through a route; built by proxy/pipeline.ts. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: RouteRuntime;
  /** Normalised path after the prefix (if stripped), always starting with "/". Exactly what policy saw. */
  readonly path: string;
  /** Raw query string including "?", or "". */
  readonly query: string;
  readonly requestId: string;
  readonly startedAt: number;
  /** Set by the upstream for the access log: which endpoint answered. */
  upstreamTarget?: string;
  /** Set by the upstream for the access log: tries made (retries and resends included). */
  attempts?: number;
  /** Set by the upstream for the access log: ms from the answering try's dispatch to its response head. */
  upstreamMs?: number;
  /** The request's server span, when tracing is on and the request is traced: the parent of the upstream's spans. */
  readonly span?: Span | undefined;
}

/** What an upstream sees of its route: config and shared resilience (built once per route). */
export interface RouteRuntime {
  readonly config: ResolvedRoute;
  readonly resilience: Resilience;
}

export interface Upstream {
  readonly kind: (typeof UPSTREAM_KINDS)[number];
  /** The kind's `deny` for routes that set none (kubernetes: exec, attach, portforward); a route's own `deny` replaces it. */
  readonly defaultDeny?: readonly PathRuleConfig[];
  /** Headers (names, or prefixes ending in `*`) removed from every app request before the route's own `headers.remove` (kubernetes: identity headers). */
  readonly removeHeaders?: readonly string[];
  /**
   * Serve one request. Errors thrown before the response has started are rendered by
   * http/respond-error.ts; once headers are out, the upstream ends or destroys the response itself.
   */
  handle(ctx: RequestContext): Promise<void>;
  /** WebSocket / SPDY upgrade requests, after routing and policy. Absent: upgrades are refused. */
  upgrade?(ctx: RequestContext, socket: Duplex, head: Buffer): Promise<void>;
  /** Kind-specific error body (kubernetes: a Status object). Absent: attache's JSON error body (http/respond-error.ts). */
  renderError?(err: AttacheError): { contentType: string; body: string };
  /**
   * Resolves once the upstream may be swapped into a table: the listener it owns (a redis route's
   * RESP port) is bound. Rejects when it cannot bind; the start or reload then fails for its route.
   */
  readiness(): Promise<void>;
  /** Kind-specific, credential-free state for /routes and `attache routes`. */
  describe(): Record<string, unknown>;
  /** Release sockets, timers, watches. Called once, when the route is gone and idle. */
  close(): Promise<void>;
}
