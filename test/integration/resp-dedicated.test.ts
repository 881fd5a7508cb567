/** Dedicated upstream connections of RESP clients: at most one per client, closed when the client leaves the stateful mode or disconnects. */
import { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { ReplyParser } from "../../src/upstreams/redis/resp/reply-parser.js";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";

const connectedClients = async (s: RedisRoute) => Number(/connected_clients:(\d+)/.exec(await s.redis.cli("INFO", "clients"))![1]);
const gauge = async (s: RedisRoute) => {
  const text = await fetch(`${s.attache.adminUrl}/metrics`).then((r) => r.text());
  return Number(/attache_redis_dedicated_connections\{route="\/cache"\} (\d+)/.exec(text)?.[1] ?? 0);
};
async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Connect, write `wire` in one write, wait for `frames` replies; the socket stays open. */
async function client(port: number, wire: Buffer, frames: number): Promise<{ socket: Socket; replies: string[] }> {
  const socket = new Socket();
  const replies: string[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.connect(port, "127.0.0.1", () => resolve());
  });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    const parser = new ReplyParser((_, raw) => {
      replies.push(Buffer.from(raw).toString());
      if (replies.length === frames) {
        clearTimeout(timer);
        resolve();
      }
    });
    socket.on("data", (c: Buffer) => parser.feed(c));
    socket.write(wire);
  });
  return { socket, replies };
}

describe("RESP listener: dedicated connections", () => {
  let s: RedisRoute;
  beforeAll(async () => {
    s = await startRedisRoute('keyPrefix: "d:"', { resp: true });
    // The route's shared connection is up before the baseline is read.
    await client(s.resp, encodeCommand(["PING"]), 1).then((c) => c.socket.destroy());
  });
  afterAll(() => s?.stop());

  it("100 clients each sending MULTI, 50 commands and EXEC in one write, then leaving: Redis is back to its baseline", async () => {
    const baseline = await connectedClients(s);
    const wire = Buffer.concat([
      encodeCommand(["MULTI"]),
      ...Array.from({ length: 50 }, (_, i) => encodeCommand(["INCR", `c${i % 5}`])),
      encodeCommand(["EXEC"]),
    ]);
    const clients = await Promise.all(Array.from({ length: 100 }, () => client(s.resp, wire, 52)));
    for (const c of clients) {
      expect(c.replies).toHaveLength(52);
      expect(c.replies[0]).toBe("+OK\r\n");
      expect(c.replies.slice(1, 51).every((r) => r === "+QUEUED\r\n")).toBe(true);
      expect(c.replies[51]!.startsWith("*50\r\n")).toBe(true);
    }
    // At most one each while they are connected (they linger after EXEC).
    expect(await connectedClients(s)).toBeLessThanOrEqual(baseline + 100);
    expect(await gauge(s)).toBeLessThanOrEqual(100);
    for (const c of clients) c.socket.destroy();
    expect(await until(async () => (await connectedClients(s)) === baseline, 1_000)).toBe(true);
    expect(await until(async () => (await gauge(s)) === 0, 1_000)).toBe(true);
    expect((await s.redis.cli("GET", "d:c0")).trim()).toBe(String(100 * 10));
  });

  it("a client back out of its transaction gives its dedicated connection back while it stays connected", async () => {
    const baseline = await connectedClients(s);
    const c = await client(
      s.resp,
      Buffer.concat([encodeCommand(["MULTI"]), encodeCommand(["SET", "x", "1"]), encodeCommand(["GET", "x"]), encodeCommand(["EXEC"])]),
      4,
    );
    expect(c.replies).toEqual(["+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "*2\r\n+OK\r\n$1\r\n1\r\n"]);
    expect(await gauge(s)).toBe(1);
    expect(await until(async () => (await gauge(s)) === 0 && (await connectedClients(s)) === baseline, 5_000)).toBe(true);
    expect(c.socket.destroyed).toBe(false);
    c.socket.destroy();
  });
});
