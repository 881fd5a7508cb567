/** Route: the compiled, immutable runtime form of one configured route. */
import type { ResolvedRoute } from "../config/validate.js";
import { formatDuration } from "../config/units.js";
import { routeMeter } from "../observability/route-meter.js";
import { compileHeaderEdits, type HeaderEdits } from "../http/headers.js";
import type { Resilience } from "../resilience/policy-stack.js";
import type { RouteRuntime, Upstream } from "../upstreams/upstream.js";
import { RoutePolicy } from "./policy.js";

export class Route implements RouteRuntime {
  readonly name: string;
  readonly prefix: string;
  readonly policy: RoutePolicy;
  /** Header edits for the upstream request, compiled once here: the kind's removals, then the route's. */
  readonly headerEdits: HeaderEdits;
  /** Same key: same upstream, pools and breaker; reload carries them over (docs/operations.md, Lifecycle). */
  readonly key: string;
  readonly meter: ReturnType<typeof routeMeter>;

  constructor(
    readonly config: ResolvedRoute,
    readonly upstream: Upstream,
    readonly resilience: Resilience,
  ) {
    this.name = config.name;
    this.prefix = config.prefix;
    // A route without `deny` gets its upstream kind's default deny; a route that sets `deny` (even []) replaces it.
    this.policy = new RoutePolicy(config.name, { ...config, deny: config.deny ?? upstream.defaultDeny });
    this.headerEdits = compileHeaderEdits(config.headers?.set, [...(upstream.removeHeaders ?? []), ...(config.headers?.remove ?? [])]);
    this.key = routeKey(config);
    this.meter = routeMeter(config.name);
  }

  /** The path forwarded upstream for a normalised request path. */
  forwardPath(path: string): string {
    return this.config.stripPrefix ? this.afterPrefix(path) : path;
  }

  /** The path policy sees for a forwarded path: always the part after the prefix (allow/deny in docs/routes.md). */
  policyPath(forwarded: string): string {
    return this.config.stripPrefix ? forwarded : this.afterPrefix(forwarded);
  }

  private afterPrefix(path: string): string {
    if (this.prefix === "/") return path;
    const rest = path.slice(this.prefix.length);
    return rest === "" ? "/" : rest;
  }

  /** Credential-free summary for /routes and `attache routes`. */
  describe(): Record<string, unknown> {
    const c = this.config;
    return {
      name: c.name,
      prefix: c.prefix,
      owner: c.source.owner ?? null,
      source: `${c.source.file}:${c.source.line}`,
      admittedBy: c.source.admittedBy,
      upstream: { kind: this.upstream.kind, ...this.upstream.describe() },
      policies: {
        stripPrefix: c.stripPrefix,
        methods: c.methods ?? "all",
        allow: c.allow?.map((r) => r.path) ?? [],
        deny: (c.deny ?? this.upstream.defaultDeny)?.map((r) => r.path) ?? [],
        timeout: formatDuration(c.timeout),
        streaming: c.streaming ?? (this.upstream.kind === "kubernetes" ? "watch/follow/list" : false),
        retry: c.retry ? { attempts: c.retry.attempts, on: c.retry.on } : "off",
        circuitBreaker: c.circuitBreaker.enabled
          ? {
              errorThresholdPercentage: c.circuitBreaker.errorThresholdPercentage,
              volumeThreshold: c.circuitBreaker.volumeThreshold,
              resetTimeout: formatDuration(c.circuitBreaker.resetTimeout),
              maxConcurrent: c.circuitBreaker.maxConcurrent ?? null,
            }
          : "off",
        maxBodySize: c.maxBodySize,
      },
      ...this.resilience.describe(),
    };
  }
}

/** Everything that shapes a route's behaviour; not where it was written. */
export function routeKey(config: ResolvedRoute): string {
  const { source: _source, ...rest } = config;
  return JSON.stringify(rest);
}
