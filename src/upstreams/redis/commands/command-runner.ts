/**
 * One command on its way to Redis, for both interfaces (HTTP and RESP): allowlist → keyPrefix →
 * the route's resilience (bulkhead, deadline, breaker) → the shared or a dedicated connection →
 * prefix taken off the reply → attache_redis_commands_total.
 *
 * The shared connection takes commands in batches (issue 10): every command for it that arrives in
 * one event-loop turn, from every client and both interfaces, goes through the route's resilience
 * as one exchange (one bulkhead slot, one deadline, one breaker count) and to Redis in one socket
 * write. Per command there is then no timer, no AbortController, no promise and no breaker call;
 * the breaker still sees every failure of the connection, because a lost connection or a passed
 * deadline fails the whole batch, and an error reply is Redis answering (a success, as before).
 * Commands a RESP client sent back to back that can go exactly as sent (NameInfo.asSent) are one
 * entry of the batch, one slice of the client's bytes; their replies come back as slices of Redis'.
 */
import type { ResolvedRoute } from "../../../config/validate.js";
import { toAttacheError } from "../../../errors.js";
import { metrics } from "../../../observability/metrics.js";
import type { Resilience } from "../../../resilience/policy-stack.js";
import { exists } from "@ioredis/commands";
import { ClientSlotOrder } from "../failover/cluster-order.js";
import { splitBySlot } from "./cluster-split.js";
import { ARGUMENT_CHECKED, LOCAL, STATEFUL } from "../command-sets.js";
import type { CommandPolicy } from "./command-policy.js";
import type { DedicatedConnection } from "../client/dedicated-connection.js";
import type { KeyNamespace, KeySpec, ReplyRewriter } from "./key-namespace.js";
import { RawCommand, type RedisClient } from "../client/redis-client.js";
import { decodeReply, RawFrame } from "../resp/reply-parser.js";
import { encodeCommand, encodeValue } from "../resp/encoder.js";
import { type Frame, type RespValue } from "../resp/value.js";
import { abortable, type DeadlineSignal } from "../../../resilience/deadline.js";

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
  /** The command's bytes as the client sent them, when attache changed none of them (no key was prefixed). */
  readonly wire?: Buffer | undefined;
}

/** Where shared commands' replies go (a RESP session, or a promise for the HTTP API); `token` is the caller's. */
export interface ReplySink<T> {
  /** Reply bytes for `token`'s commands: whole frames, in order; more may follow until `settled`. */
  replyBytes(token: T, bytes: Buffer): void;
  /** Every command of `token` is answered, except the last `unanswered`, which failed with `err`. */
  settled(token: T, err: unknown, unanswered: number): void;
}

/** A reply for the app: `raw` is the exact frame from Redis when nothing in it was changed. */
export interface Reply {
  value: RespValue;
  raw?: Buffer | undefined;
}

export type Preparation = { ok: true; command: Prepared } | { ok: false; reason: string };

/** One label set of attache_redis_commands_total, counted here and added to prom-client once per turn. */
interface Counter {
  readonly metric: { inc(n: number): void };
  n: number;
}

/** What attache decided about a command name, once. */
export interface NameInfo {
  /** Upper-case. */
  bytes: Buffer;
  known: boolean;
  /** The `command` label: the lower-case name, or "other". */
  counted: string;
  /** By result. */
  counters: Map<string, Counter>;
  /** The commonest results' counters, without a map lookup. */
  ok: Counter | undefined;
  error: Counter | undefined;
  /**
   * Whatever its arguments, the command goes to Redis on the shared connection as the client sent
   * it, with at most the keyPrefix put in front of its keys (found from the argument count alone:
   * `keys`), and its reply comes back unchanged: allowed, no reply to rewrite, never blocking, no
   * state, not answered by attache.
   */
  asSent: boolean;
  /** Where an asSent command's keys are, on a route with a keyPrefix; undefined without one. */
  keys: KeySpec | undefined;
  /** The allowlist's verdict (known names only: decided once). */
  verdict: { allowed: true } | { allowed: false; reason: string };
  rewrite: ReplyRewriter | undefined;
  /** blockingMs may say it blocks (it depends on the arguments only for these names). */
  mayBlock: boolean;
}

