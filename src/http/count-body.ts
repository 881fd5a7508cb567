/** A request body counted while it streams, cut with body_too_large past a route's maxBodySize. */
import type { IncomingMessage } from "node:http";
import { Transform, type Readable } from "node:stream";
import { AttacheError } from "../errors.js";

/** The request body as a stream that fails with body_too_large past `max` bytes. */
export function countBody(req: IncomingMessage, route: string, max: number): Readable {
  if (req.headers["content-length"] !== undefined) return req; // already checked (proxy/limit-body.ts), and Node enforces the length
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > max ? bodyTooLarge(route, max) : null, chunk);
    },
  });
  req.on("error", (err) => counter.destroy(err));
  return req.pipe(counter);
}

export function bodyTooLarge(route: string, max: number): AttacheError {
  return new AttacheError("body_too_large", `route ${route}: request body is larger than ${max} bytes (maxBodySize)`, { route });
}
