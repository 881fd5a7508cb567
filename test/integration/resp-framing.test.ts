/**
 * The RESP listener's framing, seen from both ends: a client writes a random stream of commands
 * (multibulk with binary values, inline) in random chunks, or split at every single byte offset; a
 * recording relay between attache and a real redis-server captures what attache sends. Asserted:
 * the exact bytes Redis receives (the client's bytes for commands forwarded unchanged, the encoding
 * of the prefixed command on a keyPrefix route, nothing of a refused command) and the exact replies,
 * in order (those Redis gives the same stream sent to it directly).
 */
import { Socket } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { ReplyParser } from "../../src/upstreams/redis/resp/reply-parser.js";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { freePort, respExchange, startRedis, type RedisServer } from "../harness/redis-server.js";
import { startTcpTap, type TcpTap } from "../harness/tcp-tap.js";

/** One command of a stream: how the client writes it, and what Redis must receive for it. */
interface Cmd {
  args: Buffer[];
  inline: boolean;
  refused: boolean;
  /** Indexes of key arguments (prefixed on a keyPrefix route). */
  keys: number[];
}

const NOT_ALLOWED = "-ERR command not allowed\r\n";
const HEALTH_CHECK = "*1\r\n$4\r\nPING\r\n";
const b = (s: string) => Buffer.from(s);

const key = fc.constantFrom("k1", "k2", "k3", "list").map(b);
const word = fc.stringMatching(/^[a-z0-9]{1,8}$/).map(b);
/** Binary values that look like RESP: CRLF, headers, a refused command's encoding. */
const value = fc.oneof(
  fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)),
  fc.constantFrom(
    b("*1\r\n$4\r\nPONG\r\n"),
    b("\r\n"),
    b("$"),
    b("*3\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$7\r\nappendonly\r\n"),
    encodeCommand(["FLUSHALL"]),
  ),
);

const multibulk: fc.Arbitrary<Cmd> = fc
  .oneof(
    fc.tuple(key, value).map(([k, v]) => ({ args: [b("SET"), k, v], keys: [1] })),
    key.map((k) => ({ args: [b("GET"), k], keys: [1] })),
    fc.tuple(key, value).map(([k, v]) => ({ args: [b("APPEND"), k, v], keys: [1] })),
    key.map((k) => ({ args: [b("STRLEN"), k], keys: [1] })),
    fc.tuple(key, key).map(([k, l]) => ({ args: [b("DEL"), k, l], keys: [1, 2] })),
    fc.tuple(key, key).map(([k, l]) => ({ args: [b("EXISTS"), k, l], keys: [1, 2] })),
    fc.tuple(key, value, key, value).map(([k, v, l, w]) => ({ args: [b("MSET"), k, v, l, w], keys: [1, 3] })),
    fc.tuple(key, key).map(([k, l]) => ({ args: [b("MGET"), k, l], keys: [1, 2] })),
    fc.tuple(value).map(([v]) => ({ args: [b("RPUSH"), b("list"), v], keys: [1] })),
    value.map((v) => ({ args: [b("ECHO"), v], keys: [] })),
    fc.constant(0).map(() => ({ args: [b("INCR"), b("counter")], keys: [1] })),
  )
  .map((c) => ({ ...c, inline: false, refused: false }));

const inline: fc.Arbitrary<Cmd> = fc
  .oneof(
    fc.tuple(key, word).map(([k, v]) => ({ args: [b("SET"), k, v], keys: [1] })),
    key.map((k) => ({ args: [b("GET"), k], keys: [1] })),
    fc.constant(0).map(() => ({ args: [b("ECHO"), b("p")], keys: [] as number[] })),
    fc.constant(0).map(() => ({ args: [b("INCR"), b("counter")], keys: [1] })),
  )
  .map((c) => ({ ...c, inline: true, refused: false }));

const refused: fc.Arbitrary<Cmd> = fc
  .constantFrom(["CONFIG", "SET", "appendonly", "yes"], ["FLUSHALL"], ["KEYS", "*"])
  .map((args) => ({ args: args.map(b), inline: false, refused: true, keys: [] }));

const stream = fc.array(
  fc.oneof({ weight: 6, arbitrary: multibulk }, { weight: 2, arbitrary: inline }, { weight: 1, arbitrary: refused }),
  { minLength: 1, maxLength: 12 },
);

