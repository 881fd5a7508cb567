/** An http route's `discovery` block → its EndpointSource (dns or kubernetes EndpointSlices). */
import type { ResolvedRoute } from "../config/validate.js";
import { openKubeApiConnection } from "../kubernetes-api/connection.js";
import type { Endpoint, EndpointSource } from "./endpoint-source.js";
import { DnsSource } from "./dns.js";
import { KubernetesEndpointSliceSource } from "./kubernetes-endpointslices.js";

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
  return new KubernetesEndpointSliceSource({
    route: route.name,
    protocol,
    service,
    namespace,
    port,
    connect: () => openKubeApiConnection(connection),
  });
}
