/**
 * Every upstream kind, by its key under a route's `upstream` (config/schema/upstreams.ts). A new kind is its
 * folder (the Upstream, and a kind.ts as below) plus one line here; the type below refuses a schema
 * kind that has no line.
 */
import type { ResolvedRoute } from "../config/validate.js";
import type { UPSTREAM_KINDS } from "../config/schema.js";
import { httpKind } from "./http/kind.js";
import { kubernetesKind } from "./kubernetes/kind.js";
import { redisKind } from "./redis/kind.js";
import type { UpstreamKind } from "./upstream-kind.js";

export type UpstreamKindName = (typeof UPSTREAM_KINDS)[number];

export const UPSTREAM_KIND_REGISTRY: Readonly<Record<UpstreamKindName, UpstreamKind>> = {
  http: httpKind,
  kubernetes: kubernetesKind,
  redis: redisKind,
};

/** The kind a route's `upstream` block names (the schema lets it name exactly one). */
export function kindNameOf(route: ResolvedRoute): UpstreamKindName {
  return (Object.keys(UPSTREAM_KIND_REGISTRY) as UpstreamKindName[]).find((k) => route.upstream[k] !== undefined)!;
}

export function kindOf(route: ResolvedRoute): UpstreamKind {
  return UPSTREAM_KIND_REGISTRY[kindNameOf(route)];
}
