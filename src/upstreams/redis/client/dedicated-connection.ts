/**
 * One upstream connection owned by one client for as long as it is in a stateful mode (MULTI/WATCH,
 * a blocking command, the SUBSCRIBE family) or one HTTP subscriber. It is a plain RESP pipe,
 * not an ioredis instance: Redis itself then answers everything the client does in that mode
 * (RESET, PING in subscribe mode, "Can't execute ... in this context"), with its own text and types;
 * after a RESET it is logged in and in the route's db again before anything else runs.
 * It authenticates like the route's shared ioredis connection and never reconnects: a client that
 * loses its transaction or subscriptions must see its connection close, as with Redis.
 */
import { EventEmitter } from "node:events";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { SUBSCRIBE, UNSUBSCRIBE } from "../command-sets.js";
import { encodeCommand } from "../resp/encoder.js";
import { ReplyParser } from "../resp/reply-parser.js";
import type { Frame } from "../resp/value.js";

export interface DedicatedTarget {
  host: string;
  port: number;
  tls?: ConnectionOptions | undefined;
  username?: string | undefined;
  password?: string | undefined;
  db: number;
  connectTimeout: number;
}

interface Pending {
  /** Frames still expected for this command. */
  expect: number;
  /** RESET: how many of those frames answer the handshake sent again after it (not the client's). */
  restore: number;
  /** A (un)subscribe-family command: its confirmations are counted. */
  subscription: boolean;
  frames: Frame[];
  onFrame: ((frame: Frame, push: boolean) => void) | undefined;
  resolve(frames: Frame[]): void;
  reject(err: Error): void;
}

const KIND: Record<string, "channels" | "patterns" | "shard"> = {
  subscribe: "channels",
  unsubscribe: "channels",
  psubscribe: "patterns",
  punsubscribe: "patterns",
  ssubscribe: "shard",
  sunsubscribe: "shard",
};
const PUSHES = new Set(["message", "pmessage", "smessage"]);

export class UpstreamClosedError extends Error {
  readonly code = "ECONNRESET";
}

/**
 * Events: "push" (frame) for pub/sub messages; "close" (error?) once, when the connection is gone.
 */
export class DedicatedConnection extends EventEmitter {
  private readonly pending: Pending[] = [];
  private readonly subscriptions = { channels: new Set<string>(), patterns: new Set<string>(), shard: new Set<string>() };
  private closed = false;
  private corked = false;
  /** AUTH and SELECT as sent on connect: sent again after a RESET, which logs out and selects db 0. */
  private handshake: Buffer[][] = [];
  /** The protocol the connection speaks (HELLO 3 at open: 3; RESET takes it back to 2). */
  protocol: 2 | 3 = 2;

  private constructor(private readonly socket: Socket) {
    super();
    const parser = new ReplyParser((value, raw) => this.onFrame({ value, raw }));
    socket.on("data", (chunk: Buffer) => {
      try {
        parser.feed(chunk);
      } catch (err) {
        this.destroy(err as Error);
      }
    });
    socket.on("error", (err) => this.destroy(err));
    socket.on("close", () => this.destroy(new UpstreamClosedError("redis closed the connection")));
  }

  /**
   * Connect, AUTH and SELECT as the shared connection does; rejects with the network or Redis error.
   * `protocol` 3: the connection speaks RESP3 (HELLO 3, with the credentials), for a RESP3 client.
   */
  static open(target: DedicatedTarget, protocol: 2 | 3 = 2): Promise<DedicatedConnection> {
    return new Promise((resolve, reject) => {
      const socket = connectTarget(target, () => {
        socket.off("error", fail);
        const conn = new DedicatedConnection(socket);
        // RESET means RESP2: what it sends again is the login without HELLO 3.
        conn.handshake = loginCommands(target, 2);
        conn.protocol = protocol;
        const commands = loginCommands(target, protocol);
        const handshake = commands.map((command) => conn.send(command));
        Promise.all(handshake).then(
          (replies) => {
            clearTimeout(timer);
            const refused = replies.flat().find((f) => f.value.type === "error");
            if (refused) {
              conn.close();
              reject(
                Object.assign(new Error(`redis refused the connection: ${(refused.value as { value: string }).value}`), { code: "EAUTH" }),
              );
            } else resolve(conn);
          },
          (err: Error) => {
            clearTimeout(timer);
            reject(err);
          },
        );
      });
      const timer = setTimeout(
        () => socket.destroy(Object.assign(new Error("connect ETIMEDOUT"), { code: "ETIMEDOUT" })),
        target.connectTimeout,
      );
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once("error", fail);
    });
  }

  /** In pub/sub mode: at least one subscription. */
  get subscribed(): boolean {
    return this.subscriptions.channels.size + this.subscriptions.patterns.size + this.subscriptions.shard.size > 0;
  }

