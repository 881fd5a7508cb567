/** Resilience and policy blocks of a route (retry, circuitBreaker, pool, path rules) and the root's `defaults` of them. */
import { z } from "zod";
import { DEFAULTS } from "../defaults.js";
import { formatDuration, formatSize } from "../units.js";
import { duration, method, regex, size } from "./scalars.js";

/** Defaults in descriptions come from DEFAULTS, written the way a config file would say them. */
const d = formatDuration;
const route = DEFAULTS.route;

const retryCondition = z
  .union([z.enum(["connect-failure", "reset", "timeout", "5xx"]), z.number().int().min(100).max(599)])
  .meta({ description: "connect-failure, reset, timeout, 5xx, or a status code (4xx included, e.g. 429)." });

export const retry = z.strictObject({
  attempts: z.number().int().min(1).max(10).meta({ description: "Total tries, the first one included." }),
  on: z
    .array(retryCondition)
    .min(1)
    .optional()
    .meta({
      description: `What is retried. With timeout listed, each try gets an equal share of the route timeout. Default [${route.retry.on.join(", ")}].`,
    }),
  backoff: duration
    .optional()
    .meta({ description: `Base of the exponential back-off with full jitter. Default ${d(route.retry.backoff)}.` }),
  maxBackoff: duration.optional().meta({ description: `Cap of one back-off. Default ${d(route.retry.maxBackoff)}.` }),
});

export const circuitBreaker = z.strictObject({
  enabled: z
    .boolean()
    .optional()
    .meta({ description: `Turns the breaker on or off (the bulkhead stays). Default ${route.circuitBreaker.enabled}.` }),
  errorThresholdPercentage: z
    .number()
    .min(1)
    .max(100)
    .optional()
    .meta({
      description: `Failed share of the requests in the window that opens the breaker. Default ${route.circuitBreaker.errorThresholdPercentage}.`,
    }),
  volumeThreshold: z
    .number()
    .int()
    .min(0)
    .optional()
    .meta({
      description: `Fewer requests than this in the window never open the breaker. Default ${route.circuitBreaker.volumeThreshold}.`,
    }),
  resetTimeout: duration.optional().meta({
    description: `How long an open breaker refuses (503 circuit_open) before one trial request. Default ${d(route.circuitBreaker.resetTimeout)}.`,
  }),
  rollingCountTimeout: duration
    .optional()
    .meta({ description: `Length of the window the breaker counts over. Default ${d(route.circuitBreaker.rollingCountTimeout)}.` }),
  rollingCountBuckets: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({ description: `Buckets the window is divided into. Default ${route.circuitBreaker.rollingCountBuckets}.` }),
  maxConcurrent: z.number().int().min(1).optional().meta({
    description: "Bulkhead: in-flight requests above this get 503 overloaded at once (not counted by the breaker). Default: unlimited.",
  }),
});

export const pool = z.strictObject({
  keepAlive: z
    .boolean()
    .optional()
    .meta({ description: `Reuse upstream connections. Default ${route.pool.keepAlive}.` }),
  maxSockets: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({
      description: `Connections per endpoint. Routes with equal pool and TLS settings share one pool (their keep-alive connections), and this bounds them together. Default ${route.pool.maxSockets}.`,
    }),
  maxFreeSockets: z.number().int().min(0).optional().meta({
    description: "Accepted but not enforced by the undici pool: idle connections close after idleTimeout; attache logs a warning.",
  }),
  idleTimeout: duration.optional().meta({
    description: `An idle pooled connection is closed after this (below Node servers' 5s keep-alive; shortened by the server's Keep-Alive hint). Default ${d(route.pool.idleTimeout)}; kubernetes routes ${d(route.kubernetes.idleTimeout)}, as client-go.`,
  }),
  connectTimeout: duration.optional().meta({
    description: `Limit on opening an upstream connection (Redis: until its ready check answers). Default ${d(route.pool.connectTimeout)}.`,
  }),
});

export const pathRule = z.strictObject({
  path: regex.meta({
    description:
      "Regular expression in RE2 syntax (no lookaround or backreferences; matched in time linear in the path) against the normalised path after the prefix. Deny rules ignore case.",
  }),
  methods: z.array(method).min(1).optional().meta({ description: "Methods the rule applies to. Default: all." }),
});
export const defaultsSchema = z.strictObject({
  timeout: duration.optional().meta({
    description: `Route timeout where a route sets none (kubernetes routes keep ${d(route.kubernetes.timeout)}). Built in: ${d(route.timeout)}.`,
  }),
  retry: retry.optional().meta({ description: "Retry of every route that sets none. Built in: off." }),
  circuitBreaker: circuitBreaker.optional().meta({ description: "Breaker settings of every route that sets none." }),
  pool: pool.optional().meta({ description: "Pool settings of every route that sets none." }),
  maxBodySize: size
    .optional()
    .meta({ description: `Request body limit of every route that sets none. Built in: ${formatSize(route.maxBodySize)}.` }),
});
