/**
 * One RESP client connection: its commands read in order (multibulk or inline), each given a reply
 * slot (output.ts writes them strictly in order however the replies arrive), and sent to the shared
 * connection, to the client's dedicated one, or answered here (local-commands.ts).
 *
 * Ordinary commands share the route's connection for their protocol (client/shared-pipe.ts: one
 * for RESP2 clients, one that said HELLO 3 for RESP3 clients; batched across clients alike); the
 * first stateful command (MULTI, WATCH, the SUBSCRIBE family, a blocking command; DEBUG in RESP3,
 * for its pushes) gives the client a dedicated upstream connection in its protocol, which it keeps
 * until it is back in a neutral state and idle for LINGER_MS. Before a client moves from one
 * connection to another (a dedicated one, or the other protocol's after HELLO), its replies from the
 * first are awaited, so its commands run in the order it sent them. On a cluster route, shared
 * commands take ioredis' Command path and a RESP3 client has its own connection for everything.
 *
 * RESP3 (HELLO 3): every reply is Redis' own frame, byte for byte (maps, sets, doubles, big numbers,
 * nulls, attributes, pushes).
 *
 * Replies and upstream writes are batched per event-loop turn: a client's replies are gathered and
 * written in one write at the end of the turn (output.ts; one write per turn for all clients'
 * shared commands upstream is commands/shared-batch.ts). A reply frame is written as the pipe found it, a
 * slice of the upstream chunk: no copy until the one write.
 *
 * The common case costs little per command: commands that go to Redis as the client sent them, with
 * at most the keyPrefix put in front of keys found from the argument count alone (NameInfo.asSent:
 * no reply rewriting, no state, not blocking) are taken straight from the client's chunk, before
 * any argument is cut out of it (as-sent-run.ts); back-to-back ones travel as one slice (one copy
 * with a keyPrefix) with one reply slot, and their replies come back as slices of Redis' chunk.
 */
import type { Socket } from "node:net";
import { toAttacheError } from "../../../errors.js";
import { log } from "../../../observability/log.js";
import { metrics } from "../../../observability/metrics.js";
import { tracer } from "../../../observability/tracing.js";
import { DedicatedLease } from "./dedicated-lease.js";
import { DedicatedSends } from "./dedicated-sends.js";
import { LOCAL, OWN_PUSHES, STATEFUL } from "../command-sets.js";
import { ClientState } from "../commands/client-state.js";
import type { Prepared, ReplySink } from "../commands/prepared.js";
import { CommandParser, LimitError } from "../resp/command-parser.js";
import { errorReply } from "../resp/encoder.js";
import { ProtocolError } from "../resp/wire.js";
import { AsSentRun } from "./as-sent-run.js";
import type { RespBackend, RespLimits } from "./backend.js";
import { answerLocally, NOT_ALLOWED, type ClientIdentity, type LocalContext } from "./local-commands.js";
import { ReplyOutput, type Slot } from "./output.js";
import { TaskQueue } from "./task-queue.js";

export class Session implements ReplySink<Slot> {
  /** Request framing, and the commands taken as sent from the chunk being parsed. */
  private readonly input: { readonly parser: CommandParser; readonly run: AsSentRun };
  /** Reply ordering, back-pressure and output limits. */
  private readonly output: ReplyOutput;
  /** Commands waiting, in order, for their connection (a switch of connection holds them back). */
  private readonly tasks: TaskQueue;
  /** The shared connections' commands of this client in flight, all on the one for `sharedProtocol`. */
  private sharedInflight = 0;
  private sharedProtocol: 2 | 3 = 2;
  /** The client's own connection, when it needs one. */
  private readonly lease: DedicatedLease;
  /** Commands on that connection. */
  private readonly dedicated: DedicatedSends;
  /** Identity and protocol (RESP2/RESP3), as HELLO, CLIENT and RESET set them. */
  private readonly client: ClientIdentity;
  /** Transaction, WATCH and db state, read from the replies. */
  private readonly state: ClientState;
  private readonly local: LocalContext;

