/**
 * Every ioredis internal attache relies on, in this one file: ioredis is pinned to an exact version in
 * package.json, and test/unit/upstreams/redis/ioredis-tap.test.ts fails, naming the internal, when an
 * upgrade moves one of them.
 *
 * - `Redis#stream`: the live socket (written to directly, corked per turn, tapped ahead of ioredis'
 *   parser, destroyed to force a reconnect, its peer address naming a Sentinel's master).
 * - `Redis#commandQueue`: a Denque of `{ command, stream, select }` that ioredis shifts once per reply
 *   and answers with `command.resolve(value)` or `command.reject(err)`; attache reads it by index
 *   (`peekAt`) to pair frames with commands, and pushes its own entries (`push`).
 * - `AbstractConnector`'s protected `connecting`, `firstError` and `stream` (a custom Connector).
 */
import { AbstractConnector, type Redis } from "ioredis";

/** The socket under a Redis instance, as attache uses it. */
export interface TapStream {
  write(data: Buffer): boolean;
  cork(): void;
  uncork(): void;
  destroy(err?: Error): void;
  prependListener(event: "data", listener: (chunk: Buffer) => void): unknown;
  readonly writable: boolean;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

/**
 * What ioredis reads and calls on an entry of its command queue: attache's RawCommand
 * (redis-client.ts) stands in such entries for commands whose bytes it wrote itself.
 */
export interface QueuedCommand {
  readonly name: string;
  readonly args: readonly unknown[];
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface CommandQueue {
  readonly length: number;
  peekAt(index: number): { command: QueuedCommand } | undefined;
  push(item: { command: QueuedCommand; stream: undefined; select: number }): void;
}

interface RedisInternals {
  stream?: TapStream;
  commandQueue: CommandQueue;
}

const internals = (redis: Redis) => redis as unknown as RedisInternals;

/** The live socket; undefined before the first connect. */
export function socketOf(redis: Redis): TapStream | undefined {
  return internals(redis).stream;
}

/** The command the k-th reply from now answers (ioredis' queue is in reply order). */
export function queuedAt(redis: Redis, k: number): QueuedCommand | undefined {
  return internals(redis).commandQueue.peekAt(k)?.command;
}

/** Queue `command` for `replies` replies (one entry per reply, all the same object), in the route's db. */
export function enqueue(redis: Redis, command: QueuedCommand, replies: number, db: number): void {
  const queue = internals(redis).commandQueue;
  const entry = { command, stream: undefined, select: db };
  for (let i = 0; i < replies; i++) queue.push(entry);
}

/** Cut the socket: ioredis fails what is in flight and reconnects. False when there is no socket yet. */
export function resetSocket(redis: Redis): boolean {
  const stream = internals(redis).stream;
  if (!stream) return false;
  stream.destroy();
  return true;
}

/**
 * An ioredis Connector whose `connect` attache writes: the protected state ioredis' own connectors
 * keep (`connecting`, cleared by disconnect(); `firstError`; `stream`, which disconnect() ends).
 */
export abstract class CustomConnector extends AbstractConnector {
  /** A connect begins: disconnect() from now on stops it. */
  protected begin(): void {
    this.connecting = true;
    this.firstError = undefined;
  }

  /** Still wanted: disconnect() was not called since begin(). */
  protected get wanted(): boolean {
    return this.connecting;
  }

  /** The socket this connect made; its first error is what ioredis reports. */
  protected made<S extends NodeJS.EventEmitter>(stream: S): S {
    stream.once("error", (err: Error) => (this.firstError = err));
    (this as unknown as { stream: S }).stream = stream;
    return stream;
  }
}