/** Arguments that make every blocking command look blocking to blockingMs (XREAD: BLOCK before STREAMS). */
const PROBE = ["X", "BLOCK", "1", "1", "1", "1"].map((s) => Buffer.from(s));

/** The first byte of an error reply ("-"). */
const ERROR_BYTE = 45;

/** Counters with counts not yet added (prom-client hashes the labels on every inc: once per turn, not per command). */
let countsDue: Counter[] = [];
function addDueCounts(): void {
  const due = countsDue;
  countsDue = [];
  for (const c of due) {
    c.metric.inc(c.n);
    c.n = 0;
  }
}

function addOne(counter: Counter): void {
  if (counter.n++ === 0) {
    if (countsDue.length === 0) setImmediate(addDueCounts);
    countsDue.push(counter);
  }
}

export class CommandRunner {
  /** Upper-case name → its bytes, whether ioredis knows it, its counters (decided once per name). */
  private readonly names = new Map<string, NameInfo>();
  /** Every unknown name: counted as "other". */
  private readonly other: NameInfo = {
    bytes: Buffer.alloc(0), known: false, counted: "other", counters: new Map(), ok: undefined, error: undefined, asSent: false, keys: undefined, verdict: { allowed: false, reason: "" }, rewrite: undefined, mayBlock: true,
  };
  /** Known names met so far, by length and first letter: `lookup` finds one from its bytes, with no string made. */
  private readonly byBytes = new Map<number, NameInfo[]>();
  /** Some commands can go to Redis as sent (NameInfo.asSent): on the raw path (not a cluster). */
  readonly takesAsSent: boolean;
  /**
   * INFO goes to Redis (monitoring tools read keyspace and memory through attache) when `commands`
   * lists it, or is ["*"] on a route without a keyPrefix (INFO keyspace counts every tenant's keys,
   * like DBSIZE); otherwise attache answers it, saying it is an ambassador.
   */
  readonly forwardsInfo: boolean;
  private batch: Batch | undefined;
  /** Cluster: each RESP client's order per slot while slots move (cluster-order.ts), by its reply sink. */
  private readonly orders = new WeakMap<object, ClientSlotOrder>();

  constructor(
    readonly route: ResolvedRoute,
    readonly client: RedisClient,
    readonly policy: CommandPolicy,
    readonly namespace: KeyNamespace,
  ) {
    this.takesAsSent = client.fastPath;
    this.forwardsInfo = policy.isListed("INFO") || (policy.all && !namespace.prefix);
  }

  /**
   * Allowlist and namespacing; `args[0]` is the command name as the client sent it (replaced in
   * place by its upper-case form for a known command), `name` its upper-case form when the caller
   * has it, `raw` the command's bytes as the client sent them.
   */
  prepare(args: Buffer[], name = args[0]!.toString("latin1").toUpperCase(), raw?: Buffer): Preparation {
    const info = this.nameInfo(name);
    // Known names: the verdict was decided once; unknown ones are checked each time (not cached).
    let verdict = info.known ? info.verdict : this.policy.check(name);
    if (verdict.allowed && ARGUMENT_CHECKED.has(name)) verdict = this.policy.checkArguments(name, args);
    if (!verdict.allowed) {
      this.count(name, "refused");
      return { ok: false, reason: verdict.reason };
    }
    if (info.known) args[0] = info.bytes;
    const prefixed = this.namespace.apply(args);
    let unchanged = raw !== undefined && prefixed.length === args.length;
    if (prefixed !== args) for (let i = 1; unchanged && i < args.length; i++) unchanged = prefixed[i] === args[i];
    const rewrite = info.known ? info.rewrite : this.namespace.rewriter(name);
    return { ok: true, command: { name, args: prefixed, rewrite, blocking: info.known && !info.mayBlock ? undefined : blockingMs(name, args), wire: unchanged ? raw : undefined } };
  }