  constructor(
    id: number,
    private readonly socket: Socket,
    private readonly backend: RespBackend,
    limits: RespLimits,
    private readonly onGone: () => void,
  ) {
    this.client = { id, since: Date.now(), protocol: 2, name: null };
    this.state = new ClientState(backend.runner.client.db);
    this.input = {
      parser: new CommandParser(
        (args, raw) => this.onCommand(args, raw),
        backend.runner.takesAsSent ? (b, start, end, argc, offsets) => this.takeAsSent(b, start, end, argc, offsets) : undefined,
        limits,
      ),
      run: new AsSentRun(),
    };
    this.output = new ReplyOutput(socket, limits.output, this);
    this.lease = new DedicatedLease(backend.runner.client, {
      gone: () => this.output.destroyed,
      opened: () => this.tasks.pump(),
      lost: () => {
        if (this.output.destroyed || this.output.ending) return;
        log.warn(
          { route: this.backend.runner.route.name, client: this.client.id },
          "dedicated redis connection lost; closing the client connection",
        );
        this.endAfterReplies(errorReply("ERR redis connection lost"));
      },
      // Every command waiting for the dedicated connection fails; the client may try again.
      failed: (err) => this.tasks.failAll(this.failure(err)),
      push: (frame) => this.output.resolve(this.output.slot(), frame.raw),
    });
    this.dedicated = new DedicatedSends({
      backend,
      output: this.output,
      lease: this.lease,
      state: this.state,
      waiting: () => this.tasks.length,
      pump: () => this.tasks.pump(),
      failure: (err) => this.failure(err),
      endAfterReplies: (reply) => this.endAfterReplies(reply),
    });
    this.tasks = new TaskQueue({
      output: this.output,
      lease: this.lease,
      state: this.state,
      dedicated: this.dedicated,
      sharesResp3: backend.runner.sharesResp3,
      sharedBusy: (protocol) => this.sharedInflight > 0 && this.sharedProtocol !== protocol,
      sharedInflight: () => this.sharedInflight,
      sendShared: (command, slot, protocol) => this.sendShared(command, slot, protocol),
    });
    this.local = { client: this.client, backend, socket, state: this.state, upstreamBusy: () => this.lease.held || this.tasks.length > 0 };
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", () => this.destroy());
    socket.on("close", () => this.destroy());
  }

  destroy(): void {
    if (this.output.destroyed) return;
    this.output.discard();
    this.lease.stopLinger();
    this.lease.release();
    this.socket.destroy();
    this.onGone();
  }

  private onData(chunk: Buffer): void {
    if (this.output.ending || this.output.destroyed) return;
    try {
      this.input.parser.feed(chunk);
    } catch (err) {
      this.sendRun();
      if (err instanceof LimitError) this.overLimit(err.reason, err.message);
      else if (!(err instanceof ProtocolError)) throw err;
      // As Redis: answer the protocol error, then close this connection only.
      const slot = this.output.slot();
      this.output.resolve(slot, errorReply(`ERR ${err.message}`));
      this.endAfterReplies();
      return;
    }
    this.sendRun();
  }

  /** A whole command in the chunk: taken when it can go to Redis as sent, right now (see the file comment). */
  private takeAsSent(b: Buffer, start: number, end: number, argc: number, offsets: readonly number[]): boolean {
    if (this.output.ending) return true;
    if (this.tasks.length > 0 || this.lease.held || !this.sharesNow()) return false;
    const info = this.backend.runner.lookup(b, offsets[0]!, offsets[1]!);
    if (!info?.asSent) return false;
    this.input.run.add(info, b, start, end, argc, offsets);
    return true;
  }

  /** The commands taken as sent so far go to the shared connection, with one reply slot. */
  private sendRun(): void {
    const run = this.input.run.take(this.backend.runner.namespace);
    if (!run) return;
    const slot = this.output.slot(run.names.length);
    if (tracer) slot.span = this.span(run.names.length === 1 ? run.names[0]!.bytes.toString("latin1") : "PIPELINE", run.names.length);
    // The run's commands all came under the current protocol: any other command (HELLO) sends it first.
    this.sharedInflight++;
    this.sharedProtocol = this.client.protocol;
    this.backend.runner.sendAsSent(this.backend.resilience(), run.wire, run.names, this, slot, this.client.protocol);
    this.output.pauseIfBacklogged();
  }

  /** The client's protocol has a shared connection, and none of its commands waits on the other one. */
  private sharesNow(): boolean {
    const protocol = this.client.protocol;
    return (protocol === 2 || this.backend.runner.sharesResp3) && (this.sharedInflight === 0 || this.sharedProtocol === protocol);
  }

