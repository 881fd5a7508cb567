/** Route policy (methods, allow/deny) → method_not_allowed / path_denied, on the normalised path after the prefix: the one that is forwarded. */
import type { PendingRequest } from "./pending-request.js";

export function enforcePolicy(request: PendingRequest): void {
  const route = request.route!;
  route.policy.check(request.req.method ?? "GET", route.policyPath(request.path));
}
