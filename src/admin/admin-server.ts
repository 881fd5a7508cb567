/** The admin listener (docs/operations.md): health, readiness, metrics, the route table, config, and drain. */
import { createServer, type RequestListener, type Server } from "node:http";
import { AttacheError } from "../errors.js";
import type { State } from "../lifecycle/generation.js";
import { checkHost } from "../proxy/accept-host.js";
import { fromOtherOrigin } from "../proxy/cross-origin.js";
import { ADMIN_SERVER_OPTIONS } from "../proxy/guard-listener.js";
import { respondError } from "../http/respond-error.js";
import { configView } from "./config-view.js";
import { healthz, readyz } from "./health.js";
import { answerProbe, loadedOnFirstUse } from "./probe-answers.js";
import { metricsEndpoint } from "./metrics-endpoint.js";
import { routesView } from "./routes-view.js";

export interface AdminActions {
  /** Start the drain, as SIGTERM does (POST /quitquitquit). */
  drain(): void;
}

export function createAdminServer(state: State, actions: AdminActions): Server {
  // express loads on the first request that is not a plain probe (start → ready does not wait for it).
  const app = loadedOnFirstUse(() => adminApp(state, actions));
  return createServer(ADMIN_SERVER_OPTIONS, (req, res) => {
    // DNS rebinding: a page on evil.example resolved to 127.0.0.1 must not read /routes or /config.
    try {
      checkHost(state.current, req);
    } catch (err) {
      respondError(res, err);
      return;
    }
    if (!answerProbe(req, res, state, true)) app(req, res);
  });
}

async function adminApp(state: State, actions: AdminActions): Promise<RequestListener> {
  const { default: express } = await import("express");
  const app = express();
  app.disable("x-powered-by");
  app.get("/healthz", healthz());
  app.get("/readyz", readyz(state));
  app.get("/metrics", metricsEndpoint());
  app.get("/routes", routesView(state));
  app.get("/config", configView(state));
  app.post("/quitquitquit", (req, res) => {
    // Loopback only, whatever `admin` binds: only a container of this pod may stop its sidecar.
    if (!isLoopbackPeer(req.socket.remoteAddress)) {
      res.status(403).type("text/plain").send("POST /quitquitquit is accepted from loopback addresses only\n");
      return;
    }
    // No CORS preflight guards a "simple" POST: without this, any page in a browser could stop the sidecar.
    if (fromOtherOrigin(req)) {
      respondError(
        res,
        new AttacheError(
          "origin_not_allowed",
          "POST /quitquitquit is not accepted from another origin's web page (Origin, Sec-Fetch-Site)",
        ),
      );
      return;
    }
    res.status(200).json({ draining: true });
    actions.drain();
  });
  return app;
}

function isLoopbackPeer(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  return v4 === "::1" || /^127\./.test(v4);
}
