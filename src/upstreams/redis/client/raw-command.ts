/** A queue entry for commands whose bytes attache wrote to ioredis' socket itself (the shared connection's raw path). */
import type { QueuedCommand } from "./ioredis-tap.js";

/**
 * Commands on the fast path (measured in test/bench/README.md): their bytes are written to ioredis' socket as they are,
 * and they stand in ioredis' command queue in place of Commands, one entry per reply expected, so
 * ioredis keeps pairing replies with the queue (and its reconnect, AUTH and ready check keep
 * working on the same socket) while the replies themselves come from the tap, with their exact
 * bytes. One RawCommand may be many commands a client sent back to back (`expected` replies).
 * ioredis sees a command named "attache", which matches none of its flag tables (subscriber mode,
 * monitor, blocking). No promise, no Command object, no argument conversion per command.
 */
export abstract class RawCommand implements QueuedCommand {
  /** What ioredis' bookkeeping reads: a name in none of its flag tables, no arguments. */
  readonly name = "attache";
  readonly args: readonly never[] = [];
  settled = false;
  /** Replies the tap has handed over so far. */
  protected received = 0;
  /** ioredis' calls for replies it parsed (resolve, or reject for an error reply). */
  private answered = 0;

  constructor(
    /** The commands' bytes, as Redis is to receive them. */
    readonly wire: Buffer,
    /** Replies expected: one per command in `wire`. */
    readonly expected: number,
  ) {}

  /** The next reply, b[start, end). Called at most `expected` times, and never after `failed`. */
  protected abstract replied(b: Buffer, start: number, end: number): void;
  /** The connection failed before every reply came (ioredis flushed its queue). */
  protected abstract failed(err: Error): void;
  /** The tap is done with a chunk: replies held back to be joined with the next ones should go now. */
  chunkEnd(): void {}

  /** From the tap. */
  frame(b: Buffer, start: number, end: number): void {
    if (this.settled) return;
    this.received++;
    this.replied(b, start, end);
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.failed(err);
  }

  /** ioredis' own parse of a reply: the tap has delivered it already. */
  resolve(): void {
    this.answered++;
  }

  /**
   * ioredis: an error reply (the tap has delivered it already), or a flushed queue (the connection
   * is lost), which is a call for a reply the tap has not seen.
   */
  reject(err: Error): void {
    if (++this.answered > this.received) this.fail(err);
  }
}
