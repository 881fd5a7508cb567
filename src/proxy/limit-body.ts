/**
 * maxBodySize → body_too_large. A declared Content-Length is refused before anything is sent;
 * a chunked body is counted while it streams (countBody) and cut when it goes over.
 */
import type { IncomingMessage } from "node:http";
import { Transform, type Readable } from "node:stream";
import { AttacheError } from "../errors.js";
import type { PendingRequest } from "./pipeline.js";

export function limitBody(request: PendingRequest): void {
  const route = request.route!;
  const declared = request.req.headers["content-length"];
  if (declared !== undefined && Number(declared) > route.config.maxBodySize) throw tooLarge(route.name, route.config.maxBodySize);
}

/** The request body as a stream that fails with body_too_large past `max` bytes. */
export function countBody(req: IncomingMessage, route: string, max: number): Readable {
  if (req.headers["content-length"] !== undefined) return req; // already checked, and Node enforces the length
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > max ? tooLarge(route, max) : null, chunk);
    },
  });
  req.on("error", (err) => counter.destroy(err));
  return req.pipe(counter);
}

function tooLarge(route: string, max: number): AttacheError {
  return new AttacheError("body_too_large", `route ${route}: request body is larger than ${max} bytes (maxBodySize)`, { route });
}
