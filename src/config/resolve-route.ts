/** A route with every default applied: its own keys, then the root's `defaults`, then `DEFAULTS.route`. */
import { DEFAULTS } from "./defaults.js";
import { kubernetesDeny, type Admission } from "./grants.js";
import type { CircuitBreakerConfig, PathRuleConfig, PoolConfig, RetryConfig, RootFileConfig, RouteConfig } from "./schema.js";

export type ResolvedCircuitBreaker = Required<Omit<CircuitBreakerConfig, "maxConcurrent">> & Pick<CircuitBreakerConfig, "maxConcurrent">;
/** `maxFreeSockets` has no default: undici's pool does not enforce it (resilience/pool.ts). */
export type ResolvedPool = Required<Omit<PoolConfig, "maxFreeSockets">> & Pick<PoolConfig, "maxFreeSockets">;
export type ResolvedRetry = Required<RetryConfig>;

/** A route with every default applied, and where it came from. */
export interface ResolvedRoute
  extends Omit<RouteConfig, "name" | "stripPrefix" | "timeout" | "streaming" | "maxBodySize" | "circuitBreaker" | "pool" | "retry"> {
  name: string;
  stripPrefix: boolean;
  timeout: number;
  /** undefined: the upstream kind decides per request (kubernetes: watch, follow and GET lists). */
  streaming: boolean | undefined;
  maxBodySize: number;
  circuitBreaker: ResolvedCircuitBreaker;
  pool: ResolvedPool;
  retry: ResolvedRetry | undefined;
  source: { file: string; line: number; col: number; owner: string | undefined; admittedBy: Admission };
}

/** `deny.floor` and `deny.mayLiftDeny` decide a kubernetes route's deny list (grants/kubernetes.ts). */
export function resolveRoute(
  config: RouteConfig,
  root: RootFileConfig,
  source: ResolvedRoute["source"],
  deny: { floor: readonly PathRuleConfig[]; mayLiftDeny: boolean },
): ResolvedRoute {
  const d = root.defaults ?? {};
  const retry = config.retry ?? d.retry;
  return {
    ...config,
    // Resolved here, so that /routes shows the rules in force and a change of the floor rebuilds the route.
    ...(config.upstream.kubernetes ? { deny: [...kubernetesDeny(config, deny.floor, deny.mayLiftDeny)] } : {}),
    name: config.name ?? config.prefix,
    stripPrefix: config.stripPrefix ?? DEFAULTS.route.stripPrefix,
    timeout: config.timeout ?? d.timeout ?? (config.upstream.kubernetes ? DEFAULTS.route.kubernetes.timeout : DEFAULTS.route.timeout),
    streaming: config.streaming,
    maxBodySize: config.maxBodySize ?? d.maxBodySize ?? DEFAULTS.route.maxBodySize,
    circuitBreaker: { ...DEFAULTS.route.circuitBreaker, ...d.circuitBreaker, ...config.circuitBreaker },
    pool: {
      ...DEFAULTS.route.pool,
      ...(config.upstream.kubernetes ? { idleTimeout: DEFAULTS.route.kubernetes.idleTimeout } : {}),
      ...d.pool,
      ...config.pool,
    },
    retry: retry && {
      on: [...DEFAULTS.route.retry.on],
      backoff: DEFAULTS.route.retry.backoff,
      maxBackoff: DEFAULTS.route.retry.maxBackoff,
      ...retry,
    },
    source,
  };
}
