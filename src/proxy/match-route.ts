/** Normalise the path once, then find the route: bad_request / no_route. */
import { AttacheError } from "../errors.js";
import { normalizeTarget } from "../routing/normalize-path.js";
import type { PendingRequest } from "./pending-request.js";

export function matchRoute(request: PendingRequest): void {
  const { path, query } = normalizeTarget(request.req.url ?? "/");
  const route = request.generation.table.match(path);
  if (!route) throw new AttacheError("no_route", `no route for ${path}`);
  request.route = route;
  request.path = route.forwardPath(path);
  request.query = query;
}
