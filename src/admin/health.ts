/** /healthz: the process answers. /readyz: config loaded, listeners bound, not draining. */
import type { RequestHandler } from "express";
import type { State } from "../lifecycle/generation.js";

export function healthz(): RequestHandler {
  return (_req, res) => {
    res.status(200).type("text/plain").send("ok\n");
  };
}

/** Ready when the config is loaded, the listeners bound and no drain has begun. */
export function readiness(state: State): { ready: boolean; status: "ready" | "draining" | "starting" } {
  const ready = state.ready && !state.draining;
  return { ready, status: ready ? "ready" : state.draining ? "draining" : "starting" };
}

/**
 * Plain text for probes; JSON with `?verbose` (as the API server's /readyz?verbose) or `Accept:
 * application/json`, with the config state an operator checks after a push. `verbose` false: plain
 * text only (the probe listener, which has no Host check, names no files).
 */
export function readyz(state: State, verbose = true): RequestHandler {
  return (req, res) => {
    const { ready, status } = readiness(state);
    res.status(ready ? 200 : 503);
    if (!verbose || (req.query.verbose === undefined && req.accepts(["text/plain", "application/json"]) !== "application/json")) {
      res.type("text/plain").send(`${status}\n`);
      return;
    }
    const { lastReloadSuccessful, lastSuccessAt, rejectedFiles } = state.config;
    res.json({ status, generation: state.current.id, lastReloadSuccessful, lastSuccessAt: lastSuccessAt.toISOString(), rejectedFiles });
  };
}
