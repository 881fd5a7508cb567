/** /metrics in the Prometheus text format. */
import { registry } from "../observability/metrics.js";
import { sendText, type AdminHandler } from "./respond.js";

export function metricsEndpoint(): AdminHandler {
  return async (_req, res) => {
    sendText(res, 200, await registry.metrics(), registry.contentType);
  };
}
