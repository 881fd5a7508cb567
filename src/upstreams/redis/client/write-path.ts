/** How commands reach the shared connection's socket: raw writes, one socket write per turn, and waiting for the first ready. */
import { Redis, type Cluster } from "ioredis";
import { abortable, type DeadlineSignal } from "../../../resilience/deadline.js";
import { enqueue, socketOf } from "./ioredis-tap.js";
import type { Outages } from "./outages.js";
import type { RawCommand } from "./raw-command.js";

export class WritePath {
  /** Resolves at the first ready; shared by the commands that wait for it (whenReady). */
  private firstReady: Promise<void> | undefined;
  private corked: { uncork(): void } | undefined;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly db: number,
    private readonly outages: Outages,
    private readonly closed: () => boolean,
  ) {}

  /**
   * Whether raw commands can be written now: "ready" (write), "wait" (the first connection is still
   * coming: wait for it with `whenReady`), or "down" (fail fast: Redis was reachable and is away now).
   */
  rawState(): "ready" | "wait" | "down" {
    const status = this.redis.status;
    if (status === "ready") return this.redis instanceof Redis && socketOf(this.redis)?.writable ? "ready" : "down";
    return this.firstStillComing() ? "wait" : "down";
  }

  /**
   * Write encoded commands in one socket write, and queue them for ioredis' reply bookkeeping, in
   * the same order. Only when `rawState()` is "ready".
   */
  writeRaw(wire: Buffer, commands: readonly RawCommand[]): void {
    const redis = this.redis as Redis;
    socketOf(redis)!.write(wire);
    // ioredis only reads its queue entries: one entry stands in every position of a command's replies.
    for (const command of commands) enqueue(redis, command, command.expected, this.db);
  }

  /** Before the first ready: wait for it (bounded by the deadline). After: Redis is away, fail now. */
  whenReady(signal?: DeadlineSignal): Promise<void> {
    if (!this.firstStillComing()) return Promise.reject(this.outages.down(this.redis.status));
    // One pair of listeners for every waiting command (a burst at start-up would add hundreds); they
    // resume in the order they came, which keeps each client's order.
    this.firstReady ??= new Promise<void>((resolve, reject) => {
      const done = (err?: unknown) => {
        this.redis.off("ready", onReady);
        this.redis.off("error", onError);
        this.firstReady = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onError = (err: Error) => done(this.outages.unreachable(err));
      this.redis.once("ready", onReady);
      this.redis.once("error", onError);
    });
    // Handled by every waiter; this keeps a rejection nobody waits for any more from being "unhandled".
    this.firstReady.catch(() => {});
    return abortable(this.firstReady, signal);
  }

  /** One socket write per event-loop turn for all commands of all clients (about 2× in the bench: test/bench/README.md). */
  cork(): void {
    if (this.corked) return;
    const stream = this.redis instanceof Redis ? socketOf(this.redis) : undefined;
    if (!stream || typeof stream.cork !== "function") return;
    stream.cork();
    this.corked = stream;
    setImmediate(() => {
      this.corked = undefined;
      stream.uncork();
    });
  }

  /** The first connection is still being made (nothing was ever ready): commands may wait for it. */
  private firstStillComing(): boolean {
    if (this.closed() || this.outages.everReady) return false;
    return ["wait", "connecting", "connect"].includes(this.redis.status);
  }
}
