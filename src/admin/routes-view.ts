/** /routes: every route's prefix, owner, source, the grant that admitted it, upstream, policies, breaker and endpoint health. */
import type { RequestHandler } from "express";
import type { State } from "../lifecycle/generation.js";

export function routesView(state: State): RequestHandler {
  return (_req, res) => {
    const generation = state.current;
    res.json({ generation: generation.id, routes: generation.table.routes.map((r) => r.describe()) });
  };
}
