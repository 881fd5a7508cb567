/** Keep the app's x-request-id (if sane) or mint one; it is echoed back and sent upstream. */
import { randomUUID } from "node:crypto";
import type { PendingRequest } from "./pending-request.js";

const SANE = /^[\w.:@/+=-]{1,200}$/;

export function assignRequestId(request: PendingRequest): void {
  const given = request.req.headers["x-request-id"];
  request.requestId = typeof given === "string" && SANE.test(given) ? given : randomUUID();
}
