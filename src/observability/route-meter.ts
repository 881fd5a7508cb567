/** Per-request metrics of each route (requests, duration, bytes, attempts, in flight), counted as plain numbers and handed to prom-client at each scrape. */
import { InflightCounter } from "../resilience/inflight.js";
import { metrics } from "./metrics.js";
import type { Metric } from "prom-client";
import { Counter, Gauge, registers, registry } from "./registry.js";

/** attache_request_duration_seconds' upper bounds, in seconds. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const routeMetrics = {
  requests: new Counter({
    name: "attache_requests_total",
    help: "Requests answered, by route, method, status code and attache's error code (empty when the upstream answered).",
    labelNames: ["route", "method", "code", "error"],
    registers,
    collect() {
      for (const [route, tally] of tallies) report(route, tally);
    },
  }),
  requestBytes: new Counter({
    name: "attache_request_bytes_total",
    help: "Request body bytes, as declared by Content-Length, by route.",
    labelNames: ["route"],
    registers,
  }),
  responseBytes: new Counter({
    name: "attache_response_bytes_total",
    help: "Response bytes written to the app (head included), by route.",
    labelNames: ["route"],
    registers,
  }),
  attempts: new Counter({
    name: "attache_upstream_attempts_total",
    help: "Upstream tries made, by route (retries and resends included); divided by requests, the attempts per request.",
    labelNames: ["route"],
    registers,
  }),
  inflight: new Gauge({
    name: "attache_inflight_requests",
    help: "Requests in flight, by route.",
    labelNames: ["route"],
    registers,
    collect() {
      // A route has an in-flight series once it has had a request.
      for (const [route, tally] of tallies)
        if (tally.inflight.active > 0 || tally.requests.size > 0) this.set({ route }, tally.inflight.active);
    },
  }),
};

/**
 * The request duration histogram, rendered by the registry from the tallies at each scrape. prom-client's
 * own Histogram hashes the labels and looks its bucket up by the bound's string on every observation:
 * ~6 µs per request once caches are cold between requests, as at a sidecar's usual rate (test/bench/README.md).
 */
const durationHistogram = {
  name: "attache_request_duration_seconds",
  help: "Time from request to response end, by route.",
  type: "histogram",
  labelNames: ["route"],
  aggregator: "sum",
  async get() {
    const { name } = durationHistogram;
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const [route, { duration }] of tallies) {
      if (duration.count === 0) continue;
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += duration.buckets[i]!;
        values.push({ labels: { le, route }, value: cumulative, metricName: `${name}_bucket` });
      });
      values.push({ labels: { le: "+Inf", route }, value: duration.count, metricName: `${name}_bucket` });
      values.push({ labels: { route }, value: duration.sum, metricName: `${name}_sum` });
      values.push({ labels: { route }, value: duration.count, metricName: `${name}_count` });
    }
    return { name, help: durationHistogram.help, type: durationHistogram.type, aggregator: durationHistogram.aggregator, values };
  },
  reset() {
    for (const tally of tallies.values()) tally.duration = newDuration();
  },
};
registry.registerMetric(durationHistogram as unknown as Metric);

/**
 * What the pipeline counts for every request, kept as plain numbers per route name and handed to
 * prom-client when /metrics is scraped (the `collect` hooks above, and durationHistogram). prom-client
 * hashes the labels on every inc/dec, even on bound children: ~5 µs per request for these two metrics
 * (test/bench/README.md). One tally per route name, shared by the Route objects of successive generations.
 */
interface Tally {
  /** What a RequestLease (resilience/inflight.ts) counts the route's requests in flight with. */
  readonly inflight: InflightCounter;
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
  /** Requests by duration bucket (not cumulative: the last one is above every bound), their sum and count. */
  duration: { buckets: number[]; sum: number; count: number };
}

function newDuration(): Tally["duration"] {
  return { buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
}

const tallies = new Map<string, Tally>();

function tallyOf(route: string): Tally {
  let tally = tallies.get(route);
  if (!tally) {
    tally = {
      inflight: new InflightCounter(),
      requests: new Map(),
      volume: { bytesIn: 0, bytesOut: 0, attempts: 0, reported: { bytesIn: 0, bytesOut: 0, attempts: 0 } },
      duration: newDuration(),
    };
    tallies.set(route, tally);
  }
  return tally;
}

/** Hand the requests counted since the last scrape to prom-client's counter. */
function report(route: string, tally: Tally): void {
  for (const c of tally.requests.values()) {
    if (c.count === c.reported) continue;
    routeMetrics.requests.inc({ route, method: c.method, code: c.code, error: c.error }, c.count - c.reported);
    c.reported = c.count;
  }
  const v = tally.volume;
  if (v.bytesIn !== v.reported.bytesIn) routeMetrics.requestBytes.inc({ route }, v.bytesIn - v.reported.bytesIn);
  if (v.bytesOut !== v.reported.bytesOut) routeMetrics.responseBytes.inc({ route }, v.bytesOut - v.reported.bytesOut);
  if (v.attempts !== v.reported.attempts) routeMetrics.attempts.inc({ route }, v.attempts - v.reported.attempts);
  v.reported = { bytesIn: v.bytesIn, bytesOut: v.bytesOut, attempts: v.attempts };
}

/** Forget a removed route's series, so /metrics does not keep reporting it. */
export function forgetRoute(route: string): void {
  const tally = tallies.get(route);
  // Its requests stay counted (attache_requests_total is not forgotten); requests still in flight on
  // the old route end on a tally that is no longer reported.
  if (tally) report(route, tally);
  tallies.delete(route);
  for (const metric of [metrics.circuitState, metrics.endpointsHealthy, routeMetrics.inflight]) metric.remove({ route });
}

/** A route's per-request metrics, bound once when the route is built. */
export function routeMeter(route: string) {
  const tally = tallyOf(route);
  return {
    inflight: tally.inflight,
    /** One request's time to response end, in seconds. */
    observeDuration(seconds: number): void {
      const d = tally.duration;
      let i = 0;
      while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
      d.buckets[i]!++;
      d.sum += seconds;
      d.count++;
    },
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
