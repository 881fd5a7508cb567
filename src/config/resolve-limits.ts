/** The root's `limits` block resolved over `DEFAULTS.limits`. */
import { DEFAULTS } from "./defaults.js";
import type { LimitsConfig } from "./schema.js";

/** Every limit with its value: the root's `limits` over `DEFAULTS.limits`, one level at a time. */
export interface Limits {
  headersTimeout: number;
  keepAliveTimeout: number;
  maxConnections: number;
  redis: { maxQueryBuffer: number; maxBulkLength: number; maxArgs: number; output: { hard: number; soft: number; softFor: number } };
}

export function resolveLimits(l: LimitsConfig = {}): Limits {
  const d = DEFAULTS.limits;
  return {
    headersTimeout: l.headersTimeout ?? d.headersTimeout,
    keepAliveTimeout: l.keepAliveTimeout ?? d.keepAliveTimeout,
    maxConnections: l.maxConnections ?? d.maxConnections,
    redis: { ...d.redis, ...l.redis, output: { ...d.redis.output, ...l.redis?.output } },
  };
}
