/**
 * The shared connection's commands of one event-loop turn, from every client and both interfaces: one
 * resilience exchange (one bulkhead slot, one deadline, one breaker count) and one socket write. Per
 * command there is then no timer, no AbortController, no promise and no breaker call; the breaker
 * still sees every failure of the connection, because a lost connection or a passed deadline fails
 * the whole batch, and an error reply is Redis answering (a success).
 */
import { toAttacheError } from "../../../errors.js";
import type { DeadlineSignal } from "../../../resilience/deadline.js";
import type { Resilience } from "../../../resilience/policy-stack.js";
import { RawCommand } from "../client/raw-command.js";
import type { RedisClient } from "../client/redis-client.js";
import type { RawPipe } from "../client/shared-pipe.js";
import { encodeValue } from "../resp/encoder.js";
import { decodeReply } from "../resp/reply-parser.js";
import type { CommandNames, NameInfo } from "./command-names.js";
import type { ReplyRewriter } from "./key-namespace.js";
import type { ReplySink } from "./prepared.js";

/** The first byte of an error reply ("-"). */
const ERROR_BYTE = 45;

/** What a batch needs of its route. */
export interface BatchRoute {
  readonly client: RedisClient;
  readonly names: CommandNames;
  readonly route: { readonly name: string; readonly timeout: number };
}

/** A connection ready since the breaker opened is a successful probe: the breaker closes (breaker.ts). */
export function readyAgain(resilience: Resilience, client: RedisClient): void {
  if (resilience.breaker.state !== "closed") resilience.breaker.recovered(client.readyAt);
}

/**
 * Shared commands in a batch: in ioredis' queue as a RawCommand, their reply frames straight from
 * the tap. Replies that arrived together go on as one piece of the chunk they came in.
 */
export class SharedCommand<T = unknown> extends RawCommand {
  /** Replies handed over and not passed on yet: held[heldStart, heldEnd), one range of one chunk. */
  private held: Buffer | undefined;
  private heldStart = 0;
  private heldEnd = 0;

  constructor(
    private readonly batch: Batch,
    wire: Buffer,
    /** One per command, in order. */
    private readonly names: readonly NameInfo[],
    /** Only for a single command. */
    private readonly rewrite: ReplyRewriter | undefined,
    private readonly sink: ReplySink<T>,
    private readonly token: T,
  ) {
    super(wire, names.length);
  }

  protected replied(b: Buffer, start: number, end: number): void {
    this.batch.runner.names.countReply(this.names[this.received - 1]!, b[start] === ERROR_BYTE);
    if (this.rewrite) this.sink.replyBytes(this.token, encodeValue(this.rewrite(decodeReply(b.subarray(start, end)))));
    else if (this.held === b && this.heldEnd === start) this.heldEnd = end;
    else {
      this.passOn();
      this.held = b;
      this.heldStart = start;
      this.heldEnd = end;
    }
    if (this.received < this.expected) return;
    this.passOn();
    this.settled = true;
    this.batch.settledOne();
    this.sink.settled(this.token, undefined, 0);
  }

  override chunkEnd(): void {
    this.passOn();
  }

  protected failed(err: Error): void {
    const runner = this.batch.runner;
    const unreachable = runner.client.unreachable(err);
    this.giveUp(unreachable.code, unreachable);
    this.batch.failedOne(unreachable);
  }

  /** The batch failed as a whole (circuit open, overloaded, deadline, Redis away). */
  abandon(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.giveUp(toAttacheError(err, this.batch.runner.route.name).code, err);
  }

  /** Replies that came go on; the commands still without one fail with `err`. */
  private giveUp(code: string, err: unknown): void {
    this.passOn();
    const runner = this.batch.runner;
    for (let i = this.received; i < this.expected; i++) runner.names.countInfo(this.names[i]!, code);
    this.sink.settled(this.token, err, this.expected - this.received);
  }

  private passOn(): void {
    if (!this.held) return;
    this.sink.replyBytes(this.token, this.held.subarray(this.heldStart, this.heldEnd));
    this.held = undefined;
  }
}

/**
 * The shared commands of one event-loop turn: one resilience exchange, one socket write, on `pipe`
 * (the ioredis connection for the HTTP API, client/shared-pipe.ts for RESP listener clients).
 */
export class Batch {
  private readonly commands: SharedCommand[] = [];
  private pending = 0;
  private done: (() => void) | undefined;
  private fail: ((err: unknown) => void) | undefined;

  constructor(
    readonly runner: BatchRoute,
    readonly resilience: Resilience,
    private readonly pipe: RawPipe,
  ) {}

  add(command: SharedCommand): void {
    this.commands.push(command);
  }

  send(): void {
    this.pending = this.commands.length;
    readyAgain(this.resilience, this.runner.client);
    this.resilience
      .exchange((signal) => this.attempt(signal), BATCH_EXCHANGE, this.runner.route.timeout)
      .then(
        (admitted) => admitted.release(),
        (err: unknown) => this.abandon(err),
      );
  }

  settledOne(): void {
    if (--this.pending === 0) this.done?.();
  }

  /** A lost connection: ioredis fails every queued command; the exchange fails (and counts) once. */
  failedOne(err: unknown): void {
    this.fail?.(err);
  }

  private attempt(signal: DeadlineSignal): Promise<void> {
    const { client } = this.runner;
    const pipe = this.pipe;
    const state = pipe.rawState();
    if (state === "down") return Promise.reject(client.down());
    if (state === "wait") return pipe.ready(signal).then(() => this.attempt(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      this.done = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      this.fail = (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const commands = this.commands;
      const parts: Buffer[] = new Array(commands.length);
      let bytes = 0;
      for (let i = 0; i < commands.length; i++) {
        const { wire } = commands[i]!;
        parts[i] = wire;
        bytes += wire.length;
      }
      pipe.writeRaw(parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes), commands);
    });
  }

  private abandon(err: unknown): void {
    for (const command of this.commands) command.abandon(err);
  }
}

/** A batch is one exchange: not retried (a resent INCR would run twice), never streaming; Redis' error replies are answers. */
export const BATCH_EXCHANGE = { retryable: false, streaming: false, outcome: () => "success" as const, discard: () => {} };