  /** On the route's shared connection, through the route's resilience. */
  shared(resilience: Resilience, command: Prepared): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => this.sendShared(resilience, command, PROMISE_SINK, { bytes: undefined, resolve, reject }));
  }

  /**
   * On the route's shared connection, batched with everything else sent to it in this event-loop
   * turn; the outcome goes to `sink.reply(token, ...)` as soon as the reply frame is in.
   */
  sendShared<T>(resilience: Resilience, command: Prepared, sink: ReplySink<T>, token: T): void {
    if (!this.client.fastPath) {
      // Cluster: ioredis' Command path, which routes by slot; a cross-slot command split where safe.
      const split = splitBySlot(command);
      const order = sink === (PROMISE_SINK as unknown) ? undefined : this.orderOf(sink);
      this.run(resilience, command, async (signal) => {
        if (!split) {
          const call = () => this.client.call(command.args, signal);
          const frame = order ? await order.run(command.args, (slot) => this.client.clusterNodeFor(slot), call, signal) : await call();
          return single(frame, command.rewrite);
        }
        const frames = await Promise.all(split.parts.map((part) => this.client.call(part.args, signal)));
        return { value: split.merge(frames.map((f) => f.value)) };
      }).then(
        (reply) => {
          sink.replyBytes(token, reply.raw ?? encodeValue(reply.value));
          sink.settled(token, undefined, 0);
        },
        (err: unknown) => {
          // The HTTP API's errors are counted where they are rendered (respond-error.ts); a RESP client's here.
          if (sink !== PROMISE_SINK) countUpstreamError(this.route.name, err);
          sink.settled(token, err, 1);
        },
      );
      return;
    }
    const batch = this.batchFor(resilience);
    batch.add(new SharedCommand(batch, command.wire ?? encodeCommand(command.args), [this.nameInfo(command.name)], command.rewrite, sink, token));
  }

  /**
   * Commands a client sent back to back, all `asSent` (see NameInfo), as their bytes `wire`: batched
   * like sendShared, and their replies go to `sink` as they come, joined where they arrived together.
   * Only on the raw path (`client.fastPath`).
   */
  sendAsSent<T>(resilience: Resilience, wire: Buffer, names: NameInfo[], sink: ReplySink<T>, token: T): void {
    const batch = this.batchFor(resilience);
    batch.add(new SharedCommand(batch, wire, names, undefined, sink, token));
  }

  private orderOf(client: object): ClientSlotOrder {
    let order = this.orders.get(client);
    if (!order) this.orders.set(client, (order = new ClientSlotOrder(() => this.client.slotsMoving())));
    return order;
  }

  /** The batch of this event-loop turn for this resilience stack. */
  private batchFor(resilience: Resilience): Batch {
    let batch = this.batch;
    if (batch && batch.resilience !== resilience) {
      // Another generation's stack (a reload in this very turn): keep the order, send what was gathered.
      this.flush();
      batch = undefined;
    }
    if (!batch) {
      batch = this.batch = new Batch(this, resilience);
      setImmediate(() => {
        if (this.batch === batch) this.flush();
      });
    }
    return batch;
  }

  /** Send the batch gathered so far (normally at the end of the event-loop turn). */
  flush(): void {
    const batch = this.batch;
    this.batch = undefined;
    batch?.send();
  }

  /** On a client's dedicated connection; `onFrame` streams frames (pub/sub) as they arrive. */
  async dedicated(resilience: Resilience, conn: DedicatedConnection, command: Prepared, onFrame?: (frame: Frame, push: boolean) => void): Promise<Frame[]> {
    return this.run(resilience, command, (signal) =>
      abortable(
        conn.send(command.args, onFrame).catch((err: unknown) => {
          throw this.client.unreachable(err);
        }),
        signal,
      ),
    );
  }

  /**
   * Commands on a client's dedicated connection as one resilience exchange (a RESP3 client's plain
   * commands of one event-loop turn: one deadline and breaker call for all, as the shared batch has).
   * `onFrame` streams each command's frames; `onDone(i, err)` once per command, in order of replies.
   */
  dedicatedMany(resilience: Resilience, conn: DedicatedConnection, commands: readonly Prepared[], onFrame: (i: number, frame: Frame, push: boolean) => void, onDone: (i: number, err?: unknown) => void): void {
    const done = new Array<boolean>(commands.length).fill(false);
    const attempt = (signal: DeadlineSignal) =>
      abortable(
        Promise.all(
          commands.map((command, i) =>
            conn.send(command.args, (frame, push) => onFrame(i, frame, push)).then((frames) => {
              done[i] = true;
              this.countReply(this.nameInfo(command.name), frames[frames.length - 1]!.value.type === "error");
              onDone(i);
            }),
          ),
        ).catch((err: unknown) => {
          throw this.client.unreachable(err);
        }),
        signal,
      );
    resilience.exchange(attempt, BATCH_EXCHANGE, this.route.timeout).then(
      (admitted) => admitted.release(),
      (err: unknown) => {
        const code = toAttacheError(err, this.route.name).code;
        commands.forEach((command, i) => {
          if (done[i]) return;
          done[i] = true;
          this.count(command.name, code);
          onDone(i, err);
        });
      },
    );
  }

  /** The bulkhead/deadline/breaker stack around one command; counts the outcome. */
  async run<T>(resilience: Resilience, command: Prepared, attempt: (signal: DeadlineSignal) => Promise<T>): Promise<T> {
    const timeout = command.blocking === undefined ? this.route.timeout : command.blocking === Infinity ? FOREVER_MS : Math.min(FOREVER_MS, command.blocking + this.route.timeout);
    readyAgain(resilience, this.client);
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
    this.countInfo(this.nameInfo(name), result);
  }

  countInfo(info: NameInfo, result: string): void {
    addOne(this.counter(info, result));
  }

  /** One reply from Redis: "ok", or "error" for an error reply. */
  countReply(info: NameInfo, error: boolean): void {
    addOne(error ? (info.error ??= this.counter(info, "error")) : (info.ok ??= this.counter(info, "ok")));
  }

  private counter(info: NameInfo, result: string): Counter {
    let counter = info.counters.get(result);
    if (!counter) {
      counter = { metric: metrics.redisCommands.labels({ route: this.route.name, command: info.counted, result }), n: 0 };
      info.counters.set(result, counter);
    }
    return counter;
  }

  /** A name's info from its bytes b[start, end), in any case, once the name has been met by `prepare`. */
  lookup(b: Buffer, start: number, end: number): NameInfo | undefined {
    const candidates = this.byBytes.get(bytesKey(end - start, b[start]!));
    if (candidates) for (const info of candidates) if (sameName(info.bytes, b, start)) return info;
    return undefined;
  }

  private nameInfo(name: string): NameInfo {
    let info = this.names.get(name);
    if (!info) {
      const lower = name.toLowerCase();
      // Unknown names are not kept: a client sending random names must not grow this map.
      if (!exists(lower)) return this.other;
      const verdict = this.policy.check(name);
      const rewrite = this.namespace.rewriter(name);
      const mayBlock = blockingMs(name, PROBE) !== undefined;
      const keys = this.namespace.prefix ? this.namespace.fixedKeys(name) : undefined;
      const asSent = this.takesAsSent && verdict.allowed && !rewrite && !mayBlock && !STATEFUL.has(name) && !LOCAL.has(name) && !ARGUMENT_CHECKED.has(name) && (!this.namespace.prefix || keys !== undefined);
      info = { bytes: Buffer.from(name, "latin1"), known: true, counted: lower, counters: new Map(), ok: undefined, error: undefined, asSent, keys, verdict, rewrite, mayBlock };
      this.names.set(name, info);
      const key = bytesKey(info.bytes.length, info.bytes[0]!);
      const candidates = this.byBytes.get(key);
      if (candidates) candidates.push(info);
      else this.byBytes.set(key, [info]);
    }
    return info;
  }
}

