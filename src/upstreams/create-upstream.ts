/** Route config → Upstream, through the kind's entry in registry.ts. */
import type { Config, Limits, ResolvedRoute } from "../config/validate.js";
import type { Resilience } from "../resilience/policy-stack.js";
import { kindNameOf, kindOf, UPSTREAM_KIND_REGISTRY, type UpstreamKindName } from "./registry.js";
import type { Upstream } from "./upstream.js";

/** Load the modules of the upstream kinds `config` uses; call before building its route table. */
export async function loadUpstreamKinds(config: Config): Promise<void> {
  const byKind = new Map<UpstreamKindName, ResolvedRoute[]>();
  for (const route of config.routes) {
    const name = kindNameOf(route);
    byKind.set(name, [...(byKind.get(name) ?? []), route]);
  }
  for (const [name, routes] of byKind) await UPSTREAM_KIND_REGISTRY[name].load(routes);
}

export function createUpstream(route: ResolvedRoute, resilience: Resilience, limits: Limits): Upstream {
  return kindOf(route).create(route, resilience, limits);
}
