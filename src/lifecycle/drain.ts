/** Drain: /readyz answers 503 at once, requests are still served until idle or drainTimeout, then everything closes. */
import { log } from "../observability/log.js";
import type { State } from "./generation.js";

const POLL_MS = 50;

/**
 * /readyz turns 503 at once, but requests are still served, because the app in the
 * same pod may still be finishing its own work. Stop once nothing has been in flight for idleGrace,
 * or when drainTimeout has passed, whichever comes first; then close everything.
 *
 * The idle time counts from the start of the drain at the earliest: a classic sidecar gets SIGTERM
 * together with the app, and an attache that had been idle for a minute must still answer the calls
 * the app makes while it shuts down.
 */
export async function drain(state: State, closeAll: () => Promise<void>): Promise<void> {
  state.draining = true;
  const { drainTimeout, idleGrace } = state.current.config.shutdown;
  const began = Date.now();
  const deadline = began + drainTimeout;
  const idle = () => Math.min(state.idleFor(), Date.now() - began);
  log.info({ drainTimeout, idleGrace, inflight: state.inflight }, "draining: /readyz answers 503, requests are still served");
  while (Date.now() < deadline && idle() < idleGrace) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(POLL_MS, deadline - Date.now()))));
  }
  if (state.inflight > 0) log.warn({ inflight: state.inflight }, "drain timeout passed; closing with requests in flight");
  await closeAll();
  log.info("drained; bye");
}
