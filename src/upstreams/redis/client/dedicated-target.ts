/** Where a client's dedicated connection goes: the server the shared connection is on now, with the same login, db and TLS. */
import { Cluster, Redis } from "ioredis";
import type { ConnectionOptions } from "node:tls";
import type { Login } from "./credentials.js";
import type { DedicatedTarget } from "./dedicated-connection.js";
import { socketOf } from "./ioredis-tap.js";

/** What the route fixes at load: the url's endpoint (none for Sentinel and Cluster), TLS, db, connect timeout. */
export interface FixedTarget {
  endpoint: { host: string; port: number } | undefined;
  tls: ConnectionOptions | undefined;
  db: number;
  connectTimeout: number;
}

/** Throws `unreachable(...)` when the shared connection has no server to name yet. */
export function dedicatedTarget(
  redis: Redis | Cluster,
  fixed: FixedTarget,
  login: Login,
  unreachable: (err: Error) => Error,
): DedicatedTarget {
  let endpoint = fixed.endpoint;
  if (redis instanceof Cluster) {
    // XXX(redis owner): one master for every dedicated connection. Pub/sub works from any node;
    // a transaction or blocking command on keys of another master gets Redis' own MOVED error.
    const node = redis.status === "ready" ? redis.nodes("master")[0] : undefined;
    if (!node) throw unreachable(new Error("cluster not ready"));
    endpoint = { host: node.options.host ?? "127.0.0.1", port: node.options.port ?? 6379 };
  } else if (!endpoint) {
    // Sentinel: the master ioredis resolved is the other end of its live socket.
    const stream = redis instanceof Redis ? socketOf(redis) : undefined;
    if (redis.status !== "ready" || !stream?.remoteAddress || !stream.remotePort) throw unreachable(new Error("no master resolved yet"));
    endpoint = { host: stream.remoteAddress, port: stream.remotePort };
  }
  const { username, password } = login;
  return { ...endpoint, tls: fixed.tls, username, password, db: fixed.db, connectTimeout: fixed.connectTimeout };
}
