/** `Expect: 100-continue`: the client sends its body only once the route, its policy and maxBodySize have let it. */
import type { PendingRequest } from "./pending-request.js";

export function allowContinue(request: PendingRequest): void {
  if (request.expectsContinue) request.res.writeContinue();
}
