/** /healthz: the process answers. /readyz: config loaded, listeners bound, not draining. */
import type { State } from "../lifecycle/generation.js";
import { sendText, type AdminHandler } from "./respond.js";

export function healthz(): AdminHandler {
  return (_req, res) => sendText(res, 200, "ok\n");
}

export function readyz(state: State): AdminHandler {
  return (_req, res) => {
    if (state.ready && !state.draining) sendText(res, 200, "ready\n");
    else sendText(res, 503, state.draining ? "draining\n" : "starting\n");
  };
}
