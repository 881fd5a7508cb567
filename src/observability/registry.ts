/** The one metrics registry and the prom-client classes attache uses: the only importer of prom-client. */
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
export const Counter = require("prom-client/lib/counter") as typeof PromClient.Counter;
export const Gauge = require("prom-client/lib/gauge") as typeof PromClient.Gauge;
export const Histogram = require("prom-client/lib/histogram") as typeof PromClient.Histogram;

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

/** What every attache_* metric registers with. */
export const registers = [registry];
