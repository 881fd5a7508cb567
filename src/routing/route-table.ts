/**
 * RouteTable: prefix → Route, longest prefix on path-segment boundaries. A lookup walks the request
 * path's own segments (a few Map hits), so its cost does not grow with the number of routes.
 */
import type { Config, Limits, ResolvedRoute } from "../config/validate.js";
import { Resilience } from "../resilience/policy-stack.js";
import type { Upstream } from "../upstreams/upstream.js";
import { Route, routeKey } from "./route.js";

/** `limits`: the root config's, for upstreams that bound their clients (redis). */
export type UpstreamFactory = (route: ResolvedRoute, resilience: Resilience, limits: Limits) => Upstream;

export class RouteTable {
  private readonly byPrefix: ReadonlyMap<string, Route>;

  private constructor(readonly routes: readonly Route[]) {
    this.byPrefix = new Map(routes.map((r) => [r.prefix, r]));
  }

  /**
   * Compile every route. Routes whose key matches one in `previous` keep that route's upstream and
   * resilience (pools, breaker state, Redis connections), as a reload must (docs/operations.md, Lifecycle), unless the
   * upstream holds root limits that changed (holdsLimits).
   */
  static build(config: Config, createUpstream: UpstreamFactory, previous?: { readonly routes: readonly Route[] }): RouteTable {
    const reusable = new Map(previous?.routes.map((r) => [r.key, r]));
    const built: Route[] = [];
    try {
      for (const rc of config.routes) {
        const old = reusable.get(routeKey(rc));
        if (old && holdsLimits(old.upstream, config.limits)) built.push(new Route(rc, old.upstream, old.resilience));
        else {
          const resilience = new Resilience(rc);
          built.push(new Route(rc, createUpstream(rc, resilience, config.limits), resilience));
        }
      }
    } catch (err) {
      // Do not leak the sockets of what was built before the failure.
      for (const r of built) if (!previous?.routes.some((p) => p.upstream === r.upstream)) void r.upstream.close();
      throw err;
    }
    return new RouteTable(built);
  }

  /** Longest matching prefix on segment boundaries: /pay matches /pay and /pay/x, never /payments. */
  match(path: string): Route | undefined {
    let candidate = path;
    for (;;) {
      const route = this.byPrefix.get(candidate);
      if (route) return route;
      if (candidate === "/") return undefined;
      const cut = candidate.lastIndexOf("/");
      candidate = cut <= 0 ? "/" : candidate.slice(0, cut);
    }
  }
}

/** An upstream that took the root `limits` when built (redis) is reused only while they are the same. */
function holdsLimits(upstream: Upstream, limits: Limits): boolean {
  const held = (upstream as { readonly limits?: unknown }).limits;
  return held === undefined || held === limits || JSON.stringify(held) === JSON.stringify(limits);
}
