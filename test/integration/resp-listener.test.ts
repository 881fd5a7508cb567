/** The RESP listener end to end: real redis-server, attache in-process, redis-cli / ioredis / redis-benchmark / raw sockets as clients. */
import { Socket } from "node:net";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";
import { respExchange, run, startRedis, type RedisServer } from "../harness/redis-server.js";

type Stack = RedisRoute;
const startStack = (redisYaml: string, routeExtra = "") => startRedisRoute(redisYaml, { routeExtra, resp: true });

const cli = (port: number, ...args: string[]) => run("redis-cli", ["-p", String(port), ...args]);

describe("RESP listener: namespaced, allowlisted access", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack('keyPrefix: "app:"');
  });
  afterAll(() => s?.stop());

  it("redis-cli with no password reads and writes namespaced keys", async () => {
    expect((await cli(s.resp, "SET", "user:1", "alice")).trim()).toBe("OK");
    expect((await cli(s.resp, "GET", "user:1")).trim()).toBe("alice");
    expect((await s.redis.cli("GET", "app:user:1")).trim()).toBe("alice");
    expect((await s.redis.cli("EXISTS", "user:1")).trim()).toBe("0");
    expect((await cli(s.resp, "MSET", "a", "1", "b", "2")).trim()).toBe("OK");
    expect((await s.redis.cli("MGET", "app:a", "app:b")).trim().split("\n")).toEqual(["1", "2"]);
  });

  it("refuses commands outside the allowlist with -ERR command not allowed", async () => {
    const { frames } = await respExchange(
      s.resp,
      Buffer.concat([
        encodeCommand(["FLUSHALL"]),
        encodeCommand(["KEYS", "*"]),
        encodeCommand(["CONFIG", "GET", "save"]),
        encodeCommand(["GET", "user:1"]),
      ]),
      4,
    );
    expect(frames.map((f) => f.raw.toString())).toEqual([
      "-ERR command not allowed\r\n",
      "-ERR command not allowed\r\n",
      "-ERR command not allowed\r\n",
      "$5\r\nalice\r\n",
    ]);
    expect((await s.redis.cli("DBSIZE")).trim()).not.toBe("0");
  });

  it("a pipeline of hundreds of commands in one write gets every reply, in order", async () => {
    const n = 600;
    const wire = Buffer.concat(
      Array.from({ length: n }, (_, i) => (i % 3 === 2 ? encodeCommand(["GET", "counter"]) : encodeCommand(["INCR", "counter"]))),
    );
    const { frames } = await respExchange(s.resp, Buffer.concat([encodeCommand(["DEL", "counter"]), wire]), n + 1);
    expect(frames).toHaveLength(n + 1);
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const raw = frames[i + 1]!.raw.toString();
      if (i % 3 === 2) expect(raw).toBe(`$${String(expected).length}\r\n${expected}\r\n`);
      else expect(raw).toBe(`:${++expected}\r\n`);
    }
  });

  it("pipelined commands get their keys prefixed, also once taken as sent in runs (the second round)", async () => {
    const round = (n: number) => [
      ["SET", `r${n}:a`, "1"],
      ["MSET", `r${n}:b`, "2", `r${n}:c`, "3"],
      ["INCR", `r${n}:a`],
      ["GET", `r${n}:a`],
      ["DEL", `r${n}:b`],
      ["EXISTS", `r${n}:b`, `r${n}:c`],
      ["PING"],
      ["MGET", `r${n}:a`, `r${n}:c`],
    ];
    const expected = ["+OK\r\n", "+OK\r\n", ":2\r\n", "$1\r\n2\r\n", ":1\r\n", ":1\r\n", "+PONG\r\n", "*2\r\n$1\r\n2\r\n$1\r\n3\r\n"];
    for (const n of [1, 2]) {
      const script = round(n);
      const { frames } = await respExchange(s.resp, Buffer.concat(script.map(encodeCommand)), script.length);
      expect(frames.map((f) => f.raw.toString())).toEqual(expected);
      expect((await s.redis.cli("MGET", `app:r${n}:a`, `app:r${n}:b`, `app:r${n}:c`, `r${n}:a`)).split("\n").slice(0, 4)).toEqual([
        "2",
        "",
        "3",
        "",
      ]);
    }
  });

  it("strips the prefix from key names in replies (BLPOP, SCAN)", async () => {
    await cli(s.resp, "RPUSH", "jobs", "j1");
    expect((await cli(s.resp, "BLPOP", "jobs", "1")).trim().split("\n")).toEqual(["jobs", "j1"]);
  });

  it("answers AUTH, HELLO and CLIENT itself", async () => {
    const { frames } = await respExchange(
      s.resp,
      Buffer.concat([
        encodeCommand(["AUTH", "whatever"]),
        encodeCommand(["HELLO", "4"]),
        encodeCommand(["CLIENT", "SETNAME", "app1"]),
        encodeCommand(["CLIENT", "GETNAME"]),
        encodeCommand(["HELLO"]),
      ]),
      5,
    );
    expect(frames.slice(0, 4).map((f) => f.raw.toString())).toEqual([
      "+OK\r\n",
      "-NOPROTO unsupported protocol version\r\n",
      "+OK\r\n",
      "$4\r\napp1\r\n",
    ]);
    expect(frames[4]!.value.type).toBe("array");
  });

  it("malformed RESP gets an error and closes only that connection", async () => {
    const healthy = new Redis({ port: s.resp, lazyConnect: true, maxRetriesPerRequest: 0 });
    await healthy.connect();
    try {
      const bad = await respExchange(s.resp, Buffer.from("*1\r\n$abc\r\n"), 2, 5_000);
      expect(bad.frames.map((f) => f.raw.toString())).toEqual(["-ERR Protocol error: invalid bulk length\r\n"]);
      expect(bad.closed).toBe(true);
      expect(await healthy.set("still", "ok")).toBe("OK");
      expect(await healthy.get("still")).toBe("ok");
    } finally {
      healthy.disconnect();
    }
  });

  it("fuzz: random byte streams, split at random points, never hurt the listener or other clients", async () => {
    const healthy = new Redis({ port: s.resp, lazyConnect: true, maxRetriesPerRequest: 0 });
    await healthy.connect();
    try {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 120 }), fc.array(fc.nat({ max: 120 }), { maxLength: 4 }), async (data, cuts) => {
          const bytes = Buffer.from(data);
          await new Promise<void>((resolve) => {
            const socket = new Socket();
            const timer = setTimeout(() => socket.destroy(), 150);
            socket.on("error", () => {});
            socket.on("close", () => {
              clearTimeout(timer);
              resolve();
            });
            socket.on("data", () => {});
            socket.connect(s.resp, "127.0.0.1", () => {
              let last = 0;
              for (const c of [...cuts.map((x) => x % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
                if (c > last) socket.write(bytes.subarray(last, c));
                last = Math.max(last, c);
              }
            });
          });
          expect(await healthy.ping()).toBe("PONG");
        }),
        { numRuns: 40 },
      );
    } finally {
      healthy.disconnect();
    }
  });
});

