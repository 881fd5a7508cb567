/** Route config → Upstream, by kind: one named factory per upstream kind. */
import type { ResolvedRoute } from "../config/validate.js";
import { StaticSource } from "../discovery/static.js";
import { afterFirstResolution, createEndpointSource } from "../discovery/create-source.js";
import { HttpUpstream } from "./http/http-upstream.js";
import { createRedisUpstream } from "./redis/redis-upstream.js";
import { createKubernetesUpstream } from "./kubernetes/kubernetes-upstream.js";
import { tlsOptions } from "./http/tls.js";
import type { Upstream } from "./upstream.js";
import { FileSecret } from "../config/secrets.js";

type Factory = (route: ResolvedRoute) => Upstream;

const factories: Record<"http" | "kubernetes" | "redis", Factory | undefined> = {
  http: createHttpUpstream,
  kubernetes: createKubernetesUpstream,
  redis: createRedisUpstream,
};

export function createUpstream(route: ResolvedRoute): Upstream {
  const kind = (Object.keys(route.upstream) as Array<keyof typeof factories>).find((k) => route.upstream[k] !== undefined)!;
  const factory = factories[kind];
  if (!factory) throw new Error(`route ${route.name}: the ${kind} upstream kind is not available in this build`);
  return factory(route);
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
