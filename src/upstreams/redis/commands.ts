/**
 * One command on its way to Redis, for both interfaces (HTTP and RESP): allowlist → keyPrefix →
 * the route's resilience (bulkhead, deadline, breaker) → the shared or a dedicated connection →
 * prefix taken off the reply → attache_redis_commands_total.
 */
import type { ResolvedRoute } from "../../config/validate.js";
import { toAttacheError } from "../../errors.js";
import { metrics } from "../../observability/metrics.js";
import type { Resilience } from "../../resilience/policy-stack.js";
import { exists } from "@ioredis/commands";
import type { CommandPolicy } from "./command-policy.js";
import type { DedicatedConnection, Frame } from "./dedicated-connection.js";
import type { KeyNamespace, ReplyRewriter } from "./key-namespace.js";
import type { RedisClient } from "./redis-client.js";
import type { RespValue } from "./resp-codec.js";

/** Commands that put a connection in a state only its own client may see: they need a dedicated connection. */
export const STATEFUL: ReadonlySet<string> = new Set(["MULTI", "WATCH", "SELECT", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"]);
export const SUBSCRIBE_FAMILY: ReadonlySet<string> = new Set(["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"]);
/** Commands that are meaningful only with a dedicated connection (transactions). */
export const TRANSACTION: ReadonlySet<string> = new Set(["MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SELECT", "RESET"]);

/** setTimeout's ceiling (~24.8 days): "block forever" as a deadline. */
const FOREVER_MS = 2 ** 31 - 1;

export interface Prepared {
  /** Upper-case command name. */
  readonly name: string;
  /** What goes to Redis: args[0] the name, keys prefixed. */
  readonly args: Buffer[];
  readonly rewrite: ReplyRewriter | undefined;
  /** How long the command may block in Redis (ms; Infinity: until something arrives); undefined: not blocking. */
  readonly blocking: number | undefined;
}

/** A reply for the app: `raw` is the exact frame from Redis when nothing in it was changed. */
export interface Reply {
  value: RespValue;
  raw?: Buffer | undefined;
}

export type Preparation = { ok: true; command: Prepared } | { ok: false; reason: string };

export class CommandRunner {
  private readonly counters = new Map<string, { inc(): void }>();

  constructor(
    readonly route: ResolvedRoute,
    readonly client: RedisClient,
    readonly policy: CommandPolicy,
    readonly namespace: KeyNamespace,
  ) {}

  /** Allowlist and namespacing; `args[0]` is the command name as the client sent it. */
  prepare(args: readonly Buffer[]): Preparation {
    const name = args[0]!.toString("latin1").toUpperCase();
    const verdict = this.policy.check(name);
    if (!verdict.allowed) {
      this.count(name, "refused");
      return { ok: false, reason: verdict.reason };
    }
    const named = [exists(name.toLowerCase()) ? Buffer.from(name) : args[0]!, ...args.slice(1)];
    return { ok: true, command: { name, args: this.namespace.apply(named), rewrite: this.namespace.rewriter(name), blocking: blockingMs(name, args) } };
  }

  /** On the route's shared connection, through the route's resilience. */
  async shared(resilience: Resilience, command: Prepared): Promise<Reply> {
    return this.run(resilience, command, async (signal) => {
      const frame = await this.client.call(command.args, signal);
      return single(frame, command.rewrite);
    });
  }

  /** On a client's dedicated connection; `onFrame` streams frames (pub/sub) as they arrive. */
  async dedicated(resilience: Resilience, conn: DedicatedConnection, command: Prepared, onFrame?: (frame: Frame, push: boolean) => void): Promise<Frame[]> {
    return this.run(resilience, command, (signal) => {
      const sent = conn.send(command.args, onFrame);
      return new Promise<Frame[]>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        sent.then(
          (frames) => {
            signal.removeEventListener("abort", onAbort);
            resolve(frames);
          },
          (err: unknown) => {
            signal.removeEventListener("abort", onAbort);
            reject(this.client.unreachable(err));
          },
        );
      });
    });
  }

  /** The bulkhead/deadline/breaker stack around one command; counts the outcome. */
  async run<T>(resilience: Resilience, command: Prepared, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeout = command.blocking === undefined ? this.route.timeout : command.blocking === Infinity ? FOREVER_MS : Math.min(FOREVER_MS, command.blocking + this.route.timeout);
    try {
      const admitted = await resilience.exchange((signal) => attempt(signal), { retryable: false, streaming: false, outcome: () => "success", discard: () => {} }, timeout);
      admitted.release();
      const result = admitted.result as unknown;
      this.count(command.name, isErrorReply(result) ? "error" : "ok");
      return admitted.result;
    } catch (err) {
      this.count(command.name, toAttacheError(err, this.route.name).code);
      throw err;
    }
  }

  count(name: string, result: string): void {
    const command = exists(name.toLowerCase()) ? name.toLowerCase() : "other";
    const key = `${command} ${result}`;
    let counter = this.counters.get(key);
    if (!counter) {
      counter = metrics.redisCommands.labels({ route: this.route.name, command, result });
      this.counters.set(key, counter);
    }
    counter.inc();
  }
}