describe("RESP listener: a trusted route (commands: [*]) is indistinguishable from Redis", () => {
  let s: Stack;
  let direct: RedisServer;
  beforeAll(async () => {
    s = await startStack('commands: ["*"]');
    direct = await startRedis();
  });
  afterAll(async () => {
    await s?.stop();
    await direct?.stop();
  });

  it("same bytes as a direct connection for data-type, expiry and keyspace commands, errors included", async () => {
    const script: string[][] = [
      ["SET", "a", "1"],
      ["GET", "a"],
      ["GET", "missing"],
      ["INCR", "a"],
      ["SET", "s", "text"],
      ["INCR", "s"],
      ["TYPE", "a"],
      ["TYPE", "missing"],
      ["SET", "a", "2", "GET"],
      ["SET", "n", "v", "NX", "GET"],
      ["GETEX", "a", "PERSIST"],
      ["EXPIRE", "a", "100"],
      ["TTL", "a"],
      ["PTTL", "missing"],
      ["PERSIST", "a"],
      ["LPUSH", "l", "x", "y"],
      ["LRANGE", "l", "0", "-1"],
      ["LPOS", "l", "nope"],
      ["BLPOP", "nolist", "0.01"],
      ["RPOPLPUSH", "nolist", "l2"],
      ["LPOP", "nolist", "2"],
      ["HSET", "h", "f", "v", "g", "w"],
      ["HGETALL", "h"],
      ["HGET", "h", "nope"],
      ["HMGET", "h", "f", "nope"],
      ["HRANDFIELD", "missing", "2"],
      ["ZADD", "z", "1.5", "m", "2", "n"],
      ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
      ["ZSCORE", "z", "m"],
      ["ZPOPMIN", "missing"],
      ["ZMPOP", "1", "missing", "MIN"],
      ["SADD", "st", "a"],
      ["SMEMBERS", "st"],
      ["SPOP", "missing"],
      ["XADD", "x", "1-1", "f", "v"],
      ["XRANGE", "x", "-", "+"],
      ["XREAD", "COUNT", "1", "STREAMS", "x", "0"],
      ["XREAD", "STREAMS", "x", "$"],
      ["EXISTS", "a", "l", "missing"],
      ["OBJECT", "ENCODING", "a"],
      ["RENAME", "missing", "b"],
      ["GET"],
      ["FOO", "bar"],
      ["SORT", "l", "ALPHA"],
      ["MULTI"],
      ["INCR", "s"],
      ["SET", "q", "1"],
      ["EXEC"],
      ["EXEC"],
      ["DISCARD"],
      ["MULTI"],
      ["GET", "a", "b"],
      ["EXEC"],
      ["WATCH", "a"],
      ["UNWATCH"],
      ["PING"],
      ["PING", "hi"],
      ["ECHO", "e"],
      ["DEL", "a", "l", "h", "z", "st", "x", "s", "q", "n", "l2"],
      ["SCAN", "0"],
      ["DBSIZE"],
    ];
    const wire = Buffer.concat(script.map(encodeCommand));
    const [viaAttache, viaRedis] = await Promise.all([
      respExchange(s.resp, wire, script.length),
      respExchange(direct.port, Buffer.concat([encodeCommand(["AUTH", direct.password]), wire]), script.length + 1),
    ]);
    const theirs = viaRedis.frames.slice(1).map((f) => f.raw.toString("latin1"));
    const ours = viaAttache.frames.map((f) => f.raw.toString("latin1"));
    for (let i = 0; i < script.length; i++) expect(ours[i], script[i]!.join(" ")).toBe(theirs[i]);
  });

  it("WATCH/MULTI through a dedicated connection: a concurrent write aborts the transaction (null array)", async () => {
    const a = new Redis({ port: s.resp, maxRetriesPerRequest: 0 });
    const b = new Redis({ port: s.resp, maxRetriesPerRequest: 0 });
    try {
      await a.set("w", "0");
      await a.watch("w");
      await b.set("w", "changed");
      const result = await a.multi().set("w", "mine").exec();
      expect(result).toBeNull();
      expect(await b.get("w")).toBe("changed");
      const ok = await a.multi().incr("cnt").incr("cnt").exec();
      expect(ok).toEqual([
        [null, 1],
        [null, 2],
      ]);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });

  it("blocking pops and pub/sub work for ioredis clients, without stalling others", async () => {
    const waiter = new Redis({ port: s.resp, maxRetriesPerRequest: 0 });
    const other = new Redis({ port: s.resp, maxRetriesPerRequest: 0 });
    const sub = new Redis({ port: s.resp, maxRetriesPerRequest: 0 });
    try {
      const popped = waiter.blpop("queue", 5);
      await new Promise((r) => setTimeout(r, 100));
      expect(await other.ping()).toBe("PONG"); // the shared connection is not blocked
      await other.rpush("queue", "job");
      expect(await popped).toEqual(["queue", "job"]);
      const got = new Promise<[string, string]>((resolve) => sub.on("message", (ch, msg) => resolve([ch, msg])));
      await sub.subscribe("news");
      expect(await other.publish("news", "hello")).toBe(1);
      expect(await got).toEqual(["news", "hello"]);
      await sub.unsubscribe("news");
      expect(await sub.get("queue")).toBeNull(); // back to ordinary commands
    } finally {
      waiter.disconnect();
      other.disconnect();
      sub.disconnect();
    }
  });

  it("redis-benchmark (pipelined, many clients) runs clean", async () => {
    const out = await run(
      "redis-benchmark",
      ["-p", String(s.resp), "-n", "2000", "-c", "8", "-P", "16", "-t", "set,get,incr,lpush,lpop", "-q", "--csv"],
      undefined,
      60_000,
    );
    const rows = out
      .trim()
      .split("\n")
      .filter((l) => /^"(SET|GET|INCR|LPUSH|LPOP)/.test(l));
    expect(rows.length).toBeGreaterThanOrEqual(5);
    expect((await s.redis.cli("STRLEN", "key:__rand_int__")).trim()).toBe("3");
  });

  it("redis-cli reading commands from stdin", async () => {
    const out = await cli(s.resp, "-x", "SET", "stdin-key");
    expect(out.trim()).toBe("OK");
    const lines = await run("redis-cli", ["-p", String(s.resp)], "SET x 1\nINCR x\nGET x\nTYPE x\n");
    expect(lines.trim().split("\n")).toEqual(["OK", "2", "2", "string"]);
  });
});

describe("RESP listener: Redis outage and recovery", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack("", "    timeout: 3s\n    circuitBreaker: { volumeThreshold: 1000 }");
  });
  afterAll(() => s?.stop());

  it("fails fast with -ERR while Redis is down and recovers by itself", async () => {
    expect((await cli(s.resp, "SET", "k", "v")).trim()).toBe("OK");
    await s.redis.kill();
    const { frames } = await respExchange(s.resp, encodeCommand(["GET", "k"]), 1);
    expect(frames[0]!.raw.toString()).toMatch(/^-ERR route \/cache: redis unreachable/);
    await s.redis.restart();
    let reply = "";
    for (let i = 0; i < 100 && reply !== "$-1\r\n"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      reply = (await respExchange(s.resp, encodeCommand(["GET", "k"]), 1)).frames[0]?.raw.toString() ?? "";
    }
    expect(reply).toBe("$-1\r\n"); // a fresh server without persistence: the key is gone, the route works
  });
});