  private onCommand(args: Buffer[], raw: Buffer | undefined): void {
    if (this.output.ending) return;
    // Commands taken as sent before this one go first.
    this.sendRun();
    const name = args[0]!.toString("latin1").toUpperCase();
    const slot = this.output.slot();
    if (name === "SELECT" && this.selectsElsewhere(args, slot)) return;
    const local = LOCAL.has(name) ? answerLocally(this.local, name, args) : undefined;
    if (local) {
      this.output.resolve(slot, local);
      if (name === "QUIT") this.endAfterReplies();
      return;
    }
    const prepared = this.backend.runner.prepare(args, name, raw);
    if (!prepared.ok) {
      this.output.resolve(slot, NOT_ALLOWED);
      this.tasks.push({ refused: true });
    } else {
      const { command } = prepared;
      if (tracer) slot.span = this.span(command.name, 1);
      if (
        this.tasks.length === 0 &&
        !this.lease.held &&
        command.blocking === undefined &&
        !STATEFUL.has(command.name) &&
        !(this.client.protocol === 3 && OWN_PUSHES.has(command.name)) &&
        this.sharesNow()
      ) {
        // Nothing queued ahead and no connection switch: straight to the shared connection.
        this.sendShared(command, slot, this.client.protocol);
        this.output.pauseIfBacklogged();
        return;
      }
      this.tasks.push({ refused: false, command, slot, protocol: this.client.protocol });
      // RESET answered by Redis (on a dedicated connection) takes the connection back to RESP2.
      if (command.name === "RESET") this.client.protocol = 2;
    }
    this.tasks.pump();
    this.output.pauseIfBacklogged();
  }

  private sendShared(command: Prepared, slot: Slot, protocol: 2 | 3): void {
    this.sharedInflight++;
    this.sharedProtocol = protocol;
    this.backend.runner.sendShared(this.backend.resilience(), command, this, slot, protocol);
  }

  /** Replies to shared commands (ReplySink). */
  replyBytes(slot: Slot, bytes: Buffer): void {
    this.output.append(slot, bytes);
  }

  /** Shared commands all answered, the last `unanswered` of them with `err` (ReplySink). */
  settled(slot: Slot, err: unknown, unanswered: number): void {
    if (unanswered > 0) {
      slot.failure = toAttacheError(err).code;
      const reply = this.failure(err);
      for (let i = 0; i < unanswered; i++) this.output.append(slot, reply);
    }
    this.output.finish(slot);
    if (--this.sharedInflight === 0 && this.tasks.length > 0) this.tasks.pump();
  }

  private span(operation: string, batch: number) {
    return tracer!.respSpan(operation, batch, this.backend.runner.route.name, this.state.db);
  }

  private failure(err: unknown): Buffer {
    return errorReply(`ERR ${toAttacheError(err, this.backend.runner.route.name).message}`);
  }

  /**
   * SELECT of another db: refused with the route's db named, and the connection closed after the
   * reply, so that a client that believed it switched cannot go on writing to the route's db.
   */
  private selectsElsewhere(args: Buffer[], slot: Slot): boolean {
    const verdict = this.backend.runner.policy.checkArguments("SELECT", args);
    if (verdict.allowed) return false;
    this.backend.runner.count("SELECT", "refused");
    this.output.resolve(
      slot,
      errorReply(`ERR ${verdict.reason} (attache route ${this.backend.runner.route.name}); closing the connection`),
    );
    this.endAfterReplies();
    return true;
  }

  /** A client past a limit (OutputOwner): counted and logged; the caller closes it. */
  overLimit(reason: string, message: string): void {
    const route = this.backend.runner.route.name;
    metrics.clientDisconnects.inc({ route, reason });
    log.warn(
      { route, client: this.client.id, addr: `${this.socket.remoteAddress}:${this.socket.remotePort}`, reason, detail: message },
      "RESP client closed: past a limit",
    );
  }

  /** Stop reading; close once every reply is out. `fail`: commands not sent yet get this reply instead. */
  private endAfterReplies(fail?: Buffer): void {
    this.output.ending = true;
    if (fail) this.tasks.failAll(fail);
    this.socket.pause();
    this.output.flush();
  }
}
