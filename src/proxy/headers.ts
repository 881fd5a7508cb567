/** Request and response headers across the proxy: hop-by-hop removal, x-forwarded-*, route edits. */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { Route } from "../routing/route.js";

/** RFC 9110 §7.6.1, plus the legacy ones proxies still see. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]);

/** Headers for the upstream request. `upgrade` keeps Connection/Upgrade for WebSocket and SPDY. */
export function upstreamRequestHeaders(req: IncomingMessage, route: Route, requestId: string, upgrade = false): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = connectionTokens(req.headers);
  for (const [name, value] of Object.entries(req.headers)) {
    // `Expect: 100-continue` was answered by our own listener; the upstream gets the body straight away.
    if (value === undefined || HOP_BY_HOP.has(name) || name === "expect" || named?.has(name)) continue;
    out[name] = value;
  }
  if (upgrade) {
    out.connection = "upgrade";
    if (req.headers.upgrade) out.upgrade = req.headers.upgrade;
  }
  const remote = req.socket.remoteAddress ?? "";
  const prior = req.headers["x-forwarded-for"];
  out["x-forwarded-for"] = prior ? `${prior}, ${remote}` : remote;
  out["x-forwarded-proto"] = "http";
  if (req.headers.host) out["x-forwarded-host"] = req.headers.host;
  out["x-request-id"] = requestId;
  for (const name of route.headerEdits.remove) delete out[name];
  for (const [name, value] of route.headerEdits.set) out[name] = value;
  return out;
}

/** Headers of the upstream's response as sent to the client. */
export function clientResponseHeaders(upstream: IncomingHttpHeaders, requestId: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = connectionTokens(upstream);
  for (const [name, value] of Object.entries(upstream)) {
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
  return new Set(value.toLowerCase().split(",").map((t) => t.trim()));
}
