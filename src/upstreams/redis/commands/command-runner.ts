/**
 * One command on its way to Redis, for both interfaces (HTTP and RESP): allowlist → keyPrefix →
 * the route's resilience (bulkhead, deadline, breaker) → the shared or a dedicated connection →
 * prefix taken off the reply → attache_redis_commands_total.
 *
 * The shared connection takes commands in batches (test/bench/README.md): every command for it that arrives in
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
import { ClientSlotOrder } from "../failover/cluster-order.js";
import { splitBySlot } from "./cluster-split.js";
import { ARGUMENT_CHECKED } from "../command-sets.js";
import type { CommandPolicy } from "./command-policy.js";
import type { DedicatedConnection } from "../client/dedicated-connection.js";
import type { KeyNamespace } from "./key-namespace.js";
import type { RedisClient } from "../client/redis-client.js";
import { RawFrame } from "../resp/reply-parser.js";
import { encodeCommand, encodeValue } from "../resp/encoder.js";
import type { Frame } from "../resp/value.js";
import { abortable, type DeadlineSignal } from "../../../resilience/deadline.js";
import { blockingMs } from "./blocking.js";
import { CommandNames, type NameInfo } from "./command-names.js";
import { isErrorReply, single, type Preparation, type Prepared, type Reply, type ReplySink } from "./prepared.js";
import { Batch, BATCH_EXCHANGE, readyAgain, SharedCommand } from "./shared-batch.js";

/** setTimeout's ceiling (~24.8 days): "block forever" as a deadline. */
const FOREVER_MS = 2 ** 31 - 1;

export class CommandRunner {
  /** Some commands can go to Redis as sent (NameInfo.asSent): on the raw path (not a cluster). */
  readonly takesAsSent: boolean;
  /**
   * INFO goes to Redis (monitoring tools read keyspace and memory through attache) when `commands`
   * lists it, or is ["*"] on a route without a keyPrefix (INFO keyspace counts every tenant's keys,
   * like DBSIZE); otherwise attache answers it, saying it is an ambassador.
   */
  readonly forwardsInfo: boolean;
  /**
   * RESP3 clients' plain commands share a RESP3 connection (client/shared-pipe.ts), batched as RESP2
   * ones are; on a cluster they go on each client's own RESP3 connection.
   */
  readonly sharesResp3: boolean;
  /** This turn's batch for each shared connection: [ioredis (the HTTP API), RESP2 pipe, RESP3 pipe]. */
  private readonly batches: Array<Batch | undefined> = [undefined, undefined, undefined];
  /** Cluster: each RESP client's order per slot while slots move (failover/cluster-order.ts), by its reply sink. */
  private readonly orders = new WeakMap<object, ClientSlotOrder>();
  /** What was decided about each command name, and the counters. */
  readonly names: CommandNames;

  constructor(
    readonly route: ResolvedRoute,
    readonly client: RedisClient,
    readonly policy: CommandPolicy,
    readonly namespace: KeyNamespace,
  ) {
    this.takesAsSent = client.fastPath;
    this.sharesResp3 = client.pipes !== undefined;
    this.names = new CommandNames(route.name, policy, namespace, this.takesAsSent);
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
    return {
      ok: true,
      command: {
        name,
        args: prefixed,
        rewrite,
        blocking: info.known && !info.mayBlock ? undefined : blockingMs(name, args),
        wire: unchanged ? raw : undefined,
      },
    };
  }

