/** RESP port handover across a reload: which old RESP listeners must close before the new table binds. */
import type { Config } from "../config/validate.js";
import { log } from "../observability/log.js";
import { routeKey, type Route } from "../routing/route.js";
import { parseHostPort } from "../net/address.js";
import type { Retirement } from "./retire.js";

/**
 * The redis upstream shares a listening socket between generations of a route with the same
 * `listen` string (the new route takes new connections, the old one finishes its clients). The same
 * port written differently (`localhost:6380` after `127.0.0.1:6380`) cannot be shared: the old
 * route must close first, and its RESP clients reconnect. Returns those old routes.
 */
export function listenersInTheWay(config: Config, previous: readonly Route[]): Array<{ route: Route; next: string }> {
  const keys = new Set(config.routes.map(routeKey));
  const oldKeys = new Set(previous.map((r) => r.key));
  const wanted = new Map<number, string>();
  for (const r of config.routes) {
    const listen = r.upstream.redis?.listen;
    if (listen && !oldKeys.has(routeKey(r)) && parseHostPort(listen).port !== 0) wanted.set(parseHostPort(listen).port, listen);
  }
  const inTheWay: Array<{ route: Route; next: string }> = [];
  for (const r of previous) {
    const listen = r.config.upstream.redis?.listen;
    if (!listen || keys.has(r.key)) continue;
    const other = wanted.get(parseHostPort(listen).port);
    if (other !== undefined && other !== listen) inTheWay.push({ route: r, next: other });
  }
  return inTheWay;
}

/** Closes the old routes in the way of `config`'s RESP listeners; returns the old routes a new table may carry over. */
export async function handOverRespPorts(config: Config, previous: readonly Route[], retirement: Retirement): Promise<Route[]> {
  for (const { route, next } of listenersInTheWay(config, previous)) {
    log.info(
      { route: route.name, listen: route.config.upstream.redis?.listen, next },
      "closing the old RESP listener first: the new one binds the same port",
    );
    await retirement.closeNow(route.upstream, route.resilience, route.name);
  }
  // Routes closed above (or by an earlier failed build) must not be carried over.
  return previous.filter((r) => !retirement.isClosed(r.upstream));
}
