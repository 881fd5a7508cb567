/** How attache sets up ioredis (a Cluster's options) and reads what ioredis hands back (names, parsed replies). */
import { exists } from "@ioredis/commands";
import type { ClusterOptions, RedisOptions } from "ioredis";
import type { RespValue } from "../resp/value.js";

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