/** A connection ready since the breaker opened is a successful probe: the breaker closes (breaker.ts). */
function readyAgain(resilience: Resilience, client: RedisClient): void {
  if (resilience.breaker.state !== "closed") resilience.breaker.recovered(client.readyAt);
}

function countUpstreamError(route: string, err: unknown): void {
  const error = toAttacheError(err, route);
  if (error.status >= 500) metrics.upstreamErrors.inc({ route, reason: error.code });
}

/** For one command (the HTTP API): its single frame, or its error. */
const PROMISE_SINK: ReplySink<{ bytes: Buffer | undefined; resolve(reply: Reply): void; reject(err: unknown): void }> = {
  replyBytes(token, bytes) {
    token.bytes = bytes;
  },
  settled(token, err, unanswered) {
    if (unanswered > 0) token.reject(err);
    else token.resolve(new RawFrame(token.bytes!));
  },
};

function bytesKey(length: number, first: number): number {
  return length * 256 + upperByte(first);
}

function upperByte(c: number): number {
  return c >= 97 && c <= 122 ? c - 32 : c;
}

/** `name` (upper-case) equals b[start, start + name.length) in any case, as Redis compares names. */
function sameName(name: Buffer, b: Buffer, start: number): boolean {
  for (let i = 0; i < name.length; i++) if (upperByte(b[start + i]!) !== name[i]) return false;
  return true;
}

