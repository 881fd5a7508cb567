/** A real redis-server (with requirepass) behind attache's /cache route, optionally with a RESP listener. */
import { startAttache, type AttacheUnderTest } from "./attache.js";
import { freePort, startRedis, type RedisServer } from "./redis-server.js";

export interface RedisRoute {
  redis: RedisServer;
  attache: AttacheUnderTest;
  /** The route's HTTP base, `${attache.url}/cache`. */
  base: string;
  /** The RESP listener's port (0 without `resp`). */
  resp: number;
  stop(): Promise<void>;
}

/** `redisYaml`: extra keys of the redis upstream; `routeExtra`: extra route lines (already indented). */
export async function startRedisRoute(
  redisYaml: string,
  options: { routeExtra?: string; resp?: boolean; rootExtra?: string; redisArgs?: string[] } = {},
): Promise<RedisRoute> {
  const redis = await startRedis({ extraArgs: options.redisArgs ?? [] });
  const resp = options.resp ? await freePort() : 0;
  const root = [
    ...(options.rootExtra ? [options.rootExtra] : []),
    "routes:",
    "  - prefix: /cache",
    ...(options.routeExtra ? [options.routeExtra] : []),
    "    upstream:",
    "      redis:",
    `        url: ${redis.url}`,
    "        passwordFile: secrets/redis-password",
    ...(resp ? [`        listen: 127.0.0.1:${resp}`] : []),
    ...redisYaml
      .split("\n")
      .filter(Boolean)
      .map((l) => `        ${l}`),
  ].join("\n");
  const attache = await startAttache({ root, files: { "secrets/redis-password": redis.password } });
  return {
    redis,
    attache,
    base: `${attache.url}/cache`,
    resp,
    async stop() {
      await attache.stop();
      await redis.stop();
    },
  };
}