describe("RESP listener: shutdown", () => {
  it("the drain waits while RESP commands keep coming, and every one of them is answered", async () => {
    const s = await startRedisRoute("", { resp: true, rootExtra: "shutdown: { idleGrace: 400ms, drainTimeout: 15s }" });
    const client = new Redis({ port: s.resp, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await client.connect();
      let drained = false;
      const draining = s.attache.running.drain().then(() => (drained = true));
      // Two seconds of traffic, one command every 100 ms: each gap is shorter than idleGrace.
      const replies: string[] = [];
      for (let i = 0; i < 20; i++) {
        replies.push((await client.set(`drain:${i}`, "v")) as string);
        expect(drained).toBe(false);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(replies).toEqual(Array(20).fill("OK"));
      await draining; // the traffic stopped: idle for idleGrace, then closed
      expect(drained).toBe(true);
    } finally {
      client.disconnect();
      await s.stop();
    }
  });

  it("closing attache does not wait for connected RESP clients: they are disconnected", async () => {
    const s = await startStack("");
    const client = new Socket();
    await new Promise<void>((resolve, reject) => client.connect(s.resp, "127.0.0.1", resolve).once("error", reject));
    const disconnected = new Promise<void>((resolve) => client.once("close", () => resolve()));
    // A client that stays connected must not hold the close up (it used to wait for the client to leave).
    const closed = Promise.race([
      s.attache.running.close().then(() => "closed"),
      new Promise((r) => setTimeout(() => r("still waiting"), 3000)),
    ]);
    expect(await closed).toBe("closed");
    await disconnected;
    await s.stop();
  });
});