  /** On the route's shared connection, through the route's resilience. */
  shared(resilience: Resilience, command: Prepared): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) =>
      this.sendShared(resilience, command, PROMISE_SINK, { bytes: undefined, resolve, reject }),
    );
  }

  /**
   * On the route's shared connection, batched with everything else sent to it in this event-loop
   * turn; the outcome goes to `sink.reply(token, ...)` as soon as the reply frame is in.
   * `protocol`: a RESP listener client's, whose commands take that protocol's pipe (client/shared-pipe.ts);
   * none (the HTTP API): the ioredis connection.
   */
  sendShared<T>(resilience: Resilience, command: Prepared, sink: ReplySink<T>, token: T, protocol?: 2 | 3): void {
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
    const batch = this.batchFor(resilience, protocol);
    batch.add(
      new SharedCommand(batch, command.wire ?? encodeCommand(command.args), [this.nameInfo(command.name)], command.rewrite, sink, token),
    );
  }

  /**
   * Commands a client sent back to back, all `asSent` (see NameInfo), as their bytes `wire`: batched
   * like sendShared, and their replies go to `sink` as they come, joined where they arrived together.
   * Only on the raw path (`client.fastPath`).
   */
  sendAsSent<T>(resilience: Resilience, wire: Buffer, names: NameInfo[], sink: ReplySink<T>, token: T, protocol: 2 | 3): void {
    const batch = this.batchFor(resilience, protocol);
    batch.add(new SharedCommand(batch, wire, names, undefined, sink, token));
  }

  private orderOf(client: object): ClientSlotOrder {
    let order = this.orders.get(client);
    if (!order) {
      order = new ClientSlotOrder(() => this.client.slotsMoving());
      this.orders.set(client, order);
    }
    return order;
  }

  /** The batch of this event-loop turn for this resilience stack and connection. */
  private batchFor(resilience: Resilience, protocol: 2 | 3 | undefined): Batch {
    const pipes = this.client.pipes;
    const i = protocol === undefined || !pipes ? 0 : protocol - 1;
    let batch = this.batches[i];
    if (batch && batch.resilience !== resilience) {
      // Another generation's stack (a reload in this very turn): keep the order, send what was gathered.
      this.flush(i);
      batch = undefined;
    }
    if (!batch) {
      batch = this.batches[i] = new Batch(this, resilience, i === 0 ? this.client : pipes![protocol!]);
      setImmediate(() => {
        if (this.batches[i] === batch) this.flush(i);
      });
    }
    return batch;
  }

  /** Send the batch gathered so far (normally at the end of the event-loop turn). */
  private flush(i: number): void {
    const batch = this.batches[i];
    this.batches[i] = undefined;
    batch?.send();
  }

  /** On a client's dedicated connection; `onFrame` streams frames (pub/sub) as they arrive. */
  async dedicated(
    resilience: Resilience,
    conn: DedicatedConnection,
    command: Prepared,
    onFrame?: (frame: Frame, push: boolean) => void,
  ): Promise<Frame[]> {
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
  dedicatedMany(
    resilience: Resilience,
    conn: DedicatedConnection,
    commands: readonly Prepared[],
    onFrame: (i: number, frame: Frame, push: boolean) => void,
    onDone: (i: number, err?: unknown) => void,
  ): void {
    const done = new Array<boolean>(commands.length).fill(false);
    const attempt = (signal: DeadlineSignal) =>
      abortable(
        Promise.all(
          commands.map((command, i) =>
            conn
              .send(command.args, (frame, push) => onFrame(i, frame, push))
              .then((frames) => {
                done[i] = true;
                this.names.countReply(this.nameInfo(command.name), frames[frames.length - 1]!.value.type === "error");
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
    const timeout =
      command.blocking === undefined
        ? this.route.timeout
        : command.blocking === Infinity
          ? FOREVER_MS
          : Math.min(FOREVER_MS, command.blocking + this.route.timeout);
    readyAgain(resilience, this.client);
    try {
      const admitted = await resilience.exchange(
        (signal) => attempt(signal),
        { retryable: false, streaming: false, outcome: () => "success", discard: () => {} },
        timeout,
      );
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
    this.names.count(name, result);
  }

  /** A name's info from its bytes b[start, end), in any case, once the name has been met by `prepare`. */
  lookup(b: Buffer, start: number, end: number): NameInfo | undefined {
    return this.names.lookup(b, start, end);
  }

  private nameInfo(name: string): NameInfo {
    return this.names.get(name);
  }
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
