/** /metrics in the Prometheus text format. */
import type { RequestHandler } from "express";
import { registry, renderMetrics } from "../observability/metrics.js";

export function metricsEndpoint(): RequestHandler {
  return async (_req, res) => {
    res.type(registry.contentType).send(await renderMetrics());
  };
}
