/** Every attache_* metric of DESIGN §4, in one registry; the only importer of prom-client. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const r = [registry];
export const metrics = {
  requests: new Counter({ name: "attache_requests_total", help: "Requests answered, by route, method and status code.", labelNames: ["route", "method", "code"], registers: r }),
  duration: new Histogram({
    name: "attache_request_duration_seconds",
    help: "Time from request to response end, by route.",
    labelNames: ["route"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: r,
  }),
  upstreamErrors: new Counter({ name: "attache_upstream_errors_total", help: "Failed upstream exchanges, by route and reason.", labelNames: ["route", "reason"], registers: r }),
  retries: new Counter({ name: "attache_retries_total", help: "Retries made, by route.", labelNames: ["route"], registers: r }),
  circuitState: new Gauge({ name: "attache_circuit_state", help: "Breaker state: 0 closed, 1 half-open, 2 open.", labelNames: ["route"], registers: r }),
  circuitRejections: new Counter({ name: "attache_circuit_rejections_total", help: "Requests refused by an open breaker.", labelNames: ["route"], registers: r }),
  endpointsHealthy: new Gauge({ name: "attache_endpoints_healthy", help: "Endpoints in rotation, by route.", labelNames: ["route"], registers: r }),
  redisCommands: new Counter({ name: "attache_redis_commands_total", help: "Redis commands, by route, command and result.", labelNames: ["route", "command", "result"], registers: r }),
  configReloads: new Counter({ name: "attache_config_reloads_total", help: "Config reloads, by result.", labelNames: ["result"], registers: r }),
  inflight: new Gauge({ name: "attache_inflight_requests", help: "Requests in flight, by route.", labelNames: ["route"], registers: r }),
};

/** Forget a removed route's series, so /metrics does not keep reporting it. */
export function forgetRoute(route: string): void {
  for (const metric of [metrics.duration, metrics.circuitState, metrics.endpointsHealthy, metrics.inflight]) metric.remove({ route });
}

/** Per-route metric children, bound once when the route is built (no label hashing per request but one). */
export function routeMeter(route: string) {
  const inflight = metrics.inflight.labels({ route });
  const duration = metrics.duration.labels({ route });
  const counters = new Map<string, { inc(): void }>();
  return {
    inflight,
    duration,
    count(method: string, code: number): void {
      const key = `${method} ${code}`;
      let counter = counters.get(key);
      if (!counter) {
        counter = metrics.requests.labels({ route, method, code: String(code) });
        counters.set(key, counter);
      }
      counter.inc();
    },
  };
}
