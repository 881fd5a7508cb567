/** What each upstream kind gives the registry (registry.ts): how to load it, build it, and sum it up in one line. */
import type { Limits, ResolvedRoute } from "../config/validate.js";
import type { Resilience } from "../resilience/policy-stack.js";
import type { Upstream } from "./upstream.js";

export interface UpstreamKind {
  /**
   * Load what the kind's routes need, before any of them is built; called again for every new config
   * (start, reload). Start-up time is paid per pod, so a kind loads its heavy modules only here, and
   * only for configs that use them (ioredis for redis routes, client-node for kubernetes ones).
   */
  load(routes: readonly ResolvedRoute[]): Promise<void>;
  /** The route's Upstream. `resilience` is built first: upstreams that serve outside an HTTP request (RESP) need it. */
  create(route: ResolvedRoute, resilience: Resilience, limits: Limits): Upstream;
  /** One credential-free line for `attache routes`: where the route goes. */
  summary(route: ResolvedRoute): string;
}

/** A module `load` brought in, or a clear error when the route table is built without it. */
export function loaded<T>(module: T | undefined, route: ResolvedRoute): T {
  if (!module) throw new Error(`route ${route.name}: loadUpstreamKinds() was not called before the route table was built`);
  return module;
}
