/** The admin listener (DESIGN §4): health, readiness, metrics, the route table, config, and drain. */
import express from "express";
import { createServer, type Server } from "node:http";
import type { State } from "../lifecycle/generation.js";
import { configView } from "./config-view.js";
import { healthz, readyz } from "./health.js";
import { metricsEndpoint } from "./metrics-endpoint.js";
import { routesView } from "./routes-view.js";

export interface AdminActions {
  /** Start the drain, as SIGTERM does (POST /quitquitquit). */
  drain(): void;
}

export function createAdminServer(state: State, actions: AdminActions): Server {
  const app = express();
  app.disable("x-powered-by");
  app.get("/healthz", healthz());
  app.get("/readyz", readyz(state));
  app.get("/metrics", metricsEndpoint());
  app.get("/routes", routesView(state));
  app.get("/config", configView(state));
  app.post("/quitquitquit", (_req, res) => {
    res.status(200).json({ draining: true });
    actions.drain();
  });
  return createServer(app);
}
