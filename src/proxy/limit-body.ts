/**
 * maxBodySize → body_too_large. A declared Content-Length is refused before anything is sent;
 * a chunked body is counted while it streams (http/count-body.ts) and cut when it goes over.
 */
import { bodyTooLarge } from "../http/count-body.js";
import type { PendingRequest } from "./pending-request.js";

export function limitBody(request: PendingRequest): void {
  const route = request.route!;
  const declared = request.req.headers["content-length"];
  if (declared !== undefined && Number(declared) > route.config.maxBodySize) throw bodyTooLarge(route.name, route.config.maxBodySize);
}
