/**
 * THE config schema (docs/configuration.md is generated from it): root file, team route file, route, upstream kinds.
 * Every TypeScript config type is inferred from here; `npm run schema` writes the JSON Schema.
 * Route-level policy keys stay optional here: `defaults.ts` and the root `defaults` block fill them in.
 * The parts live in schema/: scalars (shared value types), upstreams, policy, route, grant, limits, tracing, root.
 */
import type { z } from "zod";
import type { grant } from "./schema/grant.js";
import type { limits } from "./schema/limits.js";
import type { circuitBreaker, pathRule, pool, retry } from "./schema/policy.js";
import type { rootSchema, routeFileSchema } from "./schema/root.js";
import type { routeSchema } from "./schema/route.js";
import type { tracing } from "./schema/tracing.js";
import type { kubernetesUpstream, tls } from "./schema/upstreams.js";

export { rootSchema, routeFileSchema } from "./schema/root.js";
export { UPSTREAM_KINDS } from "./schema/upstreams.js";

export type GrantConfig = z.output<typeof grant>;
export type RootFileConfig = z.output<typeof rootSchema>;
export type RouteFileConfig = z.output<typeof routeFileSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type KubernetesUpstreamConfig = z.output<typeof kubernetesUpstream>;
export type TlsConfig = z.output<typeof tls>;
export type RetryConfig = z.output<typeof retry>;
export type CircuitBreakerConfig = z.output<typeof circuitBreaker>;
export type PoolConfig = z.output<typeof pool>;
export type TracingConfig = z.output<typeof tracing>;
export type LimitsConfig = z.output<typeof limits>;
export type PathRuleConfig = z.output<typeof pathRule>;