/** A frame after the reply rewriter: the raw bytes survive when nothing changed. */
export function single(frame: Frame, rewrite: ReplyRewriter | undefined): Reply {
  if (rewrite) return { value: rewrite(frame.value) };
  return frame.raw.length ? frame : { value: frame.value };
}

function isErrorReply(result: unknown): boolean {
  if (Array.isArray(result)) return result.length === 1 && (result[0] as Frame).value.type === "error";
  return (result as Reply | undefined)?.value?.type === "error";
}

/** How long a blocking command may wait in Redis, from its own arguments. */
export function blockingMs(name: string, args: readonly Buffer[]): number | undefined {
  const seconds = (b: Buffer | undefined) => {
    const n = b ? Number(b.toString("latin1")) : NaN;
    return Number.isFinite(n) && n >= 0 ? (n === 0 ? Infinity : n * 1000) : 0;
  };
  switch (name) {
    case "BLPOP":
    case "BRPOP":
    case "BZPOPMIN":
    case "BZPOPMAX":
    case "BRPOPLPUSH":
    case "BLMOVE":
      return seconds(args[args.length - 1]);
    case "BLMPOP":
    case "BZMPOP":
      return seconds(args[1]);
    case "XREAD":
    case "XREADGROUP": {
      for (let i = 1; i < args.length - 1; i++) {
        const word = args[i]!.toString("latin1").toUpperCase();
        if (word === "STREAMS") return undefined;
        if (word === "BLOCK") {
          const ms = Number(args[i + 1]!.toString("latin1"));
          return Number.isFinite(ms) && ms >= 0 ? (ms === 0 ? Infinity : ms) : 0;
        }
      }
      return undefined;
    }
    case "WAIT":
      return Number(args[2]?.toString("latin1")) === 0 ? Infinity : Math.max(0, Number(args[2]?.toString("latin1")) || 0);
    case "WAITAOF":
      return Number(args[3]?.toString("latin1")) === 0 ? Infinity : Math.max(0, Number(args[3]?.toString("latin1")) || 0);
    default:
      return undefined;
  }
}

/**
 * What a client's commands did to its connection's state, read from the replies (a refused MULTI
 * does not open a transaction). `sent` tracks MULTI as sent, to know which replies EXEC will carry.
 */
export class ClientState {
  inMulti = false;
  watching = false;
  db: number;
  /** MULTI sent and not yet EXEC/DISCARD-ed. */
  private multiSent = false;
  /** Rewriters of the commands queued in the transaction, for EXEC's reply. */
  private queued: Array<ReplyRewriter | undefined> = [];
  /** A command of the transaction was refused by attache: EXEC must abort, as Redis does after a queuing error. */
  dirty = false;

  constructor(readonly baseDb: number) {
    this.db = baseDb;
  }

  /** No transaction, no watch, the route's database: the client may go back to the shared connection. */
  get neutral(): boolean {
    return !this.inMulti && !this.watching && !this.multiSent && this.db === this.baseDb;
  }

  get inTransaction(): boolean {
    return this.multiSent;
  }

  /** Called as a command is sent; returns the rewriter for its reply (EXEC: one per queued command). */
  sending(command: Prepared): ReplyRewriter | undefined {
    const { name } = command;
    if (name === "MULTI") {
      if (!this.multiSent) {
        this.multiSent = true;
        this.queued = [];
        this.dirty = false;
      }
      return undefined;
    }
    if (name === "EXEC" || name === "DISCARD" || name === "RESET") {
      const queued = this.queued;
      this.multiSent = false;
      this.queued = [];
      if (name !== "EXEC" || !queued.some(Boolean)) return undefined;
      return (reply) => (reply.type === "array" && reply.value ? { type: "array", value: reply.value.map((v, i) => queued[i]?.(v) ?? v) } : reply);
    }
    if (this.multiSent && name !== "WATCH") {
      this.queued.push(command.rewrite);
      return undefined;
    }
    return command.rewrite;
  }

  /** A command of the open transaction was refused locally. */
  refusedInTransaction(): void {
    if (this.multiSent) this.dirty = true;
  }

  replied(command: Prepared, reply: RespValue): void {
    const ok = reply.type !== "error";
    switch (command.name) {
      case "MULTI":
        if (ok) this.inMulti = true;
        break;
      case "EXEC":
      case "DISCARD":
        this.inMulti = false;
        this.watching = false;
        break;
      case "WATCH":
        if (ok) this.watching = true;
        break;
      case "UNWATCH":
        if (ok) this.watching = false;
        break;
      case "SELECT":
        if (ok) this.db = Number(command.args[1]!.toString("latin1"));
        break;
      case "RESET":
        this.inMulti = false;
        this.watching = false;
        this.db = 0;
        break;
    }
  }
}
