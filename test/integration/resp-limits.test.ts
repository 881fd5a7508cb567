/**
 * The RESP side of `limits`: a command's argument count, argument size and total size refused as
 * their headers arrive, the connection cap of a RESP port, and the output limits of a client that
 * does not read. Past a limit that client gets -ERR naming it and is closed; nothing else is affected.
 */
import { Socket } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";
import { respExchange } from "../harness/redis-server.js";

const LIMITS = [
  "limits:",
  "  maxConnections: 4",
  "  redis:",
  "    maxQueryBuffer: 4kb",
  "    maxBulkLength: 1kb",
  "    maxArgs: 10",
  // softFor long enough that the subscriber that reads is never cut on a loaded machine (a test
  // process that stalls for a while); the one that does not read passes the hard limit anyway.
  "    output: { hard: 512kb, soft: 128kb, softFor: 3s }",
].join("\n");

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

describe("RESP listener: limits", () => {
  let s: RedisRoute;
  beforeAll(async () => {
    s = await startRedisRoute('commands: ["GET", "SET", "MSET", "PING", "SUBSCRIBE", "PUBLISH"]', { resp: true, rootExtra: LIMITS });
  });
  afterAll(() => s?.stop());

  const disconnects = async (reason: string) => {
    const text = await fetch(`${s.attache.adminUrl}/metrics`).then((r) => r.text());
    return Number(new RegExp(`attache_client_disconnects_total\\{route="/cache",reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };

  it("a *2147483647 header followed by a million empty arguments is refused at the header, with RSS growth under 20 MiB", async () => {
    const wire = Buffer.concat([Buffer.from("*2147483647\r\n"), Buffer.from("$0\r\n\r\n".repeat(1_000_000))]);
    const before = rssMiB();
    const { frames, closed } = await respExchange(s.resp, wire, 2);
    expect(frames.map((f) => f.raw.toString())).toEqual(["-ERR command has 2147483647 arguments, more than limits.redis.maxArgs (10)\r\n"]);
    expect(closed).toBe(true);
    expect(rssMiB() - before).toBeLessThan(20);
    expect(await disconnects("max_args")).toBe(1);
    // Inline commands are held to the same count.
    const inline = await respExchange(s.resp, `SET ${"a ".repeat(11)}\r\n`, 2);
    expect(inline.frames.map((f) => f.raw.toString())).toEqual(["-ERR command has 12 arguments, more than limits.redis.maxArgs (10)\r\n"]);
    expect(inline.closed).toBe(true);
  });

  it("an argument announced longer than maxBulkLength is refused before its bytes come; commands before it are answered", async () => {
    const { frames, closed } = await respExchange(
      s.resp,
      Buffer.concat([encodeCommand(["SET", "k", "v"]), Buffer.from("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n")]),
      3,
    );
    expect(frames.map((f) => f.raw.toString())).toEqual([
      "+OK\r\n",
      "-ERR argument of 1025 bytes, more than limits.redis.maxBulkLength (1024)\r\n",
    ]);
    expect(closed).toBe(true);
    expect(await disconnects("max_bulk_length")).toBe(1);
    // At the limit is fine.
    const ok = await respExchange(s.resp, encodeCommand(["SET", "k", "x".repeat(1024)]), 1);
    expect(ok.frames.map((f) => f.raw.toString())).toEqual(["+OK\r\n"]);
  });

  it("a command whose arguments together pass maxQueryBuffer is refused; the route serves other clients meanwhile", async () => {
    const big = "y".repeat(1024);
    const { frames, closed } = await respExchange(s.resp, encodeCommand(["MSET", "a", big, "b", big, "c", big, "d", big]), 2);
    expect(frames.map((f) => f.raw.toString())).toEqual(["-ERR command of more than limits.redis.maxQueryBuffer (4096 bytes)\r\n"]);
    expect(closed).toBe(true);
    expect(await disconnects("query_buffer")).toBe(1);
    expect((await s.redis.cli("EXISTS", "a")).trim()).toBe("0");
    expect((await respExchange(s.resp, encodeCommand(["PING"]), 1)).frames[0]?.raw.toString()).toBe("+PONG\r\n");
  });

  it("a subscriber that never reads is cut off at the output limit, long before the 60 MiB are through; other subscribers keep their messages", async () => {
    // The clients of the test before are gone (their sockets close asynchronously).
    for (let i = 0; i < 100 && (await respExchange(s.resp, encodeCommand(["PING"]), 1)).frames[0]?.raw.toString() !== "+PONG\r\n"; i++)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    const lazy = new Socket();
    const subscribed = new Promise<string>((resolve) => lazy.once("data", (c: Buffer) => resolve(c.toString())));
    await new Promise<void>((resolve) => lazy.connect(s.resp, "127.0.0.1", () => resolve()));
    lazy.write(encodeCommand(["SUBSCRIBE", "news"]));
    expect(await subscribed).toBe("*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    lazy.pause();
    const reader = new Socket();
    let read = 0;
    await new Promise<void>((resolve) => reader.connect(s.resp, "127.0.0.1", () => resolve()));
    reader.on("data", (c: Buffer) => (read += c.length));
    reader.write(encodeCommand(["SUBSCRIBE", "news"]));

    const publisher = new Redis({ port: s.redis.port, password: s.redis.password, lazyConnect: true });
    await publisher.connect();
    const message = "m".repeat(64 * 1024);
    const cutBefore = await disconnects("output_buffer");
    let published = 0;
    // 60 MiB in all, in bounded batches; stops early once the lazy client is gone (one subscriber left).
    let receivers = 2;
    for (let i = 0; i < 96 && receivers === 2; i++) {
      const replies = await publisher.pipeline(Array.from({ length: 10 }, () => ["publish", "news", message])).exec();
      published += 10 * message.length;
      receivers = Math.min(...replies!.map(([, n]) => n as number));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(receivers).toBe(1);
    // Cut, not buffered: the publisher saw one receiver fewer within a few MiB. (RSS says little here:
    // Node 24's larger young generation grows it by tens of MiB for a few MiB of traffic.)
    expect(await disconnects("output_buffer")).toBe(cutBefore + 1);
    expect(published).toBeLessThan(30 * 2 ** 20);
    // The reading subscriber is still subscribed and getting messages.
    expect((await publisher.publish("news", "still-here")) as number).toBe(1);
    const got = read;
    for (let i = 0; i < 100 && read === got; i++) await new Promise((r) => setTimeout(r, 10));
    expect(read).toBeGreaterThan(got);
    publisher.disconnect();
    lazy.destroy();
    reader.destroy();
  });
  it("past maxConnections a client gets -ERR naming the limit and is closed; once one leaves, the next gets in", async () => {
    const open = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const socket = new Socket();
        await new Promise<void>((resolve) => socket.connect(s.resp, "127.0.0.1", () => resolve()));
        return socket;
      }),
    );
    // The four are accepted (each answers).
    for (const socket of open) {
      const reply = new Promise<string>((resolve) => socket.once("data", (c: Buffer) => resolve(c.toString())));
      socket.write(encodeCommand(["PING"]));
      expect(await reply).toBe("+PONG\r\n");
    }
    const refused = await respExchange(s.resp, encodeCommand(["PING"]), 1);
    expect(refused.frames.map((f) => f.raw.toString())).toEqual(["-ERR max number of clients reached (limits.maxConnections 4)\r\n"]);
    expect(await disconnects("max_connections")).toBe(1);
    open[0]!.destroy();
    let reply = "";
    for (let i = 0; i < 50 && reply !== "+PONG\r\n"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      reply = (await respExchange(s.resp, encodeCommand(["PING"]), 1)).frames[0]?.raw.toString() ?? "";
    }
    expect(reply).toBe("+PONG\r\n");
    for (const socket of open) socket.destroy();
  });
});