const clientBytes = (c: Cmd) => (c.inline ? b(`${c.args.map(String).join(" ")}\r\n`) : encodeCommand(c.args));
/** What Redis must receive: the client's bytes, or the encoding of the command with its keys prefixed. */
function upstreamBytes(c: Cmd, prefix: string): Buffer {
  if (c.refused) return Buffer.alloc(0);
  const args = c.args.map((a, i) => (prefix && c.keys.includes(i) ? Buffer.concat([b(prefix), a]) : a));
  return encodeCommand(args);
}

interface Shape {
  name: string;
  prefix: string;
  resp: number;
}

describe("RESP listener: exact framing under any chunking", () => {
  let redis: RedisServer;
  let tap: TcpTap;
  let attache: AttacheUnderTest;
  const shapes: Shape[] = [
    { name: "/plain", prefix: "", resp: 0 },
    { name: "/prefixed", prefix: "app:", resp: 0 },
  ];

  beforeAll(async () => {
    redis = await startRedis();
    tap = await startTcpTap(redis.port);
    for (const s of shapes) s.resp = await freePort();
    const root = [
      "routes:",
      ...shapes.flatMap((s) => [
        `  - prefix: ${s.name}`,
        "    timeout: 5s",
        "    upstream:",
        "      redis:",
        `        url: redis://127.0.0.1:${tap.port}/0`,
        "        passwordFile: secrets/redis-password",
        `        listen: 127.0.0.1:${s.resp}`,
        ...(s.prefix ? [`        keyPrefix: "${s.prefix}"`] : []),
      ]),
    ].join("\n");
    attache = await startAttache({ root, files: { "secrets/redis-password": redis.password } });
  });
  afterAll(async () => {
    await attache?.stop();
    await tap?.close();
    await redis?.stop();
  });

  /** The route's shared connection for RESP2 clients through the tap (named by its CLIENT SETNAME: client/shared-pipe.ts). */
  const sharedOf = (shape: Shape) => tap.open().find((c) => c.bytes().includes(b(`attache:${shape.name}:resp2`)));

  /** Replies Redis itself gives the stream (refused commands answered as attache does), from an empty database. */
  async function direct(cmds: Cmd[]): Promise<string[]> {
    await redis.cli("FLUSHALL");
    const allowed = cmds.filter((c) => !c.refused);
    const { frames } = await respExchange(
      redis.port,
      Buffer.concat([encodeCommand(["AUTH", redis.password]), ...allowed.map((c) => encodeCommand(c.args))]),
      allowed.length + 1,
    );
    const answers = frames.slice(1).map((f) => f.raw.toString("latin1"));
    return cmds.map((c) => (c.refused ? NOT_ALLOWED : answers.shift()!));
  }

  let runs = 0;
  /** Writes `chunks` (a pause between writes, so attache reads them apart); the replies, and the bytes the shared connection sent meanwhile. */
  async function through(
    shape: Shape,
    chunks: Buffer[],
    replies: number,
  ): Promise<{ replies: string[]; upstream: Buffer; closed: boolean }> {
    await redis.cli("FLUSHALL");
    const marker = encodeCommand(["ECHO", `run-${++runs}`]);
    const out: string[] = [];
    const socket = new Socket();
    let closed = false;
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(shape.resp, "127.0.0.1", () => resolve());
    });
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      const parser = new ReplyParser((_, raw) => {
        out.push(Buffer.from(raw).toString("latin1"));
        if (out.length === replies + 1) {
          clearTimeout(timer);
          resolve();
        }
      });
      socket.on("data", (c: Buffer) => parser.feed(c));
      socket.on("close", () => {
        closed = true;
        clearTimeout(timer);
        resolve();
      });
    });
    socket.write(marker);
    for (const chunk of chunks) {
      await new Promise((r) => setTimeout(r, 2));
      if (chunk.length) socket.write(chunk);
    }
    await done;
    socket.destroy();
    // The shared connection's health check (a PING a second) is not the client's: the streams have no PING.
    const sent = Buffer.from(sharedOf(shape)!.bytes().toString("latin1").split(HEALTH_CHECK).join(""), "latin1");
    const at = sent.lastIndexOf(marker);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(out[0]).toBe(`$${`run-${runs}`.length}\r\nrun-${runs}\r\n`);
    return { replies: out.slice(1), upstream: sent.subarray(at + marker.length), closed };
  }

  function cutAt(data: Buffer, cuts: number[]): Buffer[] {
    const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((x, y) => x - y);
    const chunks: Buffer[] = [];
    let last = 0;
    for (const p of [...points, data.length]) {
      chunks.push(data.subarray(last, p));
      last = p;
    }
    return chunks.filter((c) => c.length > 0);
  }

  for (const index of [0, 1]) {
    it(`property (${index === 0 ? "no keyPrefix" : "keyPrefix"}): random streams in random chunks reach Redis byte for byte, replies exact and in order`, async () => {
      const shape = shapes[index]!;
      await fc.assert(
        fc.asyncProperty(stream, fc.array(fc.nat(), { maxLength: 12 }), async (cmds, cuts) => {
          const expected = await direct(cmds);
          const wire = Buffer.concat(cmds.map(clientBytes));
          const got = await through(shape, cutAt(wire, cuts), cmds.length);
          expect(got.closed).toBe(false);
          expect(got.replies).toEqual(expected);
          expect(got.upstream.toString("latin1")).toBe(Buffer.concat(cmds.map((c) => upstreamBytes(c, shape.prefix))).toString("latin1"));
        }),
        { numRuns: 25 },
      );
    }, 120_000);

    it(`every single split offset of a short stream (${index === 0 ? "no keyPrefix" : "keyPrefix"})`, async () => {
      const shape = shapes[index]!;
      const cmds: Cmd[] = [
        { args: [b("SET"), b("k1"), encodeCommand(["CONFIG", "SET", "appendonly", "yes"])], inline: false, refused: false, keys: [1] },
        { args: [b("GET"), b("k1")], inline: false, refused: false, keys: [1] },
        { args: [b("INCR"), b("counter")], inline: true, refused: false, keys: [1] },
        { args: [b("CONFIG"), b("SET"), b("appendonly"), b("yes")], inline: false, refused: true, keys: [] },
        { args: [b("MSET"), b("k2"), b("a\r\nb"), b("k3"), b("")], inline: false, refused: false, keys: [1, 3] },
      ];
      const expected = await direct(cmds);
      const wire = Buffer.concat(cmds.map(clientBytes));
      const upstream = Buffer.concat(cmds.map((c) => upstreamBytes(c, shape.prefix))).toString("latin1");
      for (let at = 1; at < wire.length; at++) {
        const got = await through(shape, [wire.subarray(0, at), wire.subarray(at)], cmds.length);
        expect({ at, replies: got.replies }).toEqual({ at, replies: expected });
        expect({ at, upstream: got.upstream.toString("latin1") }).toEqual({ at, upstream });
      }
      expect((await redis.cli("CONFIG", "GET", "appendonly")).split("\n")[1]).toBe("no");
    }, 120_000);
  }

  it("a malformed stream closes only that client: the shared connection and other clients go on", async () => {
    const shape = shapes[0]!;
    const before = sharedOf(shape)!;
    const other = new Socket();
    await new Promise<void>((resolve) => other.connect(shape.resp, "127.0.0.1", () => resolve()));
    const bad = await respExchange(
      shape.resp,
      Buffer.concat([encodeCommand(["SET", "ok", "1"]), b("*2\r\n$3\r\nGET\r\n$x\r\n"), encodeCommand(["SET", "after", "1"])]),
      3,
    );
    expect(bad.frames.map((f) => f.raw.toString())).toEqual(["+OK\r\n", "-ERR Protocol error: invalid bulk length\r\n"]);
    expect(bad.closed).toBe(true);
    expect((await redis.cli("EXISTS", "after")).trim()).toBe("0");
    const replies: string[] = [];
    other.on("data", (c: Buffer) => replies.push(c.toString()));
    other.write(encodeCommand(["PING"]));
    for (let i = 0; i < 200 && replies.join("") !== "+PONG\r\n"; i++) await new Promise((r) => setTimeout(r, 10));
    expect(replies.join("")).toBe("+PONG\r\n");
    other.destroy();
    expect(sharedOf(shape)).toBe(before);
  });
});
