/** The redis upstream kind: an HTTP API and an optional RESP listener in front of a server, a Sentinel set or a Cluster. */
import { loaded, type UpstreamKind } from "../upstream-kind.js";

/** ioredis and the RESP codec are loaded only for configs with a redis route. */
let redisModule: typeof import("./redis-upstream.js") | undefined;

export const redisKind: UpstreamKind = {
  async load() {
    redisModule ??= await import("./redis-upstream.js");
  },
  create: (route, resilience, limits) => loaded(redisModule, route).createRedisUpstream(route, resilience, limits),
  summary(route) {
    const redis = route.upstream.redis!;
    return `redis ${redis.url ? redactUrl(redis.url) : redis.sentinels ? `sentinel:${redis.name}` : "cluster"}${redis.listen ? ` resp:${redis.listen}` : ""}`;
  },
};

/** A password in a URL is never printed. */
function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}
