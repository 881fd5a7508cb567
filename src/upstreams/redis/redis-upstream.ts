/**
 * The redis upstream (docs/redis.md): an HTTP API at the route's prefix and, with `listen`, a RESP
 * listener (listener/), both over the route's one ioredis connection (client/redis-client.ts), through
 * the route's allowlist (commands/command-policy.ts), keyPrefix (commands/key-namespace.ts) and
 * resilience (commands/command-runner.ts). Layers: resp/ (the protocol), client/ (Redis), failover/
 * (Sentinel and Cluster topology), commands/ (policy and running), listener/ and http/ (the two
 * faces; the HTTP API's routes are in http/http-api.ts).
 */
import type { Limits, ResolvedRoute } from "../../config/validate.js";
import { log } from "../../observability/log.js";
import type { Resilience } from "../../resilience/policy-stack.js";
import type { RequestContext, Upstream } from "../upstream.js";
import { RedisClient } from "./client/redis-client.js";
import { CommandPolicy } from "./commands/command-policy.js";
import { CommandRunner } from "./commands/command-runner.js";
import { KeyNamespace } from "./commands/key-namespace.js";
import { RedisHttpApi } from "./http/http-api.js";
import type { RespBackend } from "./listener/backend.js";
import { RespListener } from "./listener/resp-listener.js";

export class RedisUpstream implements Upstream, RespBackend {
  readonly kind = "redis" as const;
  readonly client: RedisClient;
  readonly runner: CommandRunner;
  /** Resolves when the RESP listener is bound (at once without `listen`); rejects when its address is taken. */
  readonly ready: Promise<void>;
  private readonly listener: RespListener | undefined;
  private readonly http: RedisHttpApi;

  constructor(
    readonly route: ResolvedRoute,
    /** The route's own: HTTP requests and RESP commands share one breaker, bulkhead and deadline. */
    private readonly routeResilience: Resilience,
    /** The root config's bounds on clients (arguments, sizes, output). */
    readonly limits: Limits,
  ) {
    const config = route.upstream.redis!;
    this.client = new RedisClient(route);
    this.runner = new CommandRunner(
      route,
      this.client,
      new CommandPolicy({ commands: config.commands, prefixed: Boolean(config.keyPrefix), db: this.client.db }),
      new KeyNamespace(config.keyPrefix),
    );
    this.http = new RedisHttpApi(route, limits, this.client, this.runner, () => this.infoText());
    if (config.listen) {
      this.listener = new RespListener(config.listen, this, { ...limits.redis, maxConnections: limits.maxConnections });
      this.ready = this.listener.start();
      this.ready.catch((err: Error) =>
        log.error({ route: route.name, listen: config.listen, err: err.message }, "redis RESP listener could not bind"),
      );
    } else this.ready = Promise.resolve();
  }

  resilience(): Resilience {
    return this.routeResilience;
  }

  /** The bound RESP port (tests ask for port 0). */
  get respPort(): number | undefined {
    return this.listener?.port;
  }

  serverVersion(): string {
    return this.client.serverVersion ?? "7.0.0";
  }

  infoText(): string {
    return [
      "# Server",
      `redis_version:${this.serverVersion()}`,
      "redis_mode:standalone",
      `attache_route:${this.route.name}`,
      `attache:this is attache, an ambassador for route ${this.route.name}; INFO is answered by attache (list INFO in the route's commands to read Redis' own)`,
      "",
      "# Replication",
      "role:master",
      "",
      "# Persistence",
      "loading:0",
      "",
    ].join("\r\n");
  }

  handle(ctx: RequestContext): Promise<void> {
    return this.http.handle(ctx);
  }

  /** The RESP listener bound (`ready`). */
  readiness(): Promise<void> {
    return this.ready;
  }

  describe(): Record<string, unknown> {
    const config = this.route.upstream.redis!;
    return {
      ...this.client.describe(),
      keyPrefix: config.keyPrefix ?? null,
      ...this.runner.policy.describe(),
      listen: config.listen ?? null,
      ...(this.listener ? { respClients: this.listener.clients } : {}),
    };
  }

  async close(): Promise<void> {
    await this.listener?.close();
    await this.client.close();
  }
}

/** The upstream factory for kind.ts. `resilience`: the route's stack, when the caller has it. */
export function createRedisUpstream(route: ResolvedRoute, resilience: Resilience, limits: Limits): RedisUpstream {
  return new RedisUpstream(route, resilience, limits);
}
