/** The http upstream kind: fixed or discovered endpoints, an optional bearer token file, TLS. */
import { FileSecret } from "../../config/secrets.js";
import type { ResolvedRoute } from "../../config/validate.js";
import { StaticSource } from "../../discovery/static.js";
import type { Upstream } from "../upstream.js";
import { loaded, type UpstreamKind } from "../upstream-kind.js";
import { afterFirstResolution } from "./after-first-resolution.js";
import { HttpUpstream } from "./http-upstream.js";
import { tlsOptions } from "./tls.js";

/** Discovery (DNS, EndpointSlice watches) is loaded only for configs with a route that discovers. */
let discoveryModule: typeof import("../../discovery/create-source.js") | undefined;

export const httpKind: UpstreamKind = {
  async load(routes) {
    if (!discoveryModule && routes.some((r) => r.upstream.http?.discovery))
      discoveryModule = await import("../../discovery/create-source.js");
  },
  create: createHttpUpstream,
  summary(route) {
    const http = route.upstream.http!;
    if (http.endpoints) return `http ${http.endpoints.join(",")}`;
    if (http.discovery?.dns) return `http dns:${http.discovery.dns.name}`;
    return `http k8s:${http.discovery?.kubernetes?.namespace ?? "-"}/${http.discovery?.kubernetes?.service}`;
  },
};

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
