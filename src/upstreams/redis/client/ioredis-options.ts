/** How attache sets up ioredis (a Cluster's options) and reads what ioredis hands back (names, parsed replies). */
import { exists } from "@ioredis/commands";
import type { ClusterOptions, RedisOptions } from "ioredis";
import type { ConnectionOptions } from "node:tls";
import { reconnectDelay } from "../../../resilience/backoff.js";
import type { RespValue } from "../resp/value.js";
import type { Login } from "./credentials.js";

/** Reconnect back-off (backoff.ts, full jitter): 50ms doubling to 1s. Redis back from a restart is in use within ~1s. */
export const RECONNECT_BASE_MS = 50;
export const RECONNECT_CAP_MS = 1_000;

/** The shared connection's options (client/redis-client.ts); a Cluster's nodes start from them (clusterOptions). */
export function sharedOptions(o: {
  route: string;
  login: Login;
  db: number;
  tls: ConnectionOptions | undefined;
  connectTimeout: number;
  sentinel: boolean;
}): RedisOptions {
  return {
    ...o.login,
    db: o.db,
    ...(o.tls ? { tls: o.tls } : {}),
    connectionName: `attache:${o.route}`,
    connectTimeout: o.connectTimeout,
    // Fail fast while Redis is away: nothing is queued offline, nothing is resent after a
    // reconnect (a resent INCR would run twice), and in-flight commands fail at the first disconnect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    // At least 1ms: ioredis takes 0 as "reconnect in the same turn".
    retryStrategy: (times) => reconnectDelay(times, RECONNECT_BASE_MS, RECONNECT_CAP_MS),
    // A master demoted to a replica answers writes with READONLY: reconnect (Sentinel names the new one).
    reconnectOnError: o.sentinel ? (err) => (err.message.startsWith("READONLY") ? 1 : false) : null,
    noDelay: true,
    keepAlive: 30_000,
  };
}

/**
 * The Cluster's options from the route's connection options: the same reconnect back-off, a few
 * redirections and quick retries while slots move (a failover or resharding), bounded by the
 * route's deadline anyway.
 *
 * The offline queue stays on: with it off, ioredis refuses a command for a node whose connection is
 * still being made and retries it ~100ms later, behind commands the same client sent after it, so a
 * client's writes to one key land out of order. With it on, such a command waits in that node's
 * queue, in order, until the node is ready. Once the cluster has been ready, a cluster that is away
 * still fails fast (RedisClient.call); a command left waiting is bounded by the route's deadline.
 */
export function clusterOptions(node: RedisOptions, connectTimeout: number): ClusterOptions {
  const { retryStrategy, reconnectOnError: _unused, ...redisOptions } = node;
  return {
    redisOptions,
    enableOfflineQueue: true,
    enableReadyCheck: true,
    clusterRetryStrategy: (times) => retryStrategy!(times) as number,
    // MOVED and ASK are followed at once, in the order the replies came, which keeps a client's order.
    // A command retried later (ioredis' delay queue, on a lost node, CLUSTERDOWN or TRYAGAIN) would
    // go behind commands the same client sent after it: those fail at once instead, as an upstream
    // error (failover/cluster-errors.ts), and the client decides.
    maxRedirections: 16,
    retryDelayOnMoved: 0,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 0,
    slotsRefreshTimeout: connectTimeout,
  };
}

/** Upper-case a known command's name: ioredis keys its argument/reply transformers (hset, hgetall) by lower-case name. */
export function commandName(arg: Buffer): string {
  const text = arg.toString("latin1");
  const lower = text.toLowerCase();
  return exists(lower) ? lower.toUpperCase() : arg.toString();
}

export function fromParsed(value: unknown): RespValue {
  if (value === null || value === undefined) return { type: "bulk", value: null };
  if (Buffer.isBuffer(value)) return { type: "bulk", value };
  if (typeof value === "number") return { type: "integer", value: String(value) };
  if (typeof value === "string") return { type: "bulk", value: Buffer.from(value) };
  if (Array.isArray(value)) return { type: "array", value: value.map(fromParsed) };
  if (value instanceof Error) return { type: "error", value: value.message };
  return { type: "bulk", value: Buffer.from(String(value)) };
}
