/** The grant check of a redis route: servers, keyPrefix and database, against `redis` in the grant. */
import { formatHostPort, urlHostPort } from "../../net/address.js";
import type { RouteConfig } from "../schema.js";
import type { Grant, GrantProblem } from "./grant.js";

type RedisConfig = NonNullable<RouteConfig["upstream"]["redis"]>;

/** A redis route's servers, keyPrefix and database must be the ones its grant allows. */
export function checkRedis(redis: RedisConfig, grant: Grant, key: string, problems: GrantProblem[], matched: string[]): void {
  const urls = grant.redis.urls;
  if (urls) {
    const granted = urls.map((u) => new URL(u));
    const hostPort = (u: URL) => {
      const { host, port } = urlHostPort(u);
      return formatHostPort(host.toLowerCase(), port);
    };
    if (redis.url) {
      const want = new URL(redis.url);
      const hit = granted.find((g) => g.protocol === want.protocol && hostPort(g) === hostPort(want));
      if (hit) matched.push(`redis ${hit.protocol}//${hostPort(hit)}`);
      else
        problems.push({
          path: ["upstream", "redis", "url"],
          message: `redis server ${want.protocol}//${hostPort(want)} is not granted to ${grant.team} (${key}.redis.urls: ${urls.join(", ")})`,
        });
    }
    const nodes = redis.sentinels
      ? (["sentinels", redis.sentinels] as const)
      : redis.cluster
        ? (["cluster", redis.cluster] as const)
        : undefined;
    nodes?.[1].forEach((node, i) => {
      const want = new URL(`redis://${node}`);
      if (granted.some((g) => hostPort(g) === hostPort(want))) return;
      problems.push({
        path: ["upstream", "redis", nodes[0], i],
        message: `redis server ${node} is not granted to ${grant.team} (${key}.redis.urls: ${urls.join(", ")})`,
      });
    });
  }
  const prefix = grant.redis.keyPrefix;
  if (prefix !== undefined) {
    if (redis.keyPrefix === undefined || !redis.keyPrefix.startsWith(prefix)) {
      const path = redis.keyPrefix === undefined ? ["upstream", "redis"] : ["upstream", "redis", "keyPrefix"];
      problems.push({ path, message: `keyPrefix must start with ${JSON.stringify(prefix)} (${key}.redis.keyPrefix)` });
    } else matched.push(`keyPrefix ${JSON.stringify(prefix)}`);
  }
  const db = grant.redis.db;
  if (db !== undefined) {
    const used = redisDb(redis);
    if (used !== db) {
      const how = redis.url ? `use db ${db}` : `the platform pins db ${db}, which only a url route can select`;
      problems.push({
        path: redis.url ? ["upstream", "redis", "url"] : ["upstream", "redis"],
        message: `database ${used} is not granted to ${grant.team}: ${how} (${key}.redis.db)`,
      });
    } else matched.push(`db ${db}`);
  }
}

/** The database a redis route selects: the url's path (`redis://host:6379/2`), else 0. */
export function redisDb(redis: RedisConfig): number {
  const path = redis.url ? new URL(redis.url).pathname : "";
  return path.length > 1 ? Number(path.slice(1)) || 0 : 0;
}
