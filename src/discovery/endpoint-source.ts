/** The seam every discovery source implements (static, dns, kubernetes EndpointSlices). */
import type { EventEmitter } from "node:events";
import { urlHostPort } from "../net/address.js";

export interface Endpoint {
  /** Stable identity across refreshes: "http://10.0.0.1:8080". */
  readonly id: string;
  readonly protocol: "http:" | "https:";
  readonly host: string;
  readonly port: number;
  /** Path prefix of the endpoint URL, "" or "/base" (no trailing slash). */
  readonly basePath: string;
  /** The Host header for it: "host" on the scheme's default port, else "host:port". */
  readonly authority: string;
  /** "scheme://host:port", what the connection pool is keyed by. */
  readonly origin: string;
}

/** Emits "change" with the new endpoint list whenever it changes. */
export interface EndpointSource extends EventEmitter {
  readonly kind: string;
  /** Resolve once (discovery) before the route serves. */
  start(): Promise<void>;
  endpoints(): readonly Endpoint[];
  describe(): Record<string, unknown>;
  close(): void;
}

export function endpointFromUrl(url: string): Endpoint {
  const u = new URL(url);
  const protocol = u.protocol as Endpoint["protocol"];
  const { host, port } = urlHostPort(u);
  const basePath = u.pathname.replace(/\/+$/, "");
  return Object.freeze({ id: `${protocol}//${u.host}${basePath}`, protocol, host, port, basePath, authority: u.host, origin: u.origin });
}
