/**
 * The admin listener (DESIGN §4): health, readiness, metrics, the route table, config, and drain.
 *
 * Plain node:http rather than express: six fixed routes do not need a framework, and loading express
 * (with body-parser, qs and friends) was about a fifth of attache's start-up time and ~12 MiB of RSS
 * in every pod (issue 10).
 */
import { createServer, type Server } from "node:http";
import type { State } from "../lifecycle/generation.js";
import { configView } from "./config-view.js";
import { healthz, readyz } from "./health.js";
import { metricsEndpoint } from "./metrics-endpoint.js";
import { routesView } from "./routes-view.js";
import { sendJson, sendText, type AdminHandler } from "./respond.js";

export interface AdminActions {
  /** Start the drain, as SIGTERM does (POST /quitquitquit). */
  drain(): void;
}

export function createAdminServer(state: State, actions: AdminActions): Server {
  const get: Record<string, AdminHandler> = {
    "/healthz": healthz(),
    "/readyz": readyz(state),
    "/metrics": metricsEndpoint(),
    "/routes": routesView(state),
    "/config": configView(state),
  };
  const post: Record<string, AdminHandler> = {
    "/quitquitquit": (req, res) => {
      // Loopback only, whatever `admin` binds: only a container of this pod may stop its sidecar.
      if (!isLoopbackPeer(req.socket.remoteAddress)) {
        return sendText(res, 403, "POST /quitquitquit is accepted from loopback addresses only\n");
      }
      sendJson(res, 200, { draining: true });
      actions.drain();
    },
  };
  return createServer((req, res) => {
    const path = routePath(req.url ?? "/");
    const method = req.method ?? "GET";
    // HEAD is answered like GET (probes may use either); the body is left out by node:http.
    const handler = method === "GET" || method === "HEAD" ? get[path] : method === "POST" ? post[path] : undefined;
    if (!handler) return sendText(res, 404, `no admin endpoint ${method} ${path}\n`);
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => {
        if (res.headersSent) return void res.destroy(err as Error);
        sendText(res, 500, `${(err as Error).message}\n`);
      });
  });
}

/** The path as routed: no query, no trailing slash, any case (as express matched it before). */
function routePath(url: string): string {
  const q = url.indexOf("?");
  let path = q === -1 ? url : url.slice(0, q);
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  return path.toLowerCase();
}

function isLoopbackPeer(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  return v4 === "::1" || /^127\./.test(v4);
}
