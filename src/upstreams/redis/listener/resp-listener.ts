/**
 * The optional RESP listener (`listen`): ordinary Redis clients talk RESP2 or RESP3 to attache, which
 * applies the allowlist and keyPrefix and relays to the route's Redis.
 *
 * Per client connection: commands are read in order (multibulk or inline), each gets a reply slot,
 * and slots are written strictly in order however the replies arrive. Ordinary commands share the
 * route's ioredis connection; the first stateful command (MULTI, WATCH, the SUBSCRIBE family,
 * a blocking command) gives the client a dedicated upstream connection, which it keeps until it is
 * back in a neutral state and idle for LINGER_MS. Before a client moves from one connection to the
 * other, its replies from the first are awaited, so its commands run in the order it sent them.
 * AUTH, HELLO, CLIENT, QUIT and (unless forwarded: CommandRunner.forwardsInfo) INFO are answered
 * here: the app needs no password.
 *
 * RESP3 (HELLO 3): the client gets a dedicated connection that itself said HELLO 3, for as long as
 * it speaks RESP3, and every reply is Redis' own frame, byte for byte (maps, sets, doubles, big
 * numbers, nulls, attributes, pushes). Why not a shared RESP3 connection beside the RESP2 one: the
 * shared connection is ioredis, whose parser cannot read RESP3, and a second shared pipe would need
 * its own reconnect, readiness and batching; while pub/sub, client tracking and attributes would
 * still need per-client connections in RESP3. The cost is one Redis connection per RESP3 client, as
 * if the app spoke to Redis directly (attache_redis_dedicated_connections shows them); RESP2 clients
 * keep the shared connection. HELLO 2 (or RESET) takes the client back once its connection is quiet.
 * Replies and upstream writes are batched per event-loop turn (issue 10): a client's replies are
 * gathered and written in one write at the end of the turn (one write per turn for all clients'
 * shared commands upstream is commands.ts' batch). A reply frame is written as the tap kept it, a
 * slice of the upstream chunk: no copy until the one write.
 *
 * The common case costs little per command (issue 10): commands that go to Redis as the client sent
 * them, with at most the keyPrefix put in front of keys found from the argument count alone
 * (NameInfo.asSent: no reply rewriting, no state, not blocking) are taken straight from the
 * client's chunk, before any argument is cut out of it; back-to-back ones travel as one slice (one
 * copy with a keyPrefix) with one reply slot, and their replies come back as slices of Redis' chunk.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { Limits } from "../../../config/validate.js";
import { toAttacheError } from "../../../errors.js";
import { log } from "../../../observability/log.js";
import { metrics } from "../../../observability/metrics.js";
import type { Resilience } from "../../../resilience/policy-stack.js";
import { ClientState, type CommandRunner, type NameInfo, type Prepared, type ReplySink } from "../commands/commands.js";
import { LOCAL, STATEFUL, TRANSACTION } from "../command-sets.js";
import type { DedicatedConnection } from "../client/dedicated-connection.js";
import { lastKeyIndex } from "../commands/key-namespace.js";
import { CommandParser, LimitError } from "../resp/command-parser.js";
import { encodeValue, errorReply } from "../resp/encoder.js";
import { ProtocolError } from "../resp/wire.js";
import { resp, type Frame, type RespValue } from "../resp/value.js";

/** A client back in a neutral state keeps its dedicated connection this long (a BLPOP loop reuses it). */
const LINGER_MS = 2_000;
/** Replies outstanding per client before attache stops reading from it (back-pressure for huge pipelines). */
const MAX_OUTSTANDING = 10_000;

const OK = Buffer.from("+OK\r\n");
const RESET = Buffer.from("+RESET\r\n");
const NOT_ALLOWED = errorReply("ERR command not allowed");

/** The root `limits` a RESP port applies: its connection cap, and each client's query and output bounds. */
export type RespLimits = Limits["redis"] & { readonly maxConnections: number };

