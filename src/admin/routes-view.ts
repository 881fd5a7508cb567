/** /routes: every route's prefix, owner, source, upstream, policies, breaker and endpoint health. */
import type { State } from "../lifecycle/generation.js";
import { sendJson, type AdminHandler } from "./respond.js";

export function routesView(state: State): AdminHandler {
  return (_req, res) => {
    const generation = state.current;
    sendJson(res, 200, { generation: generation.id, routes: generation.table.routes.map((r) => r.describe()) });
  };
}
