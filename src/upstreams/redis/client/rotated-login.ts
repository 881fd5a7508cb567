/** A rotated Redis secret taken into use without a reconnect (credentials.ts watches the files). */
import { Cluster, type Redis } from "ioredis";
import { log } from "../../../observability/log.js";
import type { Login } from "./credentials.js";

/**
 * The next (re)connect uses the new login, and a live standalone or Sentinel connection
 * re-authenticates now with AUTH, so a rotation costs no reconnect and no failed command.
 */
export function useRotatedLogin(redis: Redis | Cluster, creds: Login, route: string): void {
  if (redis instanceof Cluster) {
    // New node connections log in with the new secret; live ones keep their login until they reconnect.
    Object.assign(redis.options.redisOptions ?? {}, creds);
    for (const node of redis.nodes()) Object.assign(node.options, creds);
    return;
  }
  Object.assign(redis.options, creds);
  if (redis.status !== "ready" || creds.password === undefined) return;
  const args = creds.username ? [creds.username, creds.password] : [creds.password];
  redis.call("AUTH", ...args).then(
    () => log.info({ route }, "redis re-authenticated with the rotated secret"),
    (err: Error) => log.warn({ route, err: err.message }, "redis refused the rotated secret; the connection keeps its previous login"),
  );
}