/**
 * Shared commands in a batch: in ioredis' queue as a RawCommand, their reply frames straight from
 * the tap. Replies that arrived together go on as one piece of the chunk they came in.
 */
class SharedCommand<T = unknown> extends RawCommand {
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
    this.batch.runner.countReply(this.names[this.received - 1]!, b[start] === ERROR_BYTE);
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
    for (let i = this.received; i < this.expected; i++) runner.countInfo(this.names[i]!, code);
    this.sink.settled(this.token, err, this.expected - this.received);
  }

  private passOn(): void {
    if (!this.held) return;
    this.sink.replyBytes(this.token, this.held.subarray(this.heldStart, this.heldEnd));
    this.held = undefined;
  }
}

/** The shared commands of one event-loop turn: one resilience exchange, one socket write. */
class Batch {
  private readonly commands: SharedCommand[] = [];
  private pending = 0;
  private done: (() => void) | undefined;
  private fail: ((err: unknown) => void) | undefined;

  constructor(
    readonly runner: CommandRunner,
    readonly resilience: Resilience,
  ) {}

  add(command: SharedCommand): void {
    this.commands.push(command);
  }

  send(): void {
    this.pending = this.commands.length;
    readyAgain(this.resilience, this.runner.client);
    this.resilience.exchange((signal) => this.attempt(signal), BATCH_EXCHANGE, this.runner.route.timeout).then(
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
    const client = this.runner.client;
    const state = client.rawState();
    if (state === "down") return Promise.reject(client.down());
    if (state === "wait") return client.ready(signal).then(() => this.attempt(signal));
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
      client.writeRaw(parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes), commands);
    });
  }

  private abandon(err: unknown): void {
    for (const command of this.commands) command.abandon(err);
  }
}

/** A batch is one exchange: not retried (a resent INCR would run twice), never streaming; Redis' error replies are answers. */
const BATCH_EXCHANGE = { retryable: false, streaming: false, outcome: () => "success" as const, discard: () => {} };

/** A frame after the reply rewriter: the raw bytes survive when nothing changed. */
export function single(frame: Frame, rewrite: ReplyRewriter | undefined): Reply {
  if (rewrite) return { value: rewrite(frame.value) };
  return frame.raw.length ? frame : { value: frame.value };
}

function isErrorReply(result: unknown): boolean {
  if (Array.isArray(result)) return result.length === 1 && (result[0] as Frame).value.type === "error";
  return (result as Reply | undefined)?.value?.type === "error";
}

/** A blocking command's timeout argument in seconds → ms (0: forever; not a number: 0, and Redis refuses it). */
function seconds(b: Buffer | undefined): number {
  const n = b ? Number(b.toString("latin1")) : NaN;
  return Number.isFinite(n) && n >= 0 ? (n === 0 ? Infinity : n * 1000) : 0;
}

/** How long a blocking command may wait in Redis, from its own arguments. */
export function blockingMs(name: string, args: readonly Buffer[]): number | undefined {
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
        // Redis went back to db 0; the dedicated connection selects the route's db again (dedicated-connection.ts).
        this.inMulti = false;
        this.watching = false;
        this.db = this.baseDb;
        break;
    }
  }
}
