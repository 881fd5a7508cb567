import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { freePort, startRedis, type RedisServer } from "../harness/redis-server.js";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";
import { startTcpTap, type TcpTap } from "../harness/tcp-tap.js";
import { conversation } from "../harness/resp-conversation.js";

/** Redis' RESP3 connections other than `except` (attache's shared one and clients' own ones), from CLIENT LIST. */
async function resp3Connections(s: RedisRoute): Promise<Array<{ id: string; line: string }>> {
  const list = await s.redis.cli("CLIENT", "LIST");
  return list
    .split("\n")
    .filter((line) => / resp=3/.test(line))
    .map((line) => ({ id: /^id=(\d+)/.exec(line)![1]!, line }));
}

type SharedConnections = Record<"resp2" | "resp3", { open: boolean; awaitingReplies: number }>;

/** The route's shared connections as /routes shows them. */
async function sharedConnections(s: RedisRoute): Promise<SharedConnections> {
  const body = (await (await fetch(`${s.attache.adminUrl}/routes`)).json()) as {
    routes: Array<{ name: string; upstream: { sharedConnections: SharedConnections } }>;
  };
  return body.routes.find((r) => r.name === "/cache")!.upstream.sharedConnections;
}

async function until(check: () => Promise<boolean>, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

const HELLO3 = ["HELLO", "3"];

describe("RESP listener: RESP3 clients on the shared RESP3 connection", () => {
  let s: RedisRoute;
  beforeAll(async () => {
    s = await startRedisRoute('commands: ["*", "PUBLISH", "SUBSCRIBE"]', { resp: true });
  });
  afterAll(() => s?.stop());

  it("plain commands of three RESP3 clients go over one upstream connection; a subscriber gets its own; its pushes reach only it", async () => {
    const clients = await Promise.all([0, 1, 2].map(() => conversation(s.resp)));
    for (const [i, c] of clients.entries()) {
      await c.send([HELLO3]);
      expect(
        await c.send([
          ["SET", `sh:${i}`, `v${i}`],
          ["HGETALL", "sh:none"],
          ["GET", `sh:${i}`],
          ["GET", "sh:missing"],
        ]),
      ).toEqual(["+OK\r\n", "%0\r\n", `$2\r\nv${i}\r\n`, "_\r\n"]);
    }
    expect(await resp3Connections(s)).toHaveLength(1);

    const sub = await conversation(s.resp);
    await sub.send([HELLO3]);
    expect(await sub.send([["SUBSCRIBE", "sh:news"]])).toEqual([">3\r\n$9\r\nsubscribe\r\n$7\r\nsh:news\r\n:1\r\n"]);
    expect(await resp3Connections(s)).toHaveLength(2);

    // Messages published while the plain clients pipeline: each gets exactly its replies.
    const published = clients[0]!.send([["PUBLISH", "sh:news", "one"]]);
    const others = clients.slice(1).map((c, i) =>
      c.send([
        ["GET", `sh:${i + 1}`],
        ["PUBLISH", "sh:news", `m${i}`],
        ["GET", `sh:${i + 1}`],
      ]),
    );
    expect(await published).toEqual([":1\r\n"]);
    expect(await Promise.all(others)).toEqual([
      ["$2\r\nv1\r\n", ":1\r\n", "$2\r\nv1\r\n"],
      ["$2\r\nv2\r\n", ":1\r\n", "$2\r\nv2\r\n"],
    ]);
    const messages = await sub.send([], 3);
    expect(messages.sort()).toEqual(
      ["one", "m0", "m1"].map((m) => `>3\r\n$7\r\nmessage\r\n$7\r\nsh:news\r\n$${m.length}\r\n${m}\r\n`).sort(),
    );
    for (const c of clients) expect(await c.extra()).toEqual([]);
    for (const c of [...clients, sub]) c.close();
  });

  it("replies split across many chunks (values up to 1 MB, three clients pipelining at once) come back whole and in order", async () => {
    const clients = await Promise.all([0, 1, 2].map(() => conversation(s.resp)));
    const sizes = [0, 1, 100, 16_384, 65_537, 300_000, 1_048_576];
    const runs = clients.map(async (c, i) => {
      await c.send([HELLO3]);
      const commands: string[][] = [];
      const expected: string[] = [];
      for (let round = 0; round < 3; round++)
        for (const [j, size] of sizes.entries()) {
          const value = String.fromCharCode(97 + ((i + j + round) % 26)).repeat(size);
          commands.push(["SET", `big:${i}:${j}`, value], ["GET", `big:${i}:${j}`], ["HGETALL", `big:none`]);
          expected.push("+OK\r\n", `$${size}\r\n${value}\r\n`, "%0\r\n");
        }
      const replies = await c.send(commands);
      expect(replies.length).toBe(expected.length);
      // Compared one by one without printing megabytes on a failure.
      for (let k = 0; k < expected.length; k++)
        expect(replies[k] === expected[k], `client ${i}, reply ${k}: ${replies[k]?.slice(0, 40)}`).toBe(true);
    });
    await Promise.all(runs);
    expect(await resp3Connections(s)).toHaveLength(1);
    for (const c of clients) c.close();
  });

  it("a push Redis sends to the shared RESP3 connection reaches no client, and every reply still answers its own command", async () => {
    const via = await conversation(s.resp);
    await via.send([HELLO3]);
    await via.send([["SET", "trk:warm", "1"]]);
    const [shared] = await resp3Connections(s);
    expect(shared).toBeDefined();
    // Redis sends invalidation pushes to a RESP3 redirect target: here, attache's shared connection.
    const direct = await conversation(s.redis.port);
    expect(await direct.send([["AUTH", s.redis.password]])).toEqual(["+OK\r\n"]);
    expect(await direct.send([["CLIENT", "TRACKING", "on", "REDIRECT", shared!.id, "BCAST", "PREFIX", "trk:"]])).toEqual(["+OK\r\n"]);
    for (let i = 0; i < 5; i++) {
      expect(await direct.send([["SET", `trk:${i}`, "x"]])).toEqual(["+OK\r\n"]);
      expect(
        await via.send([
          ["GET", `trk:${i}`],
          ["INCR", "trk:n"],
          ["HGETALL", "trk:none"],
        ]),
      ).toEqual(["$1\r\nx\r\n", `:${i + 1}\r\n`, "%0\r\n"]);
    }
    expect(await via.extra()).toEqual([]);
    // Still the same shared connection: the pushes were dropped, not taken for a broken stream.
    expect((await resp3Connections(s)).map((c) => c.id)).toEqual([shared!.id]);
    direct.close();
    via.close();
  });

  it("HELLO 3 and HELLO 2 in one pipeline: each command answered in the protocol it was sent under, in order", async () => {
    const c = await conversation(s.resp);
    const replies = await c.send([
      ["DEL", "hp:k", "hp:h"],
      ["SET", "hp:k", "1"],
      ["HSET", "hp:h", "f", "v"],
      HELLO3,
      ["INCR", "hp:k"],
      ["HGETALL", "hp:h"],
      ["HELLO", "2"],
      ["INCR", "hp:k"],
      ["HGETALL", "hp:h"],
      HELLO3,
      ["GET", "hp:k"],
      ["GET", "hp:missing"],
      ["HELLO", "2"],
      ["GET", "hp:missing"],
    ]);
    expect(replies.length).toBe(14);
    expect(replies.slice(0, 3)).toEqual([":0\r\n", "+OK\r\n", ":1\r\n"]);
    expect(replies[3]).toMatch(/^%7\r\n/);
    expect(replies.slice(4, 6)).toEqual([":2\r\n", "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"]);
    expect(replies[6]).toMatch(/^\*14\r\n/);
    expect(replies.slice(7, 9)).toEqual([":3\r\n", "*2\r\n$1\r\nf\r\n$1\r\nv\r\n"]);
    expect(replies[9]).toMatch(/^%7\r\n/);
    expect(replies.slice(10, 12)).toEqual(["$1\r\n3\r\n", "_\r\n"]);
    expect(replies[12]).toMatch(/^\*14\r\n/);
    expect(replies[13]).toBe("$-1\r\n");
    c.close();
  });

  it("a MULTI of a RESP3 client runs on its own connection, then its plain commands are back on the shared one", async () => {
    const c = await conversation(s.resp);
    await c.send([HELLO3]);
    expect(await c.send([["MULTI"], ["INCR", "tx:n"], ["HGETALL", "tx:none"], ["EXEC"], ["GET", "tx:n"]])).toEqual([
      "+OK\r\n",
      "+QUEUED\r\n",
      "+QUEUED\r\n",
      "*2\r\n:1\r\n%0\r\n",
      "$1\r\n1\r\n",
    ]);
    // Its own connection goes once it is neutral and idle (dedicated-lease.ts): then one RESP3 connection is left.
    await until(async () => (await resp3Connections(s)).length === 1, 5_000);
    expect(await c.send([["INCR", "tx:n"]])).toEqual([":2\r\n"]);
    expect(await resp3Connections(s)).toHaveLength(1);
    c.close();
  });

  it("the shared RESP3 connection killed by Redis is opened again for the next commands", async () => {
    const c = await conversation(s.resp);
    await c.send([HELLO3]);
    expect(await c.send([["SET", "kill:k", "1"]])).toEqual(["+OK\r\n"]);
    const [shared] = await resp3Connections(s);
    await s.redis.cli("CLIENT", "KILL", "ID", shared!.id);
    await until(async () => (await resp3Connections(s)).length === 0);
    expect(
      await c.send([
        ["GET", "kill:k"],
        ["HGETALL", "kill:none"],
      ]),
    ).toEqual(["$1\r\n1\r\n", "%0\r\n"]);
    const after = await resp3Connections(s);
    expect(after).toHaveLength(1);
    expect(after[0]!.id).not.toBe(shared!.id);
    c.close();
  });

  it("RESP2 clients' commands take the route's RESP2 pipe, the HTTP API's the ioredis connection; each named in CLIENT LIST", async () => {
    const line = async (name: string) => (await s.redis.cli("CLIENT", "LIST")).split("\n").find((l) => l.includes(` name=${name} `)) ?? "";
    const c = await conversation(s.resp);
    expect(
      await c.send([
        ["SET", "lane:k", "v"],
        ["GET", "lane:k"],
      ]),
    ).toEqual(["+OK\r\n", "$1\r\nv\r\n"]);
    expect(await line("attache:/cache:resp2")).toMatch(/cmd=get .* resp=2/);
    expect(await c.send([["EXISTS", "lane:k"]])).toEqual([":1\r\n"]);
    expect(await line("attache:/cache:resp2")).toMatch(/cmd=exists /);
    // The ioredis connection also sends a health-check PING each second: asked again if it came between.
    let ioredisLine = "";
    for (let i = 0; i < 5 && !/cmd=get /.test(ioredisLine); i++) {
      expect((await fetch(`${s.base}/lane:k`)).status).toBe(200);
      ioredisLine = await line("attache:/cache");
    }
    expect(ioredisLine).toMatch(/cmd=get /);
    expect(await line("attache:/cache:resp2")).toMatch(/cmd=exists /);
    c.close();
  });

  it("/routes shows each shared connection: open once used, closed after Redis drops it", async () => {
    const c = await conversation(s.resp);
    await c.send([HELLO3]);
    expect(await c.send([["SET", "view:k", "1"]])).toEqual(["+OK\r\n"]);
    expect((await sharedConnections(s)).resp3).toEqual({ open: true, awaitingReplies: 0 });
    const [conn] = await resp3Connections(s);
    await s.redis.cli("CLIENT", "KILL", "ID", conn!.id);
    await until(async () => !(await sharedConnections(s)).resp3.open);
    expect((await sharedConnections(s)).resp3).toEqual({ open: false, awaitingReplies: 0 });
    c.close();
  });

  it("when the route's RESP2 shared connection is lost, the RESP3 one follows it (closed, then opened where it reconnected)", async () => {
    const c = await conversation(s.resp);
    await c.send([HELLO3]);
    expect(await c.send([["SET", "follow:k", "1"]])).toEqual(["+OK\r\n"]);
    const [shared] = await resp3Connections(s);
    const list = await s.redis.cli("CLIENT", "LIST");
    const ioredis = list.split("\n").find((l) => / name=attache:\/cache /.test(l));
    expect(ioredis).toBeDefined();
    await s.redis.cli("CLIENT", "KILL", "ID", /^id=(\d+)/.exec(ioredis!)![1]!);
    await until(async () => !(await resp3Connections(s)).some((conn) => conn.id === shared!.id));
    // Redis may still be coming back on the RESP2 side: the command waits for it or fails fast, never hangs.
    await until(async () => {
      const [reply] = await c.send([["GET", "follow:k"]]);
      return reply === "$1\r\n1\r\n";
    }, 5_000);
    expect(await resp3Connections(s)).toHaveLength(1);
    c.close();
  });
});

describe("RESP listener: RESP3 on the shared RESP3 connection with a keyPrefix", () => {
  let s: RedisRoute;
  beforeAll(async () => {
    s = await startRedisRoute('keyPrefix: "t3:"\ncommands: ["*"]', { resp: true });
  });
  afterAll(() => s?.stop());

  it("keys are prefixed, and a reply that names a key (LMPOP) has the prefix taken off, in RESP3 types", async () => {
    const c = await conversation(s.resp);
    await c.send([HELLO3]);
    expect(
      await c.send([
        ["SET", "a", "1"],
        ["RPUSH", "l", "x", "y"],
        ["LMPOP", "1", "l", "LEFT"],
        ["HSET", "h", "f", "v"],
        ["HGETALL", "h"],
        ["GET", "a"],
      ]),
    ).toEqual(["+OK\r\n", ":2\r\n", "*2\r\n$1\r\nl\r\n*1\r\n$1\r\nx\r\n", ":1\r\n", "%1\r\n$1\r\nf\r\n$1\r\nv\r\n", "$1\r\n1\r\n"]);
    expect((await s.redis.cli("GET", "t3:a")).trim()).toBe("1");
    expect((await s.redis.cli("LRANGE", "t3:l", "0", "-1")).trim()).toBe("y");
    expect(await resp3Connections(s)).toHaveLength(1);
    c.close();
  });
});

describe("RESP listener: RESP3 clients while Redis freezes", () => {
  let s: RedisRoute;
  beforeAll(async () => {
    s = await startRedisRoute('commands: ["*"]', { resp: true, routeExtra: "    timeout: 1s\n    pool: { connectTimeout: 1s }" });
  });
  afterAll(async () => {
    s?.redis.resume();
    await s?.stop();
  });

  it("commands on the shared RESP3 connection fail at the route timeout, and are served again once Redis answers", async () => {
    const c = await conversation(s.resp);
    await c.send([HELLO3]);
    expect(await c.send([["SET", "fz:k", "1"]])).toEqual(["+OK\r\n"]);
    s.redis.pause();
    const started = Date.now();
    const sent = c.send([["GET", "fz:k"]]);
    // /routes shows the command the frozen Redis owes a reply to.
    await until(async () => (await sharedConnections(s)).resp3.awaitingReplies === 1);
    const [failed] = await sent;
    expect(failed).toMatch(/^-ERR /);
    expect(Date.now() - started).toBeLessThan(4_000);
    s.redis.resume();
    await until(async () => {
      const [reply] = await c.send([["GET", "fz:k"]]);
      return reply === "$1\r\n1\r\n";
    }, 10_000);
    expect(await c.send([["HGETALL", "fz:none"]])).toEqual(["%0\r\n"]);
    c.close();
  }, 20_000);
});

describe("RESP listener: a shared pipe that gets no answers while the ioredis connection is fine", () => {
  let redis: RedisServer;
  let tap: TcpTap;
  let attache: AttacheUnderTest;
  let resp: number;
  beforeAll(async () => {
    redis = await startRedis();
    tap = await startTcpTap(redis.port);
    resp = await freePort();
    const root = [
      "routes:",
      "  - prefix: /cache",
      "    timeout: 1s",
      "    upstream:",
      "      redis:",
      `        url: redis://127.0.0.1:${tap.port}/0`,
      "        passwordFile: secrets/redis-password",
      `        listen: 127.0.0.1:${resp}`,
    ].join("\n");
    attache = await startAttache({ root, files: { "secrets/redis-password": redis.password } });
  });
  afterAll(async () => {
    await attache?.stop();
    await tap?.close();
    await redis?.stop();
  });

  it("is closed once its commands wait 2 s with nothing received (a partition only it met); the next commands open a new one", async () => {
    const c = await conversation(resp);
    expect(await c.send([["SET", "part:k", "1"]])).toEqual(["+OK\r\n"]);
    const pipe = tap.open().find((conn) => conn.bytes().includes(Buffer.from("attache:/cache:resp2")));
    expect(pipe).toBeDefined();
    // attache's bytes on this connection stop reaching Redis; the ioredis connection goes on answering its health check.
    pipe!.socket.pause();
    const [failed] = await c.send([["GET", "part:k"]]);
    expect(failed).toMatch(/^-ERR /);
    // Commands fail at the route timeout until the pipe is closed; then a new one serves them.
    await until(async () => {
      const [reply] = await c.send([["GET", "part:k"]]);
      return reply === "$1\r\n1\r\n";
    }, 8_000);
    const pipes = tap.connections.filter((conn) => conn.bytes().includes(Buffer.from("attache:/cache:resp2")));
    expect(pipes.length).toBe(2);
    expect(pipes[0]).toBe(pipe);
    c.close();
  }, 20_000);
});
