/** One route: its prefix, upstream, policy and header changes, with defaults named in the descriptions. */
import { z } from "zod";
import { DEFAULTS } from "../defaults.js";
import { formatDuration, formatSize } from "../units.js";
import { circuitBreaker, pathRule, pool, retry } from "./policy.js";
import { duration, method, size } from "./scalars.js";
import { upstream } from "./upstreams.js";

/** Defaults in descriptions come from DEFAULTS, written the way a config file would say them. */
const d = formatDuration;
const route = DEFAULTS.route;

export const routeSchema = z
  .strictObject({
    prefix: z
      .string()
      .regex(
        /^\/([A-Za-z0-9._~!$&'()*+,;=:@-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*)?$/,
        "prefix must start with / and contain plain path segments (no trailing /, no empty, . or .. segments)",
      )
      .refine((p) => !p.split("/").some((s) => s === "." || s === ".."), "prefix must not contain . or .. segments")
      .meta({
        description:
          "Path prefix on the app listener; unique across files; longest prefix wins; matches on segment boundaries (/pay never matches /payments).",
      }),
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]+$/, "name may contain letters, digits and _ . : -")
      .optional()
      .meta({ description: "Stable id in metrics and logs. Default: the prefix." }),
    stripPrefix: z
      .boolean()
      .optional()
      .meta({
        description: `Remove the prefix before forwarding (policy checks the path after the prefix either way). Default ${route.stripPrefix}.`,
      }),
    upstream: upstream.meta({ description: "Where the route goes: exactly one of http, kubernetes, redis." }),
    methods: z.array(method).min(1).optional().meta({ description: "Allowed methods; others get 405 with Allow. Default: all." }),
    allow: z
      .array(pathRule)
      .optional()
      .meta({ description: "If set, only paths matching a rule pass (403 path_denied). Default: allow all." }),
    deny: z.array(pathRule).optional().meta({
      description:
        "Paths refused with 403 path_denied; deny wins over allow. Matched against the strict and a lenient (most-decoded) reading of the path. Kubernetes routes: see the deny floor.",
    }),
    timeout: duration.optional().meta({
      description: `Deadline for the whole exchange, up to the last byte, retries included. Default: defaults.timeout, else ${d(route.timeout)} (kubernetes: ${d(route.kubernetes.timeout)}).`,
    }),
    streaming: z
      .boolean()
      .optional()
      .meta({
        description: `true: timeout applies only until the response headers arrive. Default ${route.streaming}; kubernetes routes: on for watch=true, follow=true and GET lists.`,
      }),
    retry: retry.optional().meta({
      description:
        "Retries of idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE) whose body can be sent again (none, or declared ≤ 64 KiB). Default: off.",
    }),
    circuitBreaker: circuitBreaker
      .optional()
      .meta({ description: "Breaker (opossum) and bulkhead of the route. Default: defaults.circuitBreaker, else the built-in values." }),
    pool: pool.optional().meta({ description: "Keep-alive connection pool of the route." }),
    headers: z
      .strictObject({
        set: z.record(z.string(), z.string()).optional().meta({ description: "Headers set on the request to the upstream." }),
        remove: z
          .array(
            z.string().regex(/^[!#$%&'+.^_`|~0-9A-Za-z-]+\*?$/, "expected a header name, or a prefix ending in * (e.g. Impersonate-*)"),
          )
          .optional()
          .meta({ description: "Headers removed from the request to the upstream: names, or prefixes ending in * (X-Remote-*)." }),
      })
      .optional()
      .meta({ description: "Changes to the request headers sent upstream. Default: none (kubernetes routes remove identity headers)." }),
    maxBodySize: size
      .optional()
      .meta({ description: `Request body limit; past it 413 body_too_large. Default ${formatSize(route.maxBodySize)}.` }),
  })
  .superRefine((route, ctx) => {
    // The kind removes the app's identity headers; a route file must not put them back by `set` unless it opts in.
    if (!route.upstream.kubernetes || route.upstream.kubernetes.identityHeaders === "pass") return;
    for (const name of Object.keys(route.headers?.set ?? {})) {
      if (isIdentityHeader(name)) {
        ctx.addIssue({
          code: "custom",
          path: ["headers", "set", name],
          message: `${name} is an identity header: a kubernetes route sets it only with upstream.kubernetes.identityHeaders: pass`,
        });
      }
    }
  });

function isIdentityHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return DEFAULTS.route.kubernetes.identityHeaders.some((h) =>
    h.endsWith("*") ? lower.startsWith(h.slice(0, -1).toLowerCase()) : lower === h.toLowerCase(),
  );
}
