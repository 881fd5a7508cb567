/** Every attache_* metric (docs/operations.md), in one registry; the only importer of prom-client. */
import { createRequire } from "node:module";
import type * as PromClient from "prom-client";
import { VERSION } from "../version.js";

/**
 * The four classes attache's own metrics need, from their modules: prom-client's index also loads
 * the push gateway, cluster aggregation, summaries and, through the default process metrics,
 * @opentelemetry/api (for exemplars attache does not use). That was about 10% of the time to
 * ready (start-up is paid per pod); the default metrics are added once attache is ready (startDefaultMetrics).
 * Same module instances as the index's, so they are the very classes prom-client exports.
 */
const require = createRequire(import.meta.url);
const Registry = require("prom-client/lib/registry") as typeof PromClient.Registry;
const Counter = require("prom-client/lib/counter") as typeof PromClient.Counter;
const Gauge = require("prom-client/lib/gauge") as typeof PromClient.Gauge;
const Histogram = require("prom-client/lib/histogram") as typeof PromClient.Histogram;

export const registry = new Registry();

/** Which build serves: a constant 1 whose labels are the answer (the Prometheus *_build_info idiom). */
new Gauge({
  name: "attache_build_info",
  help: "attache's version and the Node.js that runs it.",
  labelNames: ["version", "node"],
  registers: [registry],
}).set({ version: VERSION, node: process.versions.node }, 1);

let defaultMetrics: Promise<void> | undefined;

/**
 * Node's process metrics (CPU, memory, event-loop lag, GC, handles), in the same registry. Called once
 * attache is ready; /metrics waits for it, so no scrape ever misses them.
 */
export function startDefaultMetrics(): Promise<void> {
  defaultMetrics ??= import("prom-client").then(({ collectDefaultMetrics }) => collectDefaultMetrics({ register: registry }));
  return defaultMetrics;
}

/** The whole registry as Prometheus text, default metrics included. */
export async function renderMetrics(): Promise<string> {
  await startDefaultMetrics();
  return registry.metrics();
}

