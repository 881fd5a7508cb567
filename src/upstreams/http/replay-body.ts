/** Reading a request's body ahead of the exchange when it is small enough for a retry to resend it. */
import type { IncomingMessage } from "node:http";
import { abortable, Deadline } from "../../resilience/deadline.js";
import type { RequestContext } from "../upstream.js";
import { clientGone } from "./call-errors.js";

/** Methods that may be sent again when no answer came back. */
export const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/** Bodies up to this size are buffered on idempotent requests of routes with `retry`, so a retry can resend them. */
export const REPLAY_LIMIT = 64 * 1024;

export interface BodyPlan {
  hasBody: boolean;
  /** Buffer the whole body before the exchange, so a retry can resend it. */
  buffer: boolean;
}

/** Decided from the head alone: most requests have no body, and nothing is awaited for them. */
export function planBody(ctx: RequestContext): BodyPlan {
  const { req, route } = ctx;
  const length = req.headers["content-length"];
  const hasBody = length !== undefined ? length !== "0" : req.headers["transfer-encoding"] !== undefined;
  const buffer =
    hasBody &&
    IDEMPOTENT.has(req.method ?? "GET") &&
    route.config.retry !== undefined &&
    length !== undefined &&
    Number(length) <= REPLAY_LIMIT;
  return { hasBody, buffer };
}

/** The whole body, read before the exchange (whose deadline starts after it), under a route timeout of its own: a body trickled forever must not hold the request. */
export async function readReplayableBody(ctx: RequestContext): Promise<Buffer> {
  const reading = new Deadline(ctx.route.config.timeout);
  try {
    return await abortable(readAll(ctx.req), reading.signal);
  } finally {
    reading.clear();
  }
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