/** How long a client that was answered and ended may keep sending (into the void) before it is cut. */
const CLOSE_GRACE_MS = 1_000;
/** A refused connection is logged at most this often per listener (a client in a connect loop must not flood the log). */
const REFUSAL_LOG_MS = 10_000;

/** What a session needs from its upstream (RedisUpstream implements it). */
export interface RespBackend {
  readonly runner: CommandRunner;
  /** The route's resilience stack, shared with the HTTP side. */
  resilience(): Resilience;
  /** INFO as attache answers it (when not forwarded: CommandRunner.forwardsInfo). */
  infoText(): string;
  serverVersion(): string;
}

// ---------------------------------------------------------------------------------------------
// Listening sockets, shared across config generations: after a reload the newest route serves new
// connections on the same address while the old one finishes; the socket closes with its last owner.

interface SharedServer {
  server: Server;
  owners: RespListener[];
  ready: Promise<void>;
}
const servers = new Map<string, SharedServer>();

export function splitAddress(address: string): { host: string; port: number } {
  const cut = address.lastIndexOf(":");
  return { host: address.slice(0, cut).replace(/^\[|\]$/g, ""), port: Number(address.slice(cut + 1)) };
}

export class RespListener {
  private readonly sessions = new Set<Session>();
  private closed = false;
  private nextId = 1;
  /** The bound port (useful when `listen` asked for port 0 in tests). */
  port = 0;

  private lastRefusalLog = 0;

  constructor(
    readonly address: string,
    private readonly backend: RespBackend,
    private readonly limits: RespLimits,
  ) {}

  /** Bind (or join the socket an older generation of this route holds). Rejects when the address is taken. */
  start(): Promise<void> {
    let shared = servers.get(this.address);
    if (!shared) {
      const server = createServer({ noDelay: true }, (socket) => {
        const owner = shared!.owners[shared!.owners.length - 1];
        if (owner) owner.accept(socket, shared!.owners.reduce((n, o) => n + o.clients, 0));
        else socket.destroy();
      });
      const { host, port } = splitAddress(this.address);
      const entry: SharedServer = {
        server,
        owners: [],
        ready: new Promise<void>((resolve, reject) => {
          server.once("error", (err) => {
            servers.delete(this.address);
            reject(err);
          });
          server.listen(port, host, () => resolve());
        }),
      };
      shared = entry;
      servers.set(this.address, entry);
    }
    shared.owners.push(this);
    const entry = shared;
    return entry.ready.then(() => {
      const info = entry.server.address();
      this.port = typeof info === "object" && info ? info.port : 0;
    });
  }

  get clients(): number {
    return this.sessions.size;
  }

