/** Reading a request's body ahead of the exchange when it is small enough for a retry to resend it. */
import type { IncomingMessage } from "node:http";
import { abortable, Deadline } from "../../resilience/deadline.js";
import type { RequestContext } from "../upstream.js";
import { clientGone } from "./call-errors.js";

/** Methods that may be sent again when no answer came back. */
export const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/** Bodies up to this size are buffered on idempotent requests of routes with `retry`, so a retry can resend them. */
export const REPLAY_LIMIT = 64 * 1024;

export interface RequestBody {
  hasBody: boolean;
  /** The whole body, when it was buffered for a retry. */
  body: Buffer | undefined;
  /** Whether the request can be sent again: it has no body, or the body is buffered. */
  replayable: boolean;
}

export async function readReplayableBody(ctx: RequestContext): Promise<RequestBody> {
  const { req, route } = ctx;
  const method = req.method ?? "GET";
  const length = req.headers["content-length"];
  const hasBody = length !== undefined ? length !== "0" : req.headers["transfer-encoding"] !== undefined;
  let body: Buffer | undefined;
  if (hasBody && IDEMPOTENT.has(method) && route.config.retry && length !== undefined && Number(length) <= REPLAY_LIMIT) {
    // Read before the exchange (whose deadline starts after it), so it gets the route timeout of its own: a body trickled forever must not hold the request.
    const reading = new Deadline(route.config.timeout);
    try {
      body = await abortable(readAll(req), reading.signal);
    } finally {
      reading.clear();
    }
  }
  return { hasBody, body, replayable: !hasBody || body !== undefined };
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
    req.once("close", () => {
      if (!req.complete) reject(clientGone());
    });
  });
}