const r = [registry];
export const metrics = {
  requests: new Counter({
    name: "attache_requests_total",
    help: "Requests answered, by route, method, status code and attache's error code (empty when the upstream answered).",
    labelNames: ["route", "method", "code", "error"],
    registers: r,
    collect() {
      for (const [route, tally] of tallies) report(route, tally);
    },
  }),
  duration: new Histogram({
    name: "attache_request_duration_seconds",
    help: "Time from request to response end, by route.",
    labelNames: ["route"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: r,
  }),
  upstreamErrors: new Counter({
    name: "attache_upstream_errors_total",
    help: "Failed upstream exchanges, by route and reason.",
    labelNames: ["route", "reason"],
    registers: r,
  }),
  retries: new Counter({ name: "attache_retries_total", help: "Retries made, by route.", labelNames: ["route"], registers: r }),
  circuitState: new Gauge({
    name: "attache_circuit_state",
    help: "Breaker state: 0 closed, 1 half-open, 2 open.",
    labelNames: ["route"],
    registers: r,
  }),
  circuitRejections: new Counter({
    name: "attache_circuit_rejections_total",
    help: "Requests refused by an open breaker.",
    labelNames: ["route"],
    registers: r,
  }),
  endpointsHealthy: new Gauge({
    name: "attache_endpoints_healthy",
    help: "Endpoints in rotation, by route.",
    labelNames: ["route"],
    registers: r,
  }),
  redisCommands: new Counter({
    name: "attache_redis_commands_total",
    help: "Redis commands, by route, command and result.",
    labelNames: ["route", "command", "result"],
    registers: r,
  }),
  listenerConnections: new Gauge({
    name: "attache_listener_connections",
    help: "Client connections open, by HTTP listener (listen, admin, probe).",
    labelNames: ["listener"],
    registers: r,
  }),
  listenerRefusals: new Counter({
    name: "attache_listener_refusals_total",
    help: "Connections an HTTP listener refused or cut before a request began, by listener and reason (max_connections, request_timeout, headers_too_large, bad_request).",
    labelNames: ["listener", "reason"],
    registers: r,
  }),
  clientDisconnects: new Counter({
    name: "attache_client_disconnects_total",
    help: "Clients disconnected by attache for passing a limit, by route and reason.",
    labelNames: ["route", "reason"],
    registers: r,
  }),
  redisDedicatedConnections: new Gauge({
    name: "attache_redis_dedicated_connections",
    help: "Upstream Redis connections held by one client each (transactions, blocking commands, pub/sub), by route.",
    labelNames: ["route"],
    registers: r,
  }),
  configReloads: new Counter({
    name: "attache_config_reloads_total",
    help: "Config reloads, by result.",
    labelNames: ["result"],
    registers: r,
  }),
  configGeneration: new Gauge({
    name: "attache_config_generation",
    help: "Generation of the config that serves (1 at start, +1 per applied reload).",
    registers: r,
  }),
  configLastReloadSuccessful: new Gauge({
    name: "attache_config_last_reload_successful",
    help: "1 when every config file on disk serves, 0 while any file is rejected (as prometheus_config_last_reload_successful).",
    registers: r,
  }),
  configLastSuccess: new Gauge({
    name: "attache_config_last_reload_success_timestamp_seconds",
    help: "When every config file on disk last served (start or reload).",
    registers: r,
  }),
  configRejectedFiles: new Gauge({
    name: "attache_config_rejected_files",
    help: "Config files rejected right now (their last good version serves).",
    registers: r,
  }),
  requestBytes: new Counter({
    name: "attache_request_bytes_total",
    help: "Request body bytes, as declared by Content-Length, by route.",
    labelNames: ["route"],
    registers: r,
  }),
  responseBytes: new Counter({
    name: "attache_response_bytes_total",
    help: "Response bytes written to the app (head included), by route.",
    labelNames: ["route"],
    registers: r,
  }),
  attempts: new Counter({
    name: "attache_upstream_attempts_total",
    help: "Upstream tries made, by route (retries and resends included); divided by requests, the attempts per request.",
    labelNames: ["route"],
    registers: r,
  }),
  endpointRequests: new Counter({
    name: "attache_endpoint_requests_total",
    help: "Tries sent to each endpoint of an HTTP route.",
    labelNames: ["route", "endpoint"],
    registers: r,
    collect: collectEndpoints,
  }),
  endpointErrors: new Counter({
    name: "attache_endpoint_errors_total",
    help: "Tries to each endpoint that failed (connect failure, reset, timeout, 5xx).",
    labelNames: ["route", "endpoint"],
    registers: r,
  }),
  endpointEjections: new Counter({
    name: "attache_endpoint_ejections_total",
    help: "Outlier ejections of each endpoint.",
    labelNames: ["route", "endpoint"],
    registers: r,
  }),
  endpointActive: new Gauge({
    name: "attache_endpoint_active_requests",
    help: "Requests in flight to each endpoint.",
    labelNames: ["route", "endpoint"],
    registers: r,
  }),
  endpointConnections: new Gauge({
    name: "attache_endpoint_connections",
    help: "Open upstream connections to each endpoint, busy or idle, in the route's pool (routes with equal pool settings share one).",
    labelNames: ["route", "endpoint"],
    registers: r,
  }),
  inflight: new Gauge({
    name: "attache_inflight_requests",
    help: "Requests in flight, by route.",
    labelNames: ["route"],
    registers: r,
    collect() {
      for (const [route, tally] of tallies) if (tally.seen) this.set({ route }, tally.inflight.value);
    },
  }),
};

/**
 * What the pipeline counts for every request, kept as plain numbers per route name and handed to
 * prom-client when /metrics is scraped (the `collect` hooks above). prom-client hashes the labels on
 * every inc/dec, even on bound children: ~5 µs per request for these two metrics (test/bench/README.md).
 * One tally per route name, shared by the Route objects of successive generations.
 */
interface Tally {
  /** Requests counted since start; the inflight series exists once the route has had one, as before. */
  seen: boolean;
  /** `acquire` is what a RequestLease (resilience/inflight.ts) counts the request with. */
  readonly inflight: { value: number; inc(): void; dec(): void; acquire(): () => void };
  readonly requests: Map<
    string,
    { readonly method: string; readonly code: string; readonly error: string; count: number; reported: number }
  >;
  /** Request bytes, response bytes, attempts: counted, and reported since the last scrape. */
  readonly volume: {
    bytesIn: number;
    bytesOut: number;
    attempts: number;
    reported: { bytesIn: number; bytesOut: number; attempts: number };
  };
}

const tallies = new Map<string, Tally>();

function tallyOf(route: string): Tally {
  let tally = tallies.get(route);
  if (!tally) {
    const t: Tally = {
      seen: false,
      inflight: {
        value: 0,
        inc() {
          this.value++;
          t.seen = true;
        },
        dec() {
          this.value--;
        },
        acquire() {
          this.inc();
          let done = false;
          return () => {
            if (done) return;
            done = true;
            this.dec();
          };
        },
      },
      requests: new Map(),
      volume: { bytesIn: 0, bytesOut: 0, attempts: 0, reported: { bytesIn: 0, bytesOut: 0, attempts: 0 } },
    };
    tallies.set(route, t);
    tally = t;
  }
  return tally;
}

/** Hand the requests counted since the last scrape to prom-client's counter. */
function report(route: string, tally: Tally): void {
  for (const c of tally.requests.values()) {
    if (c.count === c.reported) continue;
    metrics.requests.inc({ route, method: c.method, code: c.code, error: c.error }, c.count - c.reported);
    c.reported = c.count;
  }
  const v = tally.volume;
  if (v.bytesIn !== v.reported.bytesIn) metrics.requestBytes.inc({ route }, v.bytesIn - v.reported.bytesIn);
  if (v.bytesOut !== v.reported.bytesOut) metrics.responseBytes.inc({ route }, v.bytesOut - v.reported.bytesOut);
  if (v.attempts !== v.reported.attempts) metrics.attempts.inc({ route }, v.attempts - v.reported.attempts);
  v.reported = { bytesIn: v.bytesIn, bytesOut: v.bytesOut, attempts: v.attempts };
}

/** Forget a removed route's series, so /metrics does not keep reporting it. */
export function forgetRoute(route: string): void {
  const tally = tallies.get(route);
  // Its requests stay counted (attache_requests_total is not forgotten); requests still in flight on
  // the old route end on a tally that is no longer reported.
  if (tally) report(route, tally);
  tallies.delete(route);
  for (const metric of [metrics.duration, metrics.circuitState, metrics.endpointsHealthy, metrics.inflight]) metric.remove({ route });
}

/** A route's per-request metrics, bound once when the route is built. */
export function routeMeter(route: string) {
  const tally = tallyOf(route);
  const duration = metrics.duration.labels({ route });
  return {
    inflight: tally.inflight,
    duration,
    /** `error`: attache's own error code when attache answered, so its refusals are told from the upstream's answers. */
    count(method: string, code: number, error = "", bytesIn = 0, bytesOut = 0, attempts = 0): void {
      const key = `${method} ${code} ${error}`;
      let counter = tally.requests.get(key);
      if (!counter) {
        counter = { method, code: String(code), error, count: 0, reported: 0 };
        tally.requests.set(key, counter);
      }
      counter.count++;
      tally.volume.bytesIn += bytesIn;
      tally.volume.bytesOut += bytesOut;
      tally.volume.attempts += attempts;
    },
  };
}

/** One endpoint's figures, kept as plain numbers by the route's balancer and read when /metrics is scraped. */
export interface EndpointFigures {
  readonly endpoint: string;
  readonly requests: number;
  readonly errors: number;
  readonly ejections: number;
  readonly active: number;
  readonly connections: number;
}

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
    metrics.endpointRequests,
    metrics.endpointErrors,
    metrics.endpointEjections,
    metrics.endpointActive,
    metrics.endpointConnections,
  ];
  for (const metric of all) metric.reset();
  for (const [route, read] of endpointReaders) {
    for (const f of read()) {
      const labels = { route, endpoint: f.endpoint };
      metrics.endpointRequests.inc(labels, f.requests);
      metrics.endpointErrors.inc(labels, f.errors);
      metrics.endpointEjections.inc(labels, f.ejections);
      metrics.endpointActive.set(labels, f.active);
      metrics.endpointConnections.set(labels, f.connections);
    }
  }
}
