/** The attache_* metrics of breakers, retries, Redis, listeners and config (docs/operations.md); per-request and per-endpoint ones are in route-meter.ts and endpoint-metrics.ts. */
import { Counter, Gauge, registers } from "./registry.js";

export const metrics = {
  upstreamErrors: new Counter({
    name: "attache_upstream_errors_total",
    help: "Failed upstream exchanges, by route and reason.",
    labelNames: ["route", "reason"],
    registers,
  }),
  retries: new Counter({ name: "attache_retries_total", help: "Retries made, by route.", labelNames: ["route"], registers }),
  circuitState: new Gauge({
    name: "attache_circuit_state",
    help: "Breaker state: 0 closed, 1 half-open, 2 open.",
    labelNames: ["route"],
    registers,
  }),
  circuitRejections: new Counter({
    name: "attache_circuit_rejections_total",
    help: "Requests refused by an open breaker.",
    labelNames: ["route"],
    registers,
  }),
  endpointsHealthy: new Gauge({
    name: "attache_endpoints_healthy",
    help: "Endpoints in rotation, by route.",
    labelNames: ["route"],
    registers,
  }),
  redisCommands: new Counter({
    name: "attache_redis_commands_total",
    help: "Redis commands, by route, command and result.",
    labelNames: ["route", "command", "result"],
    registers,
  }),
  listenerConnections: new Gauge({
    name: "attache_listener_connections",
    help: "Client connections open, by HTTP listener (listen, admin, probe).",
    labelNames: ["listener"],
    registers,
  }),
  listenerRefusals: new Counter({
    name: "attache_listener_refusals_total",
    help: "Connections an HTTP listener refused or cut before a request began, by listener and reason (max_connections, request_timeout, headers_too_large, bad_request).",
    labelNames: ["listener", "reason"],
    registers,
  }),
  clientDisconnects: new Counter({
    name: "attache_client_disconnects_total",
    help: "Clients disconnected by attache for passing a limit, by route and reason.",
    labelNames: ["route", "reason"],
    registers,
  }),
  redisDedicatedConnections: new Gauge({
    name: "attache_redis_dedicated_connections",
    help: "Upstream Redis connections held by one client each (transactions, blocking commands, pub/sub), by route.",
    labelNames: ["route"],
    registers,
  }),
  configReloads: new Counter({
    name: "attache_config_reloads_total",
    help: "Config reloads, by result.",
    labelNames: ["result"],
    registers,
  }),
  configGeneration: new Gauge({
    name: "attache_config_generation",
    help: "Generation of the config that serves (1 at start, +1 per applied reload).",
    registers,
  }),
  configLastReloadSuccessful: new Gauge({
    name: "attache_config_last_reload_successful",
    help: "1 when every config file on disk serves, 0 while any file is rejected (as prometheus_config_last_reload_successful).",
    registers,
  }),
  configLastSuccess: new Gauge({
    name: "attache_config_last_reload_success_timestamp_seconds",
    help: "When every config file on disk last served (start or reload).",
    registers,
  }),
  configRejectedFiles: new Gauge({
    name: "attache_config_rejected_files",
    help: "Config files rejected right now (their last good version serves).",
    registers,
  }),
};
