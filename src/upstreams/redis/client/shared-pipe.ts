/**
 * The route's shared connections for RESP listener clients, one per protocol: their ordinary
 * commands, batched across clients (commands/shared-batch.ts), their replies slices of Redis' bytes.
 *
 * A plain pipe, not ioredis (whose parser cannot read RESP3, and which parses every reply again
 * beside the frame tap): one socket logged in as the route's ioredis connection is (AUTH; HELLO 3
 * for RESP3; SELECT), a FIFO of the RawCommands written to it, and a ReplyScanner finding each reply
 * frame's bounds. Only commands that need no connection state of their own come here (the RESP
 * session decides: listener/session.ts); a push frame (none is asked for: subscriptions and CLIENT
 * TRACKING never come here) answers no command and is dropped, never passed to a client; a reply
 * no command waits for closes the pipe.
 *
 * It follows the ioredis connection rather than keeping its own reconnect and readiness: it opens
 * (lazily, to the server the shared connection is on now: dedicated-target.ts) only while that one
 * is ready, commands fail fast while that one is down, and it is closed whenever that one closes
 * (a reset by connection-watch.ts, a Sentinel failover), so the next batch opens it again where the
 * shared connection went.
 */
import type { Socket } from "node:net";
import { log } from "../../../observability/log.js";
import { abortable, type DeadlineSignal } from "../../../resilience/deadline.js";
import { encodeCommand } from "../resp/encoder.js";
import { ReplyScanner } from "../resp/reply-scanner.js";
import { connectTarget, loginCommands, type DedicatedTarget } from "./dedicated-connection.js";
import type { RawCommand } from "./raw-command.js";

/** The first byte of a push frame (">") and of an error reply ("-"). */
const PUSH_BYTE = 62;
const ERROR_BYTE = 45;

/** How commands reach a shared connection (commands/shared-batch.ts): the ioredis one, or this one. */
export interface RawPipe {
  /** "ready": write now; "wait": call `ready` first; "down": fail fast (Redis is away). */
  rawState(): "ready" | "wait" | "down";
  ready(signal?: DeadlineSignal): Promise<void>;
  /** Write encoded commands in one socket write; their replies go to `commands`, in order. */
  writeRaw(wire: Buffer, commands: readonly RawCommand[]): void;
}

/** What the pipe needs of the route's client (redis-client.ts). */
export interface PipeHost {
  /** The ioredis connection's state: the pipe is only used while it is ready. */
  rawState(): "ready" | "wait" | "down";
  ready(signal?: DeadlineSignal): Promise<void>;
  target(): DedicatedTarget;
  /** The error commands get when the pipe cannot be opened. */
  unreachable(err: unknown): Error;
  readonly route: string;
  /** Commands waiting this long with nothing received: the pipe is dead (a partition only it met); it is closed. */
  readonly answerDeadline: number;
}

/** One open connection and what is in flight on it. */
class Link {
  readonly queue: RawCommand[] = [];
  /** queue[head] is the command the next reply answers; `left` replies it still expects. */
  head = 0;
  left = 0;
  /** Handshake replies still to come (AUTH, HELLO 3, SELECT, CLIENT SETNAME: the last). */
  handshake = 0;
  ready = false;
  closed = false;
  /** When the pipe last made progress: a chunk received, or a write to an empty queue. */
  progress = 0;
  watch: NodeJS.Timeout | undefined;
  /** The last command given a reply in the chunk being read (only it can be holding replies back). */
  last: RawCommand | undefined;

  constructor(readonly socket: Socket) {}
}

export class SharedPipe implements RawPipe {
  private link: Link | undefined;
  private opening: Promise<void> | undefined;
  private closed = false;
  private warnedPush = false;

  constructor(
    private readonly host: PipeHost,
    readonly protocol: 2 | 3,
  ) {}

  rawState(): "ready" | "wait" | "down" {
    const state = this.host.rawState();
    if (state !== "ready") return state;
    return this.link?.ready && this.link.socket.writable ? "ready" : "wait";
  }

  ready(signal?: DeadlineSignal): Promise<void> {
    if (this.host.rawState() !== "ready") return this.host.ready(signal);
    this.opening ??= this.open().then(
      () => {
        this.opening = undefined;
      },
      (err: unknown) => {
        this.opening = undefined;
        throw this.host.unreachable(err);
      },
    );
    return abortable(this.opening, signal);
  }

  writeRaw(wire: Buffer, commands: readonly RawCommand[]): void {
    const link = this.link!;
    link.socket.write(wire);
    if (link.head === link.queue.length) link.progress = Date.now();
    for (const command of commands) {
      if (link.head === link.queue.length) link.left = command.expected;
      link.queue.push(command);
    }
  }

