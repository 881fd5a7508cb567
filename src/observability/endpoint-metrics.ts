/** Per-endpoint metrics of HTTP routes: the balancers' own numbers, read at each scrape. */
import { Counter, Gauge, registers } from "./registry.js";

/** One endpoint's figures, kept as plain numbers by the route's balancer and read when /metrics is scraped. */
export interface EndpointFigures {
  readonly endpoint: string;
  readonly requests: number;
  readonly errors: number;
  readonly ejections: number;
  readonly active: number;
  readonly connections: number;
}

const endpointMetrics = {
  endpointRequests: new Counter({
    name: "attache_endpoint_requests_total",
    help: "Tries sent to each endpoint of an HTTP route.",
    labelNames: ["route", "endpoint"],
    registers,
    collect: () => collectEndpoints(),
  }),
  endpointErrors: new Counter({
    name: "attache_endpoint_errors_total",
    help: "Tries to each endpoint that failed (connect failure, reset, timeout, 5xx).",
    labelNames: ["route", "endpoint"],
    registers,
  }),
  endpointEjections: new Counter({
    name: "attache_endpoint_ejections_total",
    help: "Outlier ejections of each endpoint.",
    labelNames: ["route", "endpoint"],
    registers,
  }),
  endpointActive: new Gauge({
    name: "attache_endpoint_active_requests",
    help: "Requests in flight to each endpoint.",
    labelNames: ["route", "endpoint"],
    registers,
  }),
  endpointConnections: new Gauge({
    name: "attache_endpoint_connections",
    help: "Open upstream connections to each endpoint, busy or idle, in the route's pool (routes with equal pool settings share one).",
    labelNames: ["route", "endpoint"],
    registers,
  }),
};

type EndpointReader = () => Iterable<EndpointFigures>;
const endpointReaders = new Map<string, EndpointReader>();

/**
 * An HTTP route's endpoints, read at each scrape. Returns the unregister function; a reload's new
 * upstream for the same route takes over the name, and the old one's unregister then leaves it alone.
 */
export function reportEndpoints(route: string, read: EndpointReader): () => void {
  endpointReaders.set(route, read);
  return () => {
    if (endpointReaders.get(route) === read) endpointReaders.delete(route);
  };
}

/**
 * The counts are absolute (the balancer's own numbers), so each scrape restates them all: an endpoint
 * that discovery removed disappears from /metrics, and one that comes back starts again at 0 (a
 * counter reset, as Prometheus expects after a restart).
 */
function collectEndpoints(): void {
  const all = [
    endpointMetrics.endpointRequests,
    endpointMetrics.endpointErrors,
    endpointMetrics.endpointEjections,
    endpointMetrics.endpointActive,
    endpointMetrics.endpointConnections,
  ];
  for (const metric of all) metric.reset();
  for (const [route, read] of endpointReaders) {
    for (const f of read()) {
      const labels = { route, endpoint: f.endpoint };
      endpointMetrics.endpointRequests.inc(labels, f.requests);
      endpointMetrics.endpointErrors.inc(labels, f.errors);
      endpointMetrics.endpointEjections.inc(labels, f.ejections);
      endpointMetrics.endpointActive.set(labels, f.active);
      endpointMetrics.endpointConnections.set(labels, f.connections);
    }
  }
}
