/** A subscription as server-sent events: messages as they come, a heartbeat, and the output limits for a subscriber that does not read. */
import type { Limits } from "../../../config/validate.js";
import { log } from "../../../observability/log.js";
import { metrics } from "../../../observability/metrics.js";
import type { RequestContext } from "../../upstream.js";
import type { DedicatedConnection } from "../client/dedicated-connection.js";
import type { Frame } from "../resp/value.js";
import { sseEvent } from "./json-reply.js";
import { OutputLimit } from "./output-limit.js";

/** A comment line on idle SSE streams, so proxies and clients see the stream is alive. */
const SSE_HEARTBEAT_MS = 15_000;

/** Stream `conn`'s pub/sub messages (subscribed to `channel`) to the client until either side closes; then `release`. */
export function streamEvents(
  ctx: RequestContext,
  route: string,
  conn: DedicatedConnection,
  channel: Buffer,
  limits: Limits["redis"]["output"],
  release: () => void,
): void {
  const { req, res } = ctx;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    "x-accel-buffering": "no",
    "x-request-id": ctx.requestId,
  });
  // A subscriber that does not read must not make attache hold every message for it (see README, limits).
  const limit = new OutputLimit(
    limits,
    () => res.writableLength,
    (reason, unsent) => {
      log.warn({ route, requestId: ctx.requestId, reason, unsent }, "SSE subscriber disconnected: output buffer limit");
      metrics.clientDisconnects.inc({ route, reason });
      res.destroy();
    },
  );
  const write = (data: string | Buffer) => {
    if (res.destroyed) return;
    res.write(data);
    limit.check();
  };
  write(`: subscribed to ${JSON.stringify(channel.toString())}\n\n`);
  const heartbeat = setInterval(() => write(": keep-alive\n\n"), SSE_HEARTBEAT_MS);
  heartbeat.unref();
  conn.on("push", (frame: Frame) => {
    const event = sseEvent(frame.value);
    if (event) write(event);
  });
  res.on("drain", () => limit.check());
  const end = () => {
    clearInterval(heartbeat);
    limit.stop();
    conn.close();
    release();
  };
  res.once("close", end);
  req.once("close", () => {
    if (!res.writableEnded) res.end();
  });
  conn.once("close", () => {
    if (!res.writableEnded) res.end();
  });
}
