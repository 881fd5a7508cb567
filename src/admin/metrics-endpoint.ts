/** /metrics in the Prometheus text format. */
import type { RequestHandler } from "express";
// Every metric family is listed from the first scrape, also where no route has loaded its module yet.
import "../observability/endpoint-metrics.js";
import { registry, renderMetrics } from "../observability/registry.js";
import "../observability/route-meter.js";

export function metricsEndpoint(): RequestHandler {
  return async (_req, res) => {
    res.type(registry.contentType).send(await renderMetrics());
  };
}
