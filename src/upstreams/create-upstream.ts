/** Route config → Upstream, by kind: one named factory per upstream kind. */
import type { ResolvedRoute } from "../config/validate.js";
import { StaticSource } from "../discovery/static.js";
import { afterFirstResolution, createEndpointSource } from "../discovery/create-source.js";
import { HttpUpstream } from "./http/http-upstream.js";
import { createRedisUpstream } from "./redis/redis-upstream.js";
import { createKubernetesUpstream } from "./kubernetes/kubernetes-upstream.js";
import { tlsOptions } from "./http/tls.js";
import type { Upstream } from "./upstream.js";
import type { Resilience } from "../resilience/policy-stack.js";
import { FileSecret } from "../config/secrets.js";

/** The route's Resilience is built first and handed over: upstreams that serve outside an HTTP request (RESP) need it. */
type Factory = (route: ResolvedRoute, resilience: Resilience) => Upstream;

const factories: Record<"http" | "kubernetes" | "redis", Factory> = {
  http: createHttpUpstream,
  kubernetes: createKubernetesUpstream,
  redis: createRedisUpstream,
};

export function createUpstream(route: ResolvedRoute, resilience: Resilience): Upstream {
  const kind = (Object.keys(route.upstream) as Array<keyof typeof factories>).find((k) => route.upstream[k] !== undefined)!;
  return factories[kind](route, resilience);
}

function createHttpUpstream(route: ResolvedRoute): Upstream {
  const http = route.upstream.http!;
  const source = http.endpoints ? new StaticSource(http.endpoints) : createEndpointSource(route);
  const token = http.auth && new FileSecret(http.auth.bearerTokenFile);
  const upstream = new HttpUpstream({
    route,
    source,
    tls: tlsOptions(http.tls),
    ...(token && {
      authorize: (headers) => {
        headers.authorization = `Bearer ${token.value}`;
      },
      refreshCredentials: () => token.reload(),
      describe: () => ({ auth: { bearerTokenFile: token.path, changedAt: token.changedAt.toISOString() } }),
      onClose: () => token.close(),
    }),
  });
  return http.endpoints ? upstream : afterFirstResolution(upstream, source);
}
