/** Route config → Upstream, by kind: one named factory per upstream kind. */
import type { Config, Limits, ResolvedRoute } from "../config/validate.js";
import { StaticSource } from "../discovery/static.js";
import { afterFirstResolution } from "./http/after-first-resolution.js";
import { HttpUpstream } from "./http/http-upstream.js";
import { tlsOptions } from "./http/tls.js";
import type { Upstream } from "./upstream.js";
import type { Resilience } from "../resilience/policy-stack.js";
import { FileSecret } from "../config/secrets.js";

/** The route's Resilience is built first and handed over: upstreams that serve outside an HTTP request (RESP) need it. */
type Factory = (route: ResolvedRoute, resilience: Resilience, limits: Limits) => Upstream;

/**
 * What only some configs need is loaded only for them, start-up time being paid per pod (issue 10):
 * ioredis & co. for redis routes; the kubernetes kind (credentials, Status errors, raw upgrades, with
 * node:https and node:crypto); discovery (DNS, EndpointSlice watches) for http routes that discover.
 */
let redisModule: typeof import("./redis/redis-upstream.js") | undefined;
let kubernetesModule: typeof import("./kubernetes/kubernetes-upstream.js") | undefined;
let discoveryModule: typeof import("../discovery/create-source.js") | undefined;

/** Load the modules of the upstream kinds `config` uses; call before building its route table. */
export async function loadUpstreamKinds(config: Config): Promise<void> {
  const { routes } = config;
  if (!redisModule && routes.some((r) => r.upstream.redis)) redisModule = await import("./redis/redis-upstream.js");
  if (!kubernetesModule && routes.some((r) => r.upstream.kubernetes)) kubernetesModule = await import("./kubernetes/kubernetes-upstream.js");
  if (!discoveryModule && routes.some((r) => r.upstream.http?.discovery)) discoveryModule = await import("../discovery/create-source.js");
}

function loaded<T>(module: T | undefined, route: ResolvedRoute): T {
  if (!module) throw new Error(`route ${route.name}: loadUpstreamKinds() was not called before the route table was built`);
  return module;
}

const factories: Record<"http" | "kubernetes" | "redis", Factory> = {
  http: createHttpUpstream,
  kubernetes: (route) => loaded(kubernetesModule, route).createKubernetesUpstream(route),
  redis: (route, resilience, limits) => loaded(redisModule, route).createRedisUpstream(route, resilience, limits),
};

export function createUpstream(route: ResolvedRoute, resilience: Resilience, limits: Limits): Upstream {
  const kind = (Object.keys(route.upstream) as Array<keyof typeof factories>).find((k) => route.upstream[k] !== undefined)!;
  return factories[kind](route, resilience, limits);
}

function createHttpUpstream(route: ResolvedRoute): Upstream {
  const http = route.upstream.http!;
  const discovery = http.endpoints ? undefined : loaded(discoveryModule, route);
  const source = discovery ? discovery.createEndpointSource(route) : new StaticSource(http.endpoints!);
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
  return discovery ? afterFirstResolution(upstream, source) : upstream;
}