  /** `connected`: clients on this address already, across generations (the cap is per port). */
  accept(socket: Socket, connected: number): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (connected >= this.limits.maxConnections) {
      const route = this.backend.runner.route.name;
      metrics.clientDisconnects.inc({ route, reason: "max_connections" });
      if (Date.now() - this.lastRefusalLog > REFUSAL_LOG_MS) {
        this.lastRefusalLog = Date.now();
        log.warn({ route, listen: this.address, limit: this.limits.maxConnections }, "RESP connection refused: limits.maxConnections reached");
      }
      socket.on("error", () => {});
      socket.end(errorReply(`ERR max number of clients reached (limits.maxConnections ${this.limits.maxConnections})`));
      socket.resume();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
      return;
    }
    const session = new Session(this.nextId++, socket, this.backend, this.limits, () => this.sessions.delete(session));
    this.sessions.add(session);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Clients first: server.close() waits for every connection to end, and RESP clients stay connected.
    for (const session of this.sessions) session.destroy();
    const shared = servers.get(this.address);
    if (shared) {
      shared.owners = shared.owners.filter((o) => o !== this);
      if (shared.owners.length === 0) {
        servers.delete(this.address);
        await new Promise<void>((resolve) => shared.server.close(() => resolve()));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

/** One reply position in a client's output; filled in any order, written in order. */
interface Slot {
  /** What arrived before the slot reached the head (usually one frame; several for a subscription). */
  parts: Buffer[] | undefined;
  done: boolean;
  /** The commands it answers (several for commands taken as sent, back to back). */
  readonly commands: number;
}

/** `protocol`: the client's protocol when it sent the command (HELLO changes it for later commands only). */
type Task = { refused: true } | { refused: false; command: Prepared; slot: Slot; protocol: 2 | 3 };

/** Sessions with output gathered in this event-loop turn; written once at its end. */
let outputDue: Session[] = [];
function writeDueOutput(): void {
  const due = outputDue;
  outputDue = [];
  for (const session of due) session.writeOut();
}

class Session implements ReplySink<Slot> {
  private readonly parser: CommandParser;
  private readonly state: ClientState;
  private readonly slots: Slot[] = [];
  private head = 0;
  /** Commands whose replies are not written out yet (back-pressure counts these). */
  private unwritten = 0;
  /** Commands taken as sent from the chunk being parsed, not sent yet: runBuffer[runStart, runEnd). */
  private runBuffer: Buffer | undefined;
  private runStart = 0;
  private runEnd = 0;
  private runNames: NameInfo[] = [];
  /** Keys in the run to put the keyPrefix in front of (see KeyNamespace.prefixKeys). */
  private runKeys: number[] = [];
  private readonly tasks: Task[] = [];
  private sharedInflight = 0;
  private dedicated: DedicatedConnection | undefined;
  /** RESP3 plain commands of this turn, not sent yet (sendPlain). */
  private plain: { conn: DedicatedConnection; commands: Prepared[]; slots: Slot[] } | undefined;
  private opening = false;
  private linger: NodeJS.Timeout | undefined;
  private name: Buffer | null = null;
  /** The protocol the client asked for with HELLO (see the file comment on RESP3). */
  private protocol: 2 | 3 = 2;
  private readonly since = Date.now();
  /** No more reading; end the socket once every reply is out (QUIT, protocol error, lost transaction). */
  private ending = false;
  private destroyed = false;
  private paused = false;
  /** The connection is ended (closeWritten). */
  private closing = false;
  /** Output of this turn, not written yet. */
  private out: Buffer[] = [];
  private outBytes = 0;
  /** Since when the unsent output has been above the soft limit; 0: it is not. */
  private softSince = 0;

  constructor(
    private readonly id: number,
    private readonly socket: Socket,
    private readonly backend: RespBackend,
    private readonly limits: RespLimits,
    private readonly onGone: () => void,
  ) {
    this.state = new ClientState(backend.runner.client.db);
    this.parser = new CommandParser(
      (args, raw) => this.onCommand(args, raw),
      backend.runner.takesAsSent ? (b, start, end, argc, offsets) => this.takeAsSent(b, start, end, argc, offsets) : undefined,
      limits,
    );
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("drain", () => {
      this.softSince = 0;
      this.maybeResume();
    });
    socket.on("error", () => this.destroy());
    socket.on("close", () => this.destroy());
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.out = [];
    if (this.linger) clearTimeout(this.linger);
    this.releaseDedicated();
    this.socket.destroy();
    this.onGone();
  }

  private onData(chunk: Buffer): void {
    if (this.ending || this.destroyed) return;
    try {
      this.parser.feed(chunk);
    } catch (err) {
      this.sendRun();
      if (err instanceof LimitError) this.overLimit(err.reason, err.message);
      else if (!(err instanceof ProtocolError)) throw err;
      // As Redis: answer the protocol error, then close this connection only.
      const slot = this.slot();
      this.resolve(slot, errorReply(`ERR ${err.message}`));
      this.endAfterReplies();
      return;
    }
    this.sendRun();
  }

  /** A whole command in the chunk: taken when it can go to Redis as sent, right now (see the file comment). */
  private takeAsSent(b: Buffer, start: number, end: number, argc: number, offsets: readonly number[]): boolean {
    if (this.ending) return true;
    if (this.tasks.length > 0 || this.dedicated || this.opening || this.protocol === 3) return false;
    const info = this.backend.runner.lookup(b, offsets[0]!, offsets[1]!);
    if (!info?.asSent) return false;
    // Commands are taken in order and any other command sends the run first: the run is contiguous.
    if (this.runNames.length === 0) {
      this.runBuffer = b;
      this.runStart = start;
    }
    this.runEnd = end;
    this.runNames.push(info);
    const keys = info.keys;
    if (keys) {
      // Argument j's bulk header starts 2 bytes (CRLF) after argument j - 1 ends.
      for (let j = keys.first, last = lastKeyIndex(keys, argc); j <= last; j += keys.step) this.runKeys.push(offsets[2 * j - 1]! + 2, offsets[2 * j]!, offsets[2 * j + 1]!);
    }
    return true;
  }

  /** The commands taken as sent so far go to the shared connection, with one reply slot. */
  private sendRun(): void {
    const names = this.runNames;
    if (names.length === 0) return;
    const b = this.runBuffer!;
    const wire = this.runKeys.length > 0 ? this.backend.runner.namespace.prefixKeys(b, this.runStart, this.runEnd, this.runKeys) : b.subarray(this.runStart, this.runEnd);
    this.runNames = [];
    this.runKeys = [];
    this.runBuffer = undefined;
    const slot = this.slot(names.length);
    this.sharedInflight++;
    this.backend.runner.sendAsSent(this.backend.resilience(), wire, names, this, slot);
    if (this.unwritten > MAX_OUTSTANDING) this.pause();
  }

  private onCommand(args: Buffer[], raw: Buffer | undefined): void {
    if (this.ending) return;
    // Commands taken as sent before this one go first.
    this.sendRun();
    const name = args[0]!.toString("latin1").toUpperCase();
    const slot = this.slot();
    if (name === "SELECT" && this.selectsElsewhere(args, slot)) return;
    const local = LOCAL.has(name) ? this.answerLocally(name, args) : undefined;
    if (local) {
      this.resolve(slot, local);
      if (name === "QUIT") this.endAfterReplies();
      return;
    }
    const prepared = this.backend.runner.prepare(args, name, raw);
    if (!prepared.ok) {
      this.resolve(slot, NOT_ALLOWED);
      this.tasks.push({ refused: true });
    } else {
      const { command } = prepared;
      if (this.protocol === 2 && this.tasks.length === 0 && !this.dedicated && !this.opening && command.blocking === undefined && !STATEFUL.has(command.name)) {
        // Nothing queued ahead and no connection switch: straight to the shared connection.
        this.sendShared(command, slot);
        if (this.unwritten > MAX_OUTSTANDING) this.pause();
        return;
      }
      this.tasks.push({ refused: false, command, slot, protocol: this.protocol });
      // RESET answered by Redis (on a dedicated connection) takes the connection back to RESP2.
      if (command.name === "RESET") this.protocol = 2;
    }
    this.pump();
    if (this.unwritten > MAX_OUTSTANDING) this.pause();
  }

  /** Send queued commands in order, holding back a switch of connection until the other one is quiet. */
  private pump(): void {
    while (this.tasks.length > 0 && !this.destroyed) {
      const task = this.tasks[0]!;
      if (task.refused) {
        this.tasks.shift();
        if (this.dedicated && this.state.inTransaction) this.state.refusedInTransaction();
        continue;
      }
      const { command } = task;
      const conn = this.dedicated;
      if (command.name === "RESET" && !conn && !this.opening) {
        // Nothing to reset upstream, and the shared connection must never see RESET (it would leave the route's db).
        this.tasks.shift();
        this.resolve(task.slot, RESET);
        continue;
      }
      if (conn && conn.protocol !== task.protocol) {
        // The client changed protocol (HELLO, RESET): once the connection is quiet it goes, and the
        // next command gets a connection in its own protocol.
        this.sendPlain();
        if (conn.inflight > 0) return;
        this.releaseDedicated();
        continue;
      }
      const wantDedicated = task.protocol === 3 || conn !== undefined || this.opening || STATEFUL.has(command.name) || command.blocking !== undefined;
      if (!wantDedicated) {
        this.tasks.shift();
        this.sendShared(command, task.slot);
        continue;
      }
      if (this.sharedInflight > 0) return;
      if (!conn) {
        // At most one per client: commands that arrive while it opens wait for it here.
        if (!this.opening) this.openDedicated(task.protocol);
        return;
      }
      this.tasks.shift();
      if (conn.protocol === 3 && this.state.neutral && !conn.subscribed && command.blocking === undefined && !TRANSACTION.has(command.name) && !STATEFUL.has(command.name)) {
        // A RESP3 client's plain commands: gathered for the turn and sent as one exchange.
        (this.plain ??= { conn, commands: [], slots: [] }).commands.push(command);
        this.plain.slots.push(task.slot);
        if (this.plain.commands.length === 1) setImmediate(() => this.sendPlain());
        continue;
      }
      this.sendPlain();
      this.sendDedicated(conn, command, task.slot);
    }
  }

  private sendShared(command: Prepared, slot: Slot): void {
    this.sharedInflight++;
    this.backend.runner.sendShared(this.backend.resilience(), command, this, slot);
  }

  /** Replies to shared commands (ReplySink). */
  replyBytes(slot: Slot, bytes: Buffer): void {
    this.append(slot, bytes);
  }

  /** Shared commands all answered, the last `unanswered` of them with `err` (ReplySink). */
  settled(slot: Slot, err: unknown, unanswered: number): void {
    if (unanswered > 0) {
      const reply = this.failure(err);
      for (let i = 0; i < unanswered; i++) this.append(slot, reply);
    }
    this.finish(slot);
    if (--this.sharedInflight === 0 && this.tasks.length > 0) this.pump();
  }

  /** The RESP3 plain commands gathered (see pump), in one exchange on the client's connection. */
  private sendPlain(): void {
    const plain = this.plain;
    if (!plain) return;
    this.plain = undefined;
    if (this.destroyed) return;
    const { conn, commands, slots } = plain;
    this.backend.runner.dedicatedMany(
      this.backend.resilience(),
      conn,
      commands,
      (i, frame, push) => this.append(slots[i]!, push || !commands[i]!.rewrite ? frame.raw : encodeValue(commands[i]!.rewrite!(frame.value))),
      (i, err) => {
        if (err !== undefined) {
          const reply = this.failure(err);
          this.append(slots[i]!, reply);
          this.finish(slots[i]!);
          this.endAfterReplies(reply);
          return;
        }
        this.finish(slots[i]!);
        if (this.tasks.length > 0 && conn.inflight === 0) this.pump();
      },
    );
  }

  private sendDedicated(conn: DedicatedConnection, original: Prepared, slot: Slot): void {
    if (this.linger) clearTimeout(this.linger);
    this.linger = undefined;
    let command = original;
    let substitute: Buffer | undefined;
    if (command.name === "EXEC" && this.state.dirty) {
      // A command of this transaction was refused by attache: end it and answer as Redis does after a queuing error.
      command = { name: "DISCARD", args: [Buffer.from("DISCARD")], rewrite: undefined, blocking: undefined };
      substitute = errorReply("EXECABORT Transaction discarded because of previous errors.");
    }
    const rewrite = this.state.sending(command);
    const onFrame = (frame: Frame, push: boolean) => {
      if (substitute) return;
      this.append(slot, push || !rewrite ? frame.raw : encodeValue(rewrite(frame.value)));
    };
    this.backend.runner.dedicated(this.backend.resilience(), conn, command, onFrame).then(
      (frames) => {
        this.state.replied(command, frames[frames.length - 1]!.value);
        if (command.name === "RESET") conn.protocol = 2;
        if (substitute) this.append(slot, substitute);
        this.finish(slot);
        // Commands held back for a change of protocol go once the connection is quiet.
        if (this.tasks.length > 0 && conn.inflight === 0) this.pump();
        this.maybeRelease();
      },
      (err: unknown) => {
        // The dedicated connection's state (transaction, subscriptions) is lost: the client must know.
        const reply = this.failure(err);
        this.append(slot, reply);
        this.finish(slot);
        this.endAfterReplies(reply);
      },
    );
  }

  private openDedicated(protocol: 2 | 3): void {
    this.opening = true;
    this.backend.runner.client.openDedicated(protocol).then(
      (conn) => {
        this.opening = false;
        if (this.destroyed) {
          conn.close();
          return;
        }
        this.dedicated = conn;
        conn.on("push", this.onPush);
        conn.once("close", () => {
          if (this.dedicated !== conn) return;
          this.dedicated = undefined;
          if (!this.destroyed && !this.ending) {
            log.warn({ route: this.backend.runner.route.name, client: this.id }, "dedicated redis connection lost; closing the client connection");
            this.endAfterReplies(errorReply("ERR redis connection lost"));
          }
        });
        this.pump();
      },
      (err: unknown) => {
        this.opening = false;
        // Every command waiting for the dedicated connection fails; the client may try again.
        const reply = this.failure(err);
        for (const task of this.tasks.splice(0)) if (!task.refused) this.resolve(task.slot, reply);
      },
    );
  }

  private maybeRelease(): void {
    const conn = this.dedicated;
    // A RESP3 client keeps its connection: it is the only one that speaks its protocol.
    if (!conn || conn.inflight > 0 || this.tasks.length > 0 || !this.state.neutral || conn.subscribed || conn.protocol === 3) return;
    if (this.linger) clearTimeout(this.linger);
    this.linger = setTimeout(() => {
      this.linger = undefined;
      if (this.dedicated === conn && conn.inflight === 0 && this.tasks.length === 0 && this.state.neutral && !conn.subscribed) this.releaseDedicated();
    }, LINGER_MS);
    this.linger.unref();
  }

  /** Pub/sub messages outside any command's reply. */
  private readonly onPush = (frame: Frame) => this.resolve(this.slot(), frame.raw);

  private releaseDedicated(): void {
    const conn = this.dedicated;
    // Cleared first: the connection's close handler above then sees it is not this client's any more.
    this.dedicated = undefined;
    if (conn) {
      conn.off("push", this.onPush);
      conn.close();
    }
  }

  private failure(err: unknown): Buffer {
    return errorReply(`ERR ${toAttacheError(err, this.backend.runner.route.name).message}`);
  }

  // ---- commands attache answers itself ----

  private answerLocally(name: string, args: Buffer[]): Buffer | undefined {
    switch (name) {
      case "QUIT":
        return OK;
      case "AUTH":
        // The app needs no password: attache holds Redis' credentials. Any AUTH is accepted.
        return args.length === 2 || args.length === 3 ? OK : arity("auth");
      case "HELLO":
        return this.hello(args);
      case "CLIENT":
        return this.client(args);
      case "INFO":
        return this.backend.runner.forwardsInfo ? undefined : this.text(this.backend.infoText());
      case "RESET":
        this.name = null;
        // With a dedicated connection, Redis resets it in order, and it is logged in and in the route's db again (dedicated-connection.ts).
        if (this.dedicated || this.opening || this.tasks.length > 0) return undefined;
        this.protocol = 2;
        return RESET;
      case "SELECT":
        // The route's db (selectsElsewhere refused any other): already there. Forwarded, in order,
        // behind a dedicated connection's commands (in MULTI Redis answers QUEUED).
        return this.dedicated || this.opening || this.tasks.length > 0 ? undefined : OK;
      default:
        return undefined;
    }
  }

  /**
   * SELECT of another db: refused with the route's db named, and the connection closed after the
   * reply, so that a client that believed it switched cannot go on writing to the route's db.
   */
  private selectsElsewhere(args: Buffer[], slot: Slot): boolean {
    const verdict = this.backend.runner.policy.checkArguments("SELECT", args);
    if (verdict.allowed) return false;
    this.backend.runner.count("SELECT", "refused");
    this.resolve(slot, errorReply(`ERR ${verdict.reason} (attache route ${this.backend.runner.route.name}); closing the connection`));
    this.endAfterReplies();
    return true;
  }

  /** HELLO [2|3] [AUTH user pass] [SETNAME name]: as Redis answers it; the protocol applies to the commands after it. */
  private hello(args: Buffer[]): Buffer {
    let i = 1;
    let protocol = this.protocol;
    if (args.length >= 2) {
      const text = args[1]!.toString("latin1");
      if (!/^-?\d+$/.test(text)) return errorReply("ERR Protocol version is not an integer or out of range");
      if (text !== "2" && text !== "3") return errorReply("NOPROTO unsupported protocol version");
      protocol = text === "3" ? 3 : 2;
      i = 2;
    }
    let name = this.name;
    for (; i < args.length; i++) {
      const option = args[i]!.toString("latin1");
      const upper = option.toUpperCase();
      // The app needs no password (attache holds Redis' credentials): any AUTH is accepted.
      if (upper === "AUTH" && i + 2 < args.length) i += 2;
      else if (upper === "SETNAME" && i + 1 < args.length) name = args[++i]!;
      else return errorReply(`ERR Syntax error in HELLO option '${option}'`);
    }
    this.protocol = protocol;
    this.name = name;
    const b = resp.bulk;
    const fields = [
      b("server"), b("redis"), b("version"), b(this.backend.serverVersion()), b("proto"), resp.integer(protocol), b("id"), resp.integer(this.id),
      b("mode"), b("standalone"), b("role"), b("master"), b("modules"), resp.array([]),
    ];
    return encodeValue(protocol === 3 ? { type: "map", value: fields } : resp.array(fields));
  }

  /** Text as Redis sends INFO and CLIENT INFO: a bulk string, a verbatim string in RESP3. */
  private text(text: string): Buffer {
    return encodeValue(this.protocol === 3 ? { type: "verbatim", value: Buffer.from(`txt:${text}`) } : resp.bulk(text));
  }

  private client(args: Buffer[]): Buffer {
    if (args.length < 2) return arity("client");
    const sub = args[1]!.toString("latin1").toUpperCase();
    switch (sub) {
      case "SETNAME": {
        if (args.length !== 3) return arity("client|setname");
        const name = args[2]!;
        if (name.some((c) => c < 33 || c > 126)) return errorReply("ERR Client names cannot contain spaces, newlines or special characters.");
        this.name = name.length ? name : null;
        return OK;
      }
      case "GETNAME":
        return encodeValue(this.name === null && this.protocol === 3 ? { type: "null" } : resp.bulk(this.name));
      case "ID":
        return encodeValue(resp.integer(this.id));
      case "SETINFO":
        return args.length === 4 ? OK : arity("client|setinfo");
      case "NO-EVICT":
      case "NO-TOUCH":
        return OK;
      case "INFO":
      case "LIST": {
        const line = `id=${this.id} addr=${this.socket.remoteAddress}:${this.socket.remotePort} laddr=${this.socket.localAddress}:${this.socket.localPort} name=${this.name?.toString("latin1") ?? ""} age=${Math.floor((Date.now() - this.since) / 1000)} db=${this.state.db} multi=${this.state.inMulti ? 0 : -1} resp=${this.protocol} lib-name=attache\n`;
        return this.text(line);
      }
      default:
        return NOT_ALLOWED;
    }
  }

  // ---- output, in order ----

  private slot(commands = 1): Slot {
    const slot: Slot = { parts: undefined, done: false, commands };
    this.slots.push(slot);
    this.unwritten += commands;
    return slot;
  }

  private resolve(slot: Slot, data: Buffer): void {
    slot.done = true;
    if (this.slots[this.head] === slot && !slot.parts) {
      // The usual case: the reply for the oldest outstanding command. Straight to the output.
      this.write(data);
      this.head++;
      this.unwritten -= slot.commands;
      this.flush();
      return;
    }
    (slot.parts ??= []).push(data);
    this.flush();
  }

  private append(slot: Slot, data: Buffer): void {
    if (slot.done || this.destroyed) return;
    // The head slot has nothing held back (flush writes it out whenever the head moves): straight out.
    if (this.slots[this.head] === slot) this.write(data);
    else (slot.parts ??= []).push(data);
  }

  private finish(slot: Slot): void {
    slot.done = true;
    this.flush();
  }

  private flush(): void {
    if (this.destroyed) return;
    while (this.head < this.slots.length) {
      const slot = this.slots[this.head]!;
      if (slot.parts) {
        for (const part of slot.parts) this.write(part);
        slot.parts = undefined;
      }
      if (!slot.done) break;
      this.head++;
      this.unwritten -= slot.commands;
    }
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots.splice(0, this.head);
      this.head = 0;
    }
    if (this.ending && this.head === this.slots.length) {
      this.writeOut();
      this.closeWritten();
      return;
    }
    this.maybeResume();
  }

  private write(data: Buffer): void {
    if (this.out.length === 0) {
      if (outputDue.length === 0) setImmediate(writeDueOutput);
      outputDue.push(this);
    }
    this.out.push(data);
    this.outBytes += data.length;
  }

  /** This turn's output in one write; a client that does not read what it is sent is cut at the output limits. */
  writeOut(): void {
    const out = this.out;
    if (out.length === 0 || this.destroyed) return;
    const data = out.length === 1 ? out[0]! : Buffer.concat(out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    if (this.socket.write(data)) {
      this.softSince = 0;
      return;
    }
    this.pause();
    const unsent = this.socket.writableLength;
    const { hard, soft, softFor } = this.limits.output;
    if (unsent <= soft) {
      this.softSince = 0;
      return;
    }
    const now = Date.now();
    if (this.softSince === 0) this.softSince = now;
    if (unsent > hard) this.cutOff(`${unsent} unsent reply bytes, more than limits.redis.output.hard (${hard})`);
    else if (now - this.softSince >= softFor) this.cutOff(`more than limits.redis.output.soft (${soft}) unsent reply bytes for limits.redis.output.softFor (${softFor} ms)`);
  }

  /** A client past an output limit: closed at once (its unsent replies are dropped), as Redis does. */
  private cutOff(message: string): void {
    this.overLimit("output_buffer", message);
    this.destroy();
  }

  private overLimit(reason: string, message: string): void {
    const route = this.backend.runner.route.name;
    metrics.clientDisconnects.inc({ route, reason });
    log.warn({ route, client: this.id, addr: `${this.socket.remoteAddress}:${this.socket.remotePort}`, reason, detail: message }, "RESP client closed: past a limit");
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private maybeResume(): void {
    if (!this.paused || this.socket.writableNeedDrain || this.unwritten > MAX_OUTSTANDING / 2) return;
    this.paused = false;
    this.socket.resume();
  }

  /**
   * Everything is written: end the connection. What the client still sends is read and dropped (a
   * client blocked writing a refused command would otherwise never see the end), for CLOSE_GRACE_MS
   * at most; then the connection is destroyed whatever the client does.
   */
  private closeWritten(): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.end();
    this.socket.resume();
    setTimeout(() => this.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Stop reading; close once every reply is out. `fail`: commands not sent yet get this reply instead. */
  private endAfterReplies(fail?: Buffer): void {
    this.ending = true;
    if (fail) for (const task of this.tasks.splice(0)) if (!task.refused) this.resolve(task.slot, fail);
    this.socket.pause();
    this.flush();
  }
}

function arity(command: string): Buffer {
  return errorReply(`ERR wrong number of arguments for '${command}' command`);
}

export type { RespValue };
