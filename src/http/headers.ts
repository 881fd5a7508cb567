/** Request and response headers across the proxy: hop-by-hop removal, x-forwarded-*, route edits. */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from "node:http";

/** RFC 9110 §7.6.1, plus the legacy ones proxies still see, and HTTP2-Settings (RFC 7540 §3.2.1), which an HTTP/2 upstream request refuses. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);
/** Headers attache sets on every upstream request; a route's `remove` may still take them away. */
const OWN = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id"];

/** A route's header edits, compiled once when the route is built. */
export interface HeaderEdits {
  readonly set: ReadonlyArray<readonly [string, string]>;
  /** Exact (lower-case) names, deleted after attache has set its own. */
  readonly remove: readonly string[];
  /** The `Prefix-*` patterns as one expression, tested on each of the app's header names. */
  readonly removeMatching: RegExp | undefined;
}

/** `set` and `remove` as configured (any case; `remove` entries may end in `*`): lower-cased, prefixes made one RegExp. */
export function compileHeaderEdits(set: Record<string, string> = {}, remove: readonly string[] = []): HeaderEdits {
  const names = remove.filter((r) => !r.endsWith("*")).map((r) => r.toLowerCase());
  const prefixes = remove.filter((r) => r.endsWith("*")).map((r) => r.slice(0, -1).toLowerCase());
  const removeMatching = prefixes.length ? new RegExp(`^(?:${prefixes.map(escapeRegExp).join("|")})`) : undefined;
  // Our own headers are set after the app's are copied: a pattern that covers one removes it by name.
  const own = removeMatching ? OWN.filter((name) => removeMatching.test(name)) : [];
  return {
    set: Object.entries(set).map(([k, v]) => [k.toLowerCase(), v] as const),
    remove: [...new Set([...names, ...own])],
    removeMatching,
  };
}

/** Headers for the upstream request. `upgrade` keeps Connection/Upgrade for WebSocket and SPDY. */
export function upstreamRequestHeaders(
  req: IncomingMessage,
  route: { readonly headerEdits: HeaderEdits },
  requestId: string,
  upgrade = false,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = connectionTokens(req.headers);
  const edits = route.headerEdits;
  const matching = edits.removeMatching;
  const headers = req.headers;
  // Object.keys, not Object.entries: no [name, value] array per header on every request.
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    // `Expect: 100-continue` was answered by our own listener; the upstream gets the body straight away.
    if (value === undefined || HOP_BY_HOP.has(name) || name === "expect" || named?.has(name) || matching?.test(name)) continue;
    out[name] = value;
  }
  if (upgrade) {
    out.connection = "upgrade";
    if (req.headers.upgrade) out.upgrade = req.headers.upgrade;
  }
  // Set, not appended to: the app is the only client, and an address it wrote would reach audit logs as fact.
  out["x-forwarded-for"] = req.socket.remoteAddress ?? "";
  out["x-forwarded-proto"] = "http";
  if (req.headers.host) out["x-forwarded-host"] = req.headers.host;
  out["x-request-id"] = requestId;
  for (const name of edits.remove) delete out[name];
  for (const [name, value] of edits.set) out[name] = value;
  return out;
}

/** Headers of the upstream's response as sent to the client. */
export function clientResponseHeaders(upstream: IncomingHttpHeaders, requestId: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = connectionTokens(upstream);
  for (const name of Object.keys(upstream)) {
    const value = upstream[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  out["x-request-id"] = requestId;
  return out;
}

/** Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionTokens(headers: IncomingHttpHeaders): Set<string> | undefined {
  const value = headers.connection;
  if (!value || value === "keep-alive" || value === "close") return undefined;
  return new Set(
    value
      .toLowerCase()
      .split(",")
      .map((t) => t.trim()),
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