  get inflight(): number {
    return this.pending.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Send one command (args[0] upper-case name). Resolves with every frame that answers it: one, or
   * one per channel for the (un)subscribe family. `onFrame` sees each frame as it arrives (streaming
   * confirmations and interleaved messages in upstream order; `push` marks a pub/sub message).
   */
  send(args: Buffer[], onFrame?: (frame: Frame, push: boolean) => void): Promise<Frame[]> {
    if (this.closed) return Promise.reject(new UpstreamClosedError("redis connection closed"));
    const name = args[0]!.toString("latin1");
    let expect = 1;
    let subscription = false;
    if (SUBSCRIBE.has(name)) {
      subscription = true;
      expect = Math.max(1, args.length - 1);
    } else if (UNSUBSCRIBE[name]) {
      subscription = true;
      expect = args.length > 1 ? args.length - 1 : Math.max(1, this.subscriptions[UNSUBSCRIBE[name]].size);
    }
    // RESET is answered once the connection is logged in and back in the route's db.
    const restore = name === "RESET" ? this.handshake.length : 0;
    return new Promise<Frame[]>((resolve, reject) => {
      this.pending.push({ expect: expect + restore, restore, subscription, frames: [], onFrame, resolve, reject });
      this.write(encodeCommand(args));
      for (let i = 0; i < restore; i++) this.write(encodeCommand(this.handshake[i]!));
    });
  }

  close(): void {
    this.destroy(new UpstreamClosedError("closed by attache"));
  }

  private write(data: Buffer): void {
    // One write per event-loop turn for everything a client pipelined (test/bench/README.md).
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(data);
  }

  private onFrame(frame: Frame): void {
    const { value } = frame;
    const head = this.pending[0];
    // RESP3 sends pub/sub messages and (un)subscribe confirmations as push frames; RESP2 as arrays.
    const items = value.type === "array" || value.type === "push" ? value.value : null;
    const kind = items && items[0]?.type === "bulk" && items[0].value ? items[0].value.toString("latin1") : undefined;
    if (kind && PUSHES.has(kind) && this.subscribed) {
      // A message: delivered in upstream order, ahead of the reply Redis has not sent yet.
      if (head?.onFrame) head.onFrame(frame, true);
      else this.emit("push", frame);
      return;
    }
    if (kind && KIND[kind] && items!.length === 3) {
      const name = items![1]!.type === "bulk" && items![1]!.value ? items![1]!.value.toString("latin1") : undefined;
      const set = this.subscriptions[KIND[kind]];
      if (name !== undefined) {
        if (kind.includes("unsub")) set.delete(name);
        else set.add(name);
      }
      if (!head?.subscription) {
        // Unasked confirmation (cannot happen with a well-behaved server): pass it on.
        this.emit("push", frame);
        return;
      }
    }
    if (value.type === "push" && !(kind && KIND[kind])) {
      // Any other push (client tracking's invalidate, for one) answers no command: out of band, in
      // upstream order ahead of the reply it came before.
      if (head?.onFrame) head.onFrame(frame, true);
      else this.emit("push", frame);
      return;
    }
    if (!head) {
      this.destroy(new Error("redis sent a reply nobody asked for"));
      return;
    }
    if (head.restore > 0 && head.frames.length > 0) {
      // The handshake's replies after RESET's: kept from the client; a refusal loses the connection.
      if (value.type === "error") {
        this.destroy(new Error(`redis refused the handshake after RESET: ${value.value as string}`));
        return;
      }
      if (--head.expect === 0) {
        this.pending.shift();
        head.resolve(head.frames);
      }
      return;
    }
    if (value.type === "simple" && value.value === "RESET") {
      for (const set of Object.values(this.subscriptions)) set.clear();
    }
    head.frames.push(frame);
    head.onFrame?.(frame, false);
    // An error ends a (un)subscribe command early: Redis answers a refused one with one error.
    if (--head.expect === 0 || value.type === "error") {
      this.pending.shift();
      head.resolve(head.frames);
    }
  }

  private destroy(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    for (const p of this.pending.splice(0)) p.reject(err);
    this.emit("close", err);
  }
}

/** A socket to `target` (TLS when the route uses it, no Nagle delay); `onConnect` once it can be written to. */
export function connectTarget(target: DedicatedTarget, onConnect: () => void): Socket {
  const socket = target.tls
    ? tlsConnect({ host: target.host, port: target.port, servername: target.host, ...target.tls })
    : netConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  socket.once(target.tls ? "secureConnect" : "connect", onConnect);
  return socket;
}

/** What puts a new connection where the route's shared one is: AUTH, then HELLO 3 for RESP3, then SELECT. */
export function loginCommands(target: DedicatedTarget, protocol: 2 | 3): Buffer[][] {
  const commands: Buffer[][] = [];
  if (target.password !== undefined)
    commands.push(target.username ? [b("AUTH"), b(target.username), b(target.password)] : [b("AUTH"), b(target.password)]);
  if (protocol === 3) commands.push([b("HELLO"), b("3")]);
  if (target.db !== 0) commands.push([b("SELECT"), b(String(target.db))]);
  return commands;
}

function b(s: string): Buffer {
  return Buffer.from(s);
}
