/** /healthz: the process answers. /readyz: config loaded, listeners bound, not draining. */
import type { RequestHandler } from "express";
import type { State } from "../lifecycle/generation.js";

export function healthz(): RequestHandler {
  return (_req, res) => {
    res.status(200).type("text/plain").send("ok\n");
  };
}

export function readyz(state: State): RequestHandler {
  return (_req, res) => {
    if (state.ready && !state.draining) res.status(200).type("text/plain").send("ready\n");
    else res.status(503).type("text/plain").send(state.draining ? "draining\n" : "starting\n");
  };
}
