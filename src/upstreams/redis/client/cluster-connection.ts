/** A Cluster route's ioredis Cluster: the reply tap on every node's connection, and a restart should it ever end. */
import { Cluster, type ClusterOptions, type Redis } from "ioredis";
import { RECONNECT_CAP_MS } from "./ioredis-options.js";
import { tapReplies } from "./reply-tap.js";

export function openCluster(
  seeds: { host: string; port: number }[],
  options: ClusterOptions,
  route: string,
  closed: () => boolean,
): Cluster {
  const redis = new Cluster(seeds, options);
  // Every node connection gets the tap (nodes connect lazily, and come and go with the topology).
  redis.on("+node", (node: Redis) => node.on("connect", () => tapReplies(node, route)));
  // Not expected (the retry strategy never gives up), but a route must never stay dead.
  redis.on("end", () => {
    if (!closed()) setTimeout(() => !closed() && redis.status === "end" && redis.connect().catch(() => {}), RECONNECT_CAP_MS).unref();
  });
  return redis;
}