  /** For /routes: whether the connection is open, and the commands it still owes replies to. */
  describe(): { open: boolean; awaitingReplies: number } {
    const link = this.link;
    return { open: link?.ready === true, awaitingReplies: link ? link.queue.length - link.head : 0 };
  }

  /** The shared connection closed (or the route is closing): this one goes too; its commands fail. */
  reset(why: string): void {
    const link = this.link;
    if (link) this.drop(link, new Error(why));
  }

  close(): void {
    this.closed = true;
    this.reset("closed by attache");
  }

  private open(): Promise<void> {
    if (this.closed) return Promise.reject(new Error("closed by attache"));
    let target: DedicatedTarget;
    try {
      target = this.host.target();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      const socket = connectTarget(target, () => {
        const commands = loginCommands(target, this.protocol);
        // Named as the ioredis connection is (ioredis-options.ts), with the protocol: CLIENT LIST tells them apart.
        commands.push([Buffer.from("CLIENT"), Buffer.from("SETNAME"), Buffer.from(`attache:${this.host.route}:resp${this.protocol}`)]);
        link.handshake = commands.length;
        socket.write(Buffer.concat(commands.map((c) => encodeCommand(c))));
      });
      const link = new Link(socket);
      let settle: ((err?: Error) => void) | undefined = (err) => {
        settle = undefined;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () => this.drop(link, Object.assign(new Error("connect ETIMEDOUT"), { code: "ETIMEDOUT" }), settle),
        target.connectTimeout,
      );
      socket.on("error", (err) => this.drop(link, err, settle));
      socket.on("close", () => this.drop(link, new Error("redis closed the connection"), settle));
      const scanner = new ReplyScanner((b, start, end) => this.frame(link, b, start, end, settle));
      socket.on("data", (chunk: Buffer) => {
        link.progress = Date.now();
        try {
          scanner.feed(chunk);
        } catch (err) {
          this.drop(link, err as Error, settle);
          return;
        }
        // Replies held to be joined with the next ones of the same chunk go on now (SharedCommand.chunkEnd).
        const last = link.last;
        link.last = undefined;
        last?.chunkEnd();
      });
      this.link = link;
      // The ioredis connection has a health check (connection-watch.ts); this one is watched by its own replies.
      const deadline = this.host.answerDeadline;
      link.watch = setInterval(() => {
        if (link.head < link.queue.length && Date.now() - link.progress > deadline) {
          log.warn(
            { route: this.host.route, protocol: this.protocol },
            `no answer on a shared connection within ${deadline} ms; resetting it`,
          );
          this.drop(link, new Error(`no answer within ${deadline} ms`));
        }
      }, deadline / 2);
      link.watch.unref();
    });
  }

  private frame(link: Link, b: Buffer, start: number, end: number, settle: ((err?: Error) => void) | undefined): void {
    if (link.closed) return;
    if (b[start] === PUSH_BYTE) {
      // Out of band and asked for by nobody here: never another client's reply.
      if (!this.warnedPush) {
        this.warnedPush = true;
        log.warn({ route: this.host.route }, "redis sent a push frame on a shared connection; dropped");
      }
      return;
    }
    if (link.handshake > 0) {
      // The name is a courtesy: a server that refuses CLIENT SETNAME (an ACL) still serves the pipe.
      if (b[start] === ERROR_BYTE && link.handshake > 1) {
        const message = b.toString("latin1", start + 1, end - 2);
        this.drop(link, Object.assign(new Error(`redis refused the connection: ${message}`), { code: "EAUTH" }), settle);
        return;
      }
      if (--link.handshake === 0) {
        link.ready = true;
        settle?.();
      }
      return;
    }
    const command = link.queue[link.head];
    if (!command) {
      // A reply no command waits for: every later reply would answer the wrong command.
      log.warn({ route: this.host.route }, "redis sent a reply no command waits for; resetting the connection");
      this.drop(link, new Error("redis sent a reply no command waits for"), settle);
      return;
    }
    // The queue moves on before the reply is handed over: whatever that sets off sees it as it is.
    if (--link.left === 0) {
      link.head++;
      if (link.head === link.queue.length) {
        link.queue.length = 0;
        link.head = 0;
      } else {
        link.left = link.queue[link.head]!.expected;
        if (link.head >= 1024) {
          link.queue.splice(0, link.head);
          link.head = 0;
        }
      }
    }
    link.last = command;
    command.frame(b, start, end);
  }

  /** The link is gone: its commands in flight fail with `err` (as unreachable: shared-batch.ts). */
  private drop(link: Link, err: Error, settle?: (err?: Error) => void): void {
    if (link.closed) return;
    link.closed = true;
    if (this.link === link) this.link = undefined;
    clearInterval(link.watch);
    link.socket.destroy();
    settle?.(err);
    const queue = link.queue.splice(link.head);
    link.queue.length = 0;
    for (const command of queue) command.fail(err);
  }
}
