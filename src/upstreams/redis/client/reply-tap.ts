/**
 * The frame tap on a shared-connection socket, ahead of ioredis' parser: each reply frame's bounds
 * found (resp/reply-scanner.ts) and its exact bytes handed to the command the ioredis queue says it
 * answers (a RawCommand), or tagged on ioredis' Command (FRAME). See redis-client.ts on why.
 */
import type { Command, Redis } from "ioredis";
import { log } from "../../../observability/log.js";
import { RawFrame } from "../resp/reply-parser.js";
import { ReplyScanner } from "../resp/reply-scanner.js";
import type { Frame } from "../resp/value.js";
import { queuedAt, socketOf } from "./ioredis-tap.js";
import { RawCommand } from "./raw-command.js";

/** The exact reply frame of an ioredis Command, as the tap kept it. */
export const FRAME = Symbol("attache.frame");
export type Tagged = Command & { [FRAME]?: Frame };

/** Attach the frame tap to a freshly connected socket of `redis` (the route `route`). */
export function tapReplies(redis: Redis, route: string): void {
  const stream = socketOf(redis)!;
  // Per chunk: the queue entry the next frame answers, and the last raw command given a reply (the
  // queue is in reply order: only that one can still be waiting for more).
  const at: { k: number; last: RawCommand | undefined } = { k: 0, last: undefined };
  let desynced = false;
  const scanner = new ReplyScanner((b, start, end) => {
    if (desynced) return;
    const command = queuedAt(redis, at.k++);
    if (!command) {
      // A reply no command waits for: every later reply would answer the wrong command (ioredis
      // only reports it and goes on). Reset this connection: its in-flight commands fail with
      // upstream_unreachable, ioredis reconnects, and nothing is paired wrongly meanwhile.
      desynced = true;
      log.warn({ route }, "redis sent a reply no command waits for; resetting the connection");
      stream.destroy(new Error("redis sent a reply no command waits for"));
      return;
    }
    if (command instanceof RawCommand) {
      command.frame(b, start, end);
      at.last = command;
    } else (command as Tagged)[FRAME] = new RawFrame(b.subarray(start, end));
  });
  stream.prependListener("data", (chunk: Buffer) => {
    at.k = 0;
    try {
      scanner.feed(chunk);
    } catch {
      // ioredis' parser meets the same bytes and treats them as fatal (reconnect).
    }
    const last = at.last;
    at.last = undefined;
    last?.chunkEnd();
  });
}
