/** Host allowlist (acceptHosts) → host_not_allowed: kubectl proxy's guard against DNS rebinding. */
import { AttacheError } from "../errors.js";
import type { PendingRequest } from "./pipeline.js";

export function acceptHost(request: PendingRequest): void {
  const host = request.req.headers.host;
  if (host !== undefined && request.generation.acceptHosts.has(hostname(host))) return;
  throw new AttacheError("host_not_allowed", `host ${JSON.stringify(host ?? "")} is not in acceptHosts`);
}

/** "localhost:8001" → "localhost"; "[::1]:8001" → "[::1]". */
function hostname(host: string): string {
  const lower = host.toLowerCase();
  const end = lower.startsWith("[") ? lower.indexOf("]") + 1 : lower.indexOf(":");
  return end > 0 ? lower.slice(0, end) : lower;
}
