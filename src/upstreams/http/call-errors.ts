/** The errors an HTTP upstream raises itself: no endpoint to send to, and a client that left. */
import { AttacheError } from "../../errors.js";

export function noEndpoint(route: string): AttacheError {
  return new AttacheError("upstream_unreachable", `route ${route}: no endpoint available`, {
    route,
    cause: Object.assign(new Error("no endpoint"), { code: "ENOENDPOINT" }),
  });
}

export function clientGone(): Error {
  return Object.assign(new Error("client went away"), { code: "ERR_CLIENT_GONE" });
}
