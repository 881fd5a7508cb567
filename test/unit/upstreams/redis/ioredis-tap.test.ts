/**
 * The contract between attache and ioredis' internals (src/upstreams/redis/client/ioredis-tap.ts),
 * against a real redis-server: when an ioredis upgrade moves one, a test here fails naming it.
 */
import { readFileSync } from "node:fs";
import { createConnection } from "node:net";
import { createRequire } from "node:module";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CustomConnector,
  enqueue,
  queuedAt,
  resetSocket,
  socketOf,
  type QueuedCommand,
} from "../../../../src/upstreams/redis/client/ioredis-tap.js";
import { startRedis, type RedisServer } from "../../../harness/redis-server.js";

const require = createRequire(import.meta.url);

/** A queue entry that records what ioredis calls on it. */
function recorder(): QueuedCommand & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: "attache",
    args: [],
    calls,
    resolve: (v) => calls.push(`resolve ${String(v)}`),
    reject: (e) => calls.push(`reject ${e.message}`),
  };
}

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

describe("ioredis internals attache relies on (client/ioredis-tap.ts)", () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis({
      port: server.port,
      host: "127.0.0.1",
      password: server.password,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    await new Promise<void>((resolve, reject) => {
      redis.once("ready", () => resolve());
      redis.once("error", reject);
    });
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it("ioredis is pinned to the exact version installed (the contract below holds for that version)", () => {
    const declared = (
      JSON.parse(readFileSync(new URL("../../../../package.json", import.meta.url), "utf8")) as { dependencies: Record<string, string> }
    ).dependencies.ioredis;
    const installed = (require("ioredis/package.json") as { version: string }).version;
    expect(
      declared,
      `package.json pins ioredis to "${declared}", node_modules has ${installed}: re-check client/ioredis-tap.ts against it, then pin the exact version`,
    ).toBe(installed);
  });

  it("Redis#stream: the live socket, with the methods the tap uses", () => {
    const stream = socketOf(redis);
    expect(stream, "ioredis internal Redis#stream is gone").toBeDefined();
    for (const method of ["write", "cork", "uncork", "destroy", "prependListener"] as const)
      expect(typeof stream![method], `ioredis internal Redis#stream.${method}`).toBe("function");
    expect(stream!.writable, "ioredis internal Redis#stream.writable").toBe(true);
    expect(stream!.remotePort, "ioredis internal Redis#stream.remotePort").toBe(server.port);
  });

  it("Redis#commandQueue: an entry pushed beside raw bytes is answered with resolve/reject, seen by a tap ahead of ioredis' parser", async () => {
    const queue = (redis as unknown as { commandQueue?: { peekAt?: unknown; push?: unknown } }).commandQueue;
    expect(typeof queue?.peekAt, "ioredis internal Redis#commandQueue.peekAt").toBe("function");
    expect(typeof queue?.push, "ioredis internal Redis#commandQueue.push").toBe("function");

    const ok = recorder();
    const bad = recorder();
    const seenAhead: Array<QueuedCommand | undefined> = [];
    const stream = socketOf(redis)!;
    const tap = (_chunk: Buffer) => seenAhead.push(queuedAt(redis, 0), queuedAt(redis, 1));
    stream.prependListener("data", tap);
    stream.write(Buffer.from("*1\r\n$4\r\nPING\r\n*1\r\n$12\r\nNOSUCHCOMMAND\r\n"));
    enqueue(redis, ok, 1, 0);
    enqueue(redis, bad, 1, 0);
    await until(() => ok.calls.length > 0 && bad.calls.length > 0, "ioredis to answer the queued entries");
    (stream as unknown as NodeJS.EventEmitter).off("data", tap);

    expect(seenAhead.slice(0, 2), "a data listener prepended on Redis#stream runs before ioredis shifts Redis#commandQueue").toEqual([
      ok,
      bad,
    ]);
    expect(ok.calls, "ioredis calls resolve() on a queue entry for its reply").toEqual(["resolve PONG"]);
    expect(bad.calls[0], "ioredis calls reject() on a queue entry for an error reply").toMatch(/^reject ERR unknown command/);
    expect(await redis.ping(), "ioredis' own commands still pair with their replies").toBe("PONG");
  });

  it("Redis#stream.destroy() (resetSocket): ioredis reconnects", async () => {
    const before = socketOf(redis);
    expect(resetSocket(redis)).toBe(true);
    await until(() => redis.status === "ready" && socketOf(redis) !== before, "ioredis to reconnect after the socket was destroyed");
    expect(await redis.ping()).toBe("PONG");
  });

  it("AbstractConnector: a custom Connector's socket is used, and disconnect() stops it and ends the socket", async () => {
    let made: import("node:net").Socket | undefined;
    let wantedAfter: boolean | undefined;
    class Probe extends CustomConnector {
      constructor() {
        super(1_000);
      }
      async connect() {
        this.begin();
        made = createConnection({ host: "127.0.0.1", port: server.port });
        return this.made(made);
      }
      override disconnect(): void {
        super.disconnect();
        wantedAfter = this.wanted;
      }
    }
    const custom = new Redis({ password: server.password, Connector: Probe as never, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      expect(await custom.ping(), "ioredis uses the stream a Connector's connect() returns").toBe("PONG");
    } finally {
      custom.disconnect();
    }
    expect(wantedAfter, "AbstractConnector#disconnect clears the protected `connecting`").toBe(false);
    await until(() => made!.destroyed || made!.writableEnded, "AbstractConnector#disconnect to end the protected `stream`");
  });
});
