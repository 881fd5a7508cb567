/**
 * The probe listener (root `probe`): /healthz and /readyz only, for kubelet probes from the pod IP,
 * so the admin listener (route table, config, metrics, drain) can stay on loopback.
 */
import { createServer, type RequestListener, type Server } from "node:http";
import type { State } from "../lifecycle/generation.js";
import { AttacheError } from "../errors.js";
import { ADMIN_SERVER_OPTIONS } from "../proxy/guard-listener.js";
import { respondError } from "../http/respond-error.js";
import { healthz, readyz } from "./health.js";
import { answerProbe, loadedOnFirstUse } from "./probe-answers.js";

export function createProbeServer(state: State): Server {
  // Probes are answered without express; it loads on the first other request (see probe-answers.ts).
  const app = loadedOnFirstUse(() => probeApp(state));
  // No Host check: these two answers say nothing a rebinding page could use, and kubelet sends the pod IP.
  return createServer(ADMIN_SERVER_OPTIONS, (req, res) => {
    if (!answerProbe(req, res, state, false)) app(req, res);
  });
}

async function probeApp(state: State): Promise<RequestListener> {
  const { default: express } = await import("express");
  const app = express();
  app.disable("x-powered-by");
  app.get("/healthz", healthz());
  app.get("/readyz", readyz(state, false));
  app.use((_req, res) => respondError(res, new AttacheError("no_route", "the probe listener serves GET /healthz and /readyz only")));
  return app;
}
