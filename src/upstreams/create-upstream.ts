/** Route config → Upstream, by kind: one named factory per upstream kind. */
import type { Config, ResolvedRoute } from "../config/validate.js";
import { StaticSource } from "../discovery/static.js";
import { afterFirstResolution, createEndpointSource } from "../discovery/create-source.js";
import { HttpUpstream } from "./http/http-upstream.js";
import { createKubernetesUpstream } from "./kubernetes/kubernetes-upstream.js";
import { tlsOptions } from "./http/tls.js";
import type { Upstream } from "./upstream.js";
import type { Resilience } from "../resilience/policy-stack.js";
import { FileSecret } from "../config/secrets.js";

/** The route's Resilience is built first and handed over: upstreams that serve outside an HTTP request (RESP) need it. */
type Factory = (route: ResolvedRoute, resilience: Resilience) => Upstream;

/** ioredis & co. are loaded only when a config has a redis route: start-up time is per pod (issue 10). */
let redisModule: typeof import("./redis/redis-upstream.js") | undefined;

/** Load the modules of the upstream kinds `config` uses; call before building its route table. */
export async function loadUpstreamKinds(config: Config): Promise<void> {
  if (!redisModule && config.routes.some((r) => r.upstream.redis)) redisModule = await import("./redis/redis-upstream.js");
}

const factories: Record<"http" | "kubernetes" | "redis", Factory> = {
  http: createHttpUpstream,
  kubernetes: createKubernetesUpstream,
  redis: (route, resilience) => {
    if (!redisModule) throw new Error(`route ${route.name}: loadUpstreamKinds() was not called before the route table was built`);
    return redisModule.createRedisUpstream(route, resilience);
  },
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
