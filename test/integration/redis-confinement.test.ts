/**
 * No command moves a client out of its route's db or keyPrefix, on the RESP listener and the HTTP
 * API: SELECT, RESET (also on a dedicated connection, inside WATCH or MULTI), COPY ... DB, MOVE,
 * SWAPDB, scripts under a keyPrefix; ioredis and redis-py set to the route's db and to another.
 * Real redis-server (with a password, so a RESET that logs out would show), attache in-process.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { freePort, respExchange, run, startRedis, type RedisServer } from "../harness/redis-server.js";

const post = (url: string, body: unknown) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const wire = (...commands: string[][]) => Buffer.concat(commands.map((c) => encodeCommand(c)));
const raws = (frames: Array<{ raw: Buffer }>) => frames.map((f) => f.raw.toString());

describe("Redis confinement: db 3, keyPrefix app:", () => {
  let redis: RedisServer;
  let attache: AttacheUnderTest;
  /** Default commands plus COPY's family; keyPrefix app:, db 3. */
  let resp: number;
  /** commands: ["*"], keyPrefix t:, db 3. */
  let open: number;
  /** commands: ["*", EVAL], keyPrefix s:, db 3: scripts listed by name. */
  let listed: number;
  /** A direct connection to Redis, to look into every db. */
  let direct: Redis;

  /** Keys matching `pattern` in each of Redis' 16 dbs that hold any. */
  async function everywhere(pattern: string): Promise<Record<number, string[]>> {
    const found: Record<number, string[]> = {};
    for (let db = 0; db < 16; db++) {
      await direct.select(db);
      const keys = await direct.keys(pattern);
      if (keys.length) found[db] = keys.sort();
    }
    return found;
  }

  beforeAll(async () => {
    redis = await startRedis();
    [resp, open, listed] = [await freePort(), await freePort(), await freePort()];
    const route = (prefix: string, port: number, extra: string[]) => [
      `  - prefix: ${prefix}`,
      "    upstream:",
      "      redis:",
      `        url: redis://127.0.0.1:${redis.port}/3`,
      "        passwordFile: secrets/redis-password",
      `        listen: 127.0.0.1:${port}`,
      ...extra.map((l) => `        ${l}`),
    ];
    attache = await startAttache({
      root: [
        "routes:",
        ...route("/cache", resp, ['keyPrefix: "app:"']),
        ...route("/open", open, ['keyPrefix: "t:"', 'commands: ["*"]']),
        ...route("/listed", listed, ['keyPrefix: "s:"', 'commands: ["*", EVAL]']),
      ].join("\n"),
      files: { "secrets/redis-password": redis.password },
    });
    direct = new Redis({ port: redis.port, password: redis.password, lazyConnect: true });
    await direct.connect();
  });
  afterAll(async () => {
    direct?.disconnect();
    await attache?.stop();
    await redis?.stop();
  });

  describe("SELECT", () => {
    it("of the route's db answers OK and the client stays there; another db is refused, naming db 3, and the connection closes", async () => {
      const ok = await respExchange(resp, wire(["SELECT", "3"], ["SET", "sel:a", "1"]), 2);
      expect(raws(ok.frames)).toEqual(["+OK\r\n", "+OK\r\n"]);
      const refused = await respExchange(resp, wire(["SELECT", "0"], ["SET", "sel:b", "1"], ["PING"]), 3, 3_000);
      expect(refused.frames).toHaveLength(1);
      expect(refused.frames[0]!.raw.toString()).toMatch(/^-ERR SELECT "0": this connection is confined to db 3 .*\/cache/);
      expect(refused.closed).toBe(true);
      expect(await everywhere("*sel:*")).toEqual({ 3: ["app:sel:a"] });
    });

    it("inside MULTI is queued like any command, and EXEC's reply has its place", async () => {
      const { frames } = await respExchange(resp, wire(["MULTI"], ["SELECT", "3"], ["SET", "sel:m", "1"], ["EXEC"]), 4);
      expect(raws(frames)).toEqual(["+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "*2\r\n+OK\r\n+OK\r\n"]);
      expect(await everywhere("*sel:m")).toEqual({ 3: ["app:sel:m"] });
    });

    it("over HTTP: the route's db is OK, another db is 403 naming db 3 and nothing of the pipeline runs", async () => {
      const ok = await post(`${attache.url}/cache`, {
        pipeline: [
          ["SELECT", 3],
          ["SET", "sel:h", "1"],
        ],
      });
      expect(await ok.json()).toEqual({ results: [{ result: "OK" }, { result: "OK" }] });
      const refused = await post(`${attache.url}/cache`, {
        pipeline: [
          ["SET", "sel:h2", "1"],
          ["SELECT", "1"],
          ["SET", "sel:h3", "1"],
        ],
      });
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("confined to db 3");
      expect(await everywhere("*sel:h*")).toEqual({ 3: ["app:sel:h"] });
    });
  });

  describe("RESET", () => {
    it("without a dedicated connection is answered by attache; later commands stay in db 3 under the prefix", async () => {
      const { frames } = await respExchange(resp, wire(["RESET"], ["SET", "reset:a", "1"], ["GET", "reset:a"]), 3);
      expect(raws(frames)).toEqual(["+RESET\r\n", "+OK\r\n", "$1\r\n1\r\n"]);
      expect(await everywhere("*reset:a")).toEqual({ 3: ["app:reset:a"] });
    });

    it("inside WATCH (a dedicated connection): Redis resets it, attache logs it in and selects db 3 again", async () => {
      const { frames } = await respExchange(
        resp,
        wire(["WATCH", "reset:w"], ["RESET"], ["SET", "reset:w", "1"], ["GET", "reset:w"], ["MULTI"], ["INCR", "reset:w"], ["EXEC"]),
        7,
      );
      expect(raws(frames)).toEqual(["+OK\r\n", "+RESET\r\n", "+OK\r\n", "$1\r\n1\r\n", "+OK\r\n", "+QUEUED\r\n", "*1\r\n:2\r\n"]);
      expect(await everywhere("*reset:w")).toEqual({ 3: ["app:reset:w"] });
    });

    it("inside MULTI: the transaction is dropped, the client stays in db 3", async () => {
      const { frames } = await respExchange(
        resp,
        wire(["MULTI"], ["SET", "reset:m1", "1"], ["RESET"], ["SET", "reset:m2", "2"], ["EXEC"]),
        5,
      );
      expect(raws(frames)).toEqual(["+OK\r\n", "+QUEUED\r\n", "+RESET\r\n", "+OK\r\n", "-ERR EXEC without MULTI\r\n"]);
      expect(await everywhere("*reset:m*")).toEqual({ 3: ["app:reset:m2"] });
    });

    it("in subscribe mode: the subscription ends and the client writes to db 3 again", async () => {
      const { frames } = await respExchange(
        open,
        wire(["SUBSCRIBE", "reset:ch"], ["RESET"], ["SET", "reset:s", "1"], ["PUBSUB", "NUMSUB", "reset:ch"]),
        4,
      );
      expect(raws(frames)).toEqual([
        "*3\r\n$9\r\nsubscribe\r\n$8\r\nreset:ch\r\n:1\r\n",
        "+RESET\r\n",
        "+OK\r\n",
        "*2\r\n$8\r\nreset:ch\r\n:0\r\n",
      ]);
      expect(await everywhere("*reset:s")).toEqual({ 3: ["t:reset:s"] });
    });

    it("with ioredis: after RESET in a WATCH, its writes land in db 3", async () => {
      const client = new Redis({ port: resp, lazyConnect: true });
      try {
        await client.connect();
        await client.watch("reset:io");
        expect(await client.call("RESET")).toBe("RESET");
        await client.set("reset:io", "v");
        expect(await client.get("reset:io")).toBe("v");
      } finally {
        client.disconnect();
      }
      expect(await everywhere("*reset:io")).toEqual({ 3: ["app:reset:io"] });
    });
  });

  describe("commands that reach another db", () => {
    it("COPY ... DB is refused on RESP and HTTP; COPY within the db works", async () => {
      await direct.select(3);
      await direct.set("app:copy:src", "x");
      const { frames } = await respExchange(
        resp,
        wire(
          ["COPY", "copy:src", "copy:dst", "DB", "0", "REPLACE"],
          ["COPY", "copy:src", "copy:dst", "db", "3"],
          ["COPY", "copy:src", "copy:in"],
        ),
        3,
      );
      expect(raws(frames)).toEqual(["-ERR command not allowed\r\n", "-ERR command not allowed\r\n", ":1\r\n"]);
      const http = await post(`${attache.url}/cache`, { command: ["COPY", "copy:src", "copy:dst", "DB", "0"] });
      expect(http.status).toBe(403);
      expect(((await http.json()) as { error: { message: string } }).error.message).toContain("confined to db 3");
      expect(await everywhere("*copy:*")).toEqual({ 3: ["app:copy:in", "app:copy:src"] });
    });

    it('MOVE, SWAPDB, MIGRATE and FLUSHALL are refused even under ["*"]', async () => {
      await direct.select(3);
      await direct.set("t:move:a", "x");
      await direct.select(0);
      await direct.set("zero:keep", "0");
      const { frames } = await respExchange(
        open,
        wire(
          ["MOVE", "move:a", "0"],
          ["SWAPDB", "0", "3"],
          ["MIGRATE", "127.0.0.1", String(redis.port), "move:a", "0", "1000"],
          ["FLUSHALL"],
          ["GET", "move:a"],
        ),
        5,
      );
      expect(raws(frames)).toEqual([...Array(4).fill("-ERR command not allowed\r\n"), "$1\r\nx\r\n"]);
      for (const command of [["MOVE", "move:a", "0"], ["SWAPDB", "0", "3"], ["FLUSHALL"]])
        expect((await post(`${attache.url}/open`, { command })).status).toBe(403);
      expect(await everywhere("*move:a")).toEqual({ 3: ["t:move:a"] });
      expect(await everywhere("zero:keep")).toEqual({ 0: ["zero:keep"] });
    });

    it('EVAL and FCALL under a keyPrefix are refused even under ["*"]: a script could read other:secret', async () => {
      await direct.select(3);
      await direct.set("other:secret", "s3cret");
      const script = "return redis.call('GET', 'other:secret')";
      const { frames } = await respExchange(
        open,
        wire(["EVAL", script, "0"], ["EVAL_RO", script, "0"], ["FCALL", "f", "0"], ["SCRIPT", "LOAD", script], ["FUNCTION", "LIST"]),
        5,
      );
      expect(raws(frames)).toEqual(Array(5).fill("-ERR command not allowed\r\n"));
      const http = await post(`${attache.url}/open`, { command: ["EVAL", script, 0] });
      expect(http.status).toBe(403);
      expect(JSON.stringify(await http.json())).not.toContain("s3cret");
    });

    it('CONFIG and ACL (Redis\' own password) and, under a keyPrefix, DEBUG / CLUSTER / SLOWLOG are outside ["*"]', async () => {
      const { frames } = await respExchange(
        open,
        wire(
          ["CONFIG", "GET", "requirepass"],
          ["ACL", "LIST"],
          ["DEBUG", "OBJECT", "other:secret"],
          ["SLOWLOG", "GET"],
          ["CLUSTER", "GETKEYSINSLOT", "0", "10"],
        ),
        5,
      );
      expect(raws(frames)).toEqual(Array(5).fill("-ERR command not allowed\r\n"));
      const http = await post(`${attache.url}/open`, { command: ["CONFIG", "GET", "requirepass"] });
      expect(http.status).toBe(403);
      expect(JSON.stringify(await http.json())).not.toContain(redis.password);
    });

    it("a script listed by name runs, and reaches what the README says listing it gives away", async () => {
      // What listing EVAL gives away: keys outside the prefix and, through SELECT, other dbs.
      const { frames } = await respExchange(
        listed,
        wire(["EVAL", "return redis.call('GET', 'other:secret')", "0"], ["FCALL", "f", "0"]),
        2,
      );
      expect(raws(frames)).toEqual(["$6\r\ns3cret\r\n", "-ERR command not allowed\r\n"]);
    });
  });

  describe("client libraries with a db", () => {
    it("ioredis with db: 3 (the route's) works, and its writes land in db 3 under the prefix", async () => {
      const client = new Redis({ port: resp, db: 3, lazyConnect: true });
      const errors: Error[] = [];
      client.on("error", (e: Error) => errors.push(e));
      try {
        await client.connect();
        await client.set("io:three", "3");
        expect(await client.get("io:three")).toBe("3");
      } finally {
        client.disconnect();
      }
      expect(errors).toEqual([]);
      expect(await everywhere("*io:three")).toEqual({ 3: ["app:io:three"] });
    });

    it("ioredis with db: 5 is refused (the error names db 3) and nothing is written anywhere", async () => {
      const client = new Redis({ port: resp, db: 5, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      const errors: Error[] = [];
      client.on("error", (e: Error) => errors.push(e));
      try {
        await expect(client.set("io:five", "5")).rejects.toThrow();
      } finally {
        client.disconnect();
      }
      expect(errors.map((e) => e.message).join("\n")).toContain("confined to db 3");
      expect(await everywhere("*io:five")).toEqual({});
    });

    it("redis-py (Debian python3-redis) with db=3 works; with db=5 it is refused and writes nothing", async () => {
      const py = (db: number, key: string) =>
        run("/usr/bin/python3", [
          "-c",
          `import redis\nr = redis.Redis(port=${resp}, db=${db})\ntry:\n  r.set("${key}", "v"); print("ok", r.get("${key}").decode())\nexcept redis.RedisError as e:\n  print("refused", e)`,
        ]);
      expect((await py(3, "pyclient:three")).trim()).toBe("ok v");
      expect((await py(5, "pyclient:five")).trim()).toMatch(/^refused .*confined to db 3/);
      expect(await everywhere("*pyclient:*")).toEqual({ 3: ["app:pyclient:three"] });
    });
  });
});
