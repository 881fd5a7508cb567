/** Host allowlist (acceptHosts) → host_not_allowed: kubectl proxy's guard against DNS rebinding, on the app and admin listeners. */
import type { IncomingMessage } from "node:http";
import { AttacheError } from "../errors.js";
import { authorityHost } from "../net/address.js";
import type { Generation } from "../lifecycle/generation.js";
import type { PendingRequest } from "./pending-request.js";

export function acceptHost(request: PendingRequest): void {
  checkHost(request.generation, request.req);
}

/**
 * Host must be in acceptHosts, or be the IP address the connection was made to: a rebinding page
 * always sends its own name, while kubelet probes and scrapers send the pod IP.
 */
export function checkHost(generation: Generation, req: IncomingMessage): void {
  const host = req.headers.host;
  if (host !== undefined) {
    const name = authorityHost(host);
    if (generation.acceptHosts.has(name) || name === localAddress(req)) return;
  }
  throw new AttacheError("host_not_allowed", `host ${JSON.stringify(host ?? "")} is not in acceptHosts`);
}

/** The local address as a Host would name it: "10.0.0.5" (also when reached as ::ffff:10.0.0.5), "[fd00::5]". */
function localAddress(req: IncomingMessage): string | undefined {
  const address = req.socket.localAddress;
  if (!address) return undefined;
  if (address.startsWith("::ffff:") && address.includes(".")) return address.slice(7);
  return address.includes(":") ? `[${address.toLowerCase()}]` : address;
}
