/** An http route's `discovery` block → its EndpointSource (dns or kubernetes EndpointSlices). */
import type { ResolvedRoute } from "../config/validate.js";
import type { KubernetesUpstreamConfig } from "../config/schema.js";
import { openAuthorizer, resolveCredentials } from "../upstreams/kubernetes/credentials.js";
import type { Upstream } from "../upstreams/upstream.js";
import type { Endpoint, EndpointSource } from "./endpoint-source.js";
import { DnsSource } from "./dns.js";
import { KubernetesEndpointSliceSource, type KubeApiConnection } from "./kubernetes-endpointslices.js";

export function createEndpointSource(route: ResolvedRoute): EndpointSource {
  const http = route.upstream.http;
  const discovery = http?.discovery;
  if (!discovery) throw new Error(`route ${route.name}: no discovery block`);
  // Discovery yields addresses, not URLs: a route with a `tls` block speaks HTTPS to them.
  const protocol: Endpoint["protocol"] = http.tls ? "https:" : "http:";
  if (discovery.dns) {
    const { name, port, interval, servers } = discovery.dns;
    return new DnsSource({ route: route.name, name, port, interval, servers, protocol });
  }
  const { service, namespace, port, ...connection } = discovery.kubernetes!;
  return new KubernetesEndpointSliceSource({ route: route.name, protocol, service, namespace, port, connect: () => kubeConnection(connection) });
}

/**
 * `upstream`, serving only once `source` has made its first attempt: a route built a moment ago (start,
 * reload) has no endpoints until then, and answering "no endpoint" would be an outage of our making.
 * The wait is bounded by the source's own timeouts (DNS query, API list); a source that found nothing
 * keeps trying on its own schedule while requests get upstream_unreachable.
 */
export function afterFirstResolution(upstream: Upstream, source: EndpointSource): Upstream {
  let settled = false;
  const ready = source.start().then(
    () => void (settled = true),
    () => void (settled = true),
  );
  const gated: Upstream = {
    kind: upstream.kind,
    handle: async (ctx) => {
      if (!settled) await ready;
      return upstream.handle(ctx);
    },
    readiness: () => upstream.readiness(),
    describe: () => upstream.describe(),
    close: () => upstream.close(),
  };
  const upgrade = upstream.upgrade?.bind(upstream);
  if (upgrade) {
    gated.upgrade = async (ctx, socket, head) => {
      if (!settled) await ready;
      return upgrade(ctx, socket, head);
    };
  }
  if (upstream.renderError) gated.renderError = upstream.renderError.bind(upstream);
  return gated;
}

/**
 * The route's connection keys → an API connection, through the kubernetes upstream's credential
 * resolution (explicit, in-cluster, kubeconfig: the same order and the same token rotation).
 */
async function kubeConnection(keys: KubernetesUpstreamConfig): Promise<KubeApiConnection> {
  const { plan, problem, lookedFor } = await resolveCredentials(keys);
  if (!plan) throw new Error(`no kubernetes credentials (${problem ?? "none found"}; looked for ${lookedFor.join("; ")})`);
  const authorizer = openAuthorizer(plan);
  return {
    server: plan.server,
    tls: plan.tls,
    namespace: plan.namespace,
    authorize: async (headers) => {
      await authorizer.prepare?.();
      authorizer.apply(headers);
    },
    refresh: () => authorizer.refresh(),
    describe: () => ({ credentials: plan.source, ...(plan.context && { context: plan.context }), ...authorizer.describe() }),
    close: () => authorizer.close(),
  };
}
