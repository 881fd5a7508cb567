/**
 * The clients users install, unmodified, against the RESP listener: node-redis 6 (RESP3 by default,
 * and RESP2), node-redis 4, ioredis, redis-cli (-3, --pipe with 100,000 commands, --scan). Each on a
 * route without a keyPrefix with commands ["*"] (and EVAL, which ["*"] leaves out), and on one with a keyPrefix and an allowlist:
 * connect, a 20,000-command pipeline, MULTI/EXEC, WATCH, pub/sub, blocking pops, scripts where allowed.
 */
import { Redis } from "ioredis";
import { createClient as createClient6 } from "redis";
import { createClient as createClient4 } from "redis4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCommand } from "../../src/upstreams/redis/resp/encoder.js";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";
import { run } from "../harness/redis-server.js";

const PIPELINE = 20_000;

/** What each client library is driven through: the same script for all. */
interface Client {
  set(k: string, v: string): Promise<unknown>;
  get(k: string): Promise<string | null>;
  /** PIPELINE SETs then GETs in one pipeline; the GET replies. */
  pipeline(keys: string[]): Promise<Array<string | null>>;
  /** MULTI INCR INCR EXEC. */
  transaction(k: string): Promise<unknown[]>;
  /** WATCH k, `meddle` writes k from elsewhere, MULTI SET k EXEC: whether EXEC ran. */
  watched(k: string, meddle: () => Promise<unknown>): Promise<boolean>;
  subscribe(channel: string, onMessage: (m: string) => void): Promise<void>;
  publish(channel: string, message: string): Promise<number>;
  blpop(k: string): Promise<string | null>;
  rpush(k: string, v: string): Promise<unknown>;
  evalScript(): Promise<unknown>;
  close(): Promise<void>;
}

type NodeRedis = ReturnType<typeof createClient6>;

async function nodeRedis(create: typeof createClient6, url: string, options: Record<string, unknown>): Promise<Client> {
  const open = async () => {
    const c = create({ url, ...options }) as NodeRedis;
    c.on("error", () => {});
    await c.connect();
    return c;
  };
  const client = await open();
  const extra: NodeRedis[] = [];
  const another = async () => {
    const c = await open();
    extra.push(c);
    return c;
  };
  return {
    set: (k, v) => client.set(k, v),
    get: async (k) => (await client.get(k)) as string | null,
    async pipeline(keys) {
      const m = client.multi();
      for (const k of keys) m.set(k, k);
      for (const k of keys) m.get(k);
      const replies = (await m.execAsPipeline()) as unknown[];
      return replies.slice(keys.length) as Array<string | null>;
    },
    transaction: (k) => client.multi().incr(k).incr(k).exec() as Promise<unknown[]>,
    async watched(k, meddle) {
      const c = await another();
      await c.watch(k);
      await meddle();
      try {
        const r = await c.multi().set(k, "mine").exec();
        return r !== null;
      } catch (err) {
        if ((err as Error).name === "WatchError" || /watch/i.test((err as Error).message)) return false;
        throw err;
      }
    },
    async subscribe(channel, onMessage) {
      const c = await another();
      await c.subscribe(channel, (m: string) => onMessage(m));
    },
    publish: (channel, message) => client.publish(channel, message) as Promise<number>,
    async blpop(k) {
      const c = await another();
      const r = (await c.blPop(k, 5)) as { element: string } | null;
      return r?.element ?? null;
    },
    rpush: (k, v) => client.rPush(k, v),
    evalScript: () => client.eval("return redis.call('SET', KEYS[1], ARGV[1])", { keys: ["script:k"], arguments: ["s"] }),
    async close() {
      // node-redis 6 has destroy(); node-redis 4 disconnect().
      for (const c of [...extra, client] as Array<{ destroy?: () => void; disconnect: () => Promise<void> }>)
        if (c.destroy) c.destroy();
        else await c.disconnect();
    },
  };
}

async function ioredis(port: number): Promise<Client> {
  const opts = { port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 };
  const open = async () => {
    const c = new Redis(opts);
    c.on("error", () => {});
    await c.connect();
    return c;
  };
  const client = await open();
  const extra: Redis[] = [];
  const another = async () => {
    const c = await open();
    extra.push(c);
    return c;
  };
  return {
    set: (k, v) => client.set(k, v),
    get: (k) => client.get(k),
    async pipeline(keys) {
      const p = client.pipeline();
      for (const k of keys) p.set(k, k);
      for (const k of keys) p.get(k);
      const replies = (await p.exec())!;
      return replies.slice(keys.length).map(([err, v]) => (err ? null : (v as string)));
    },
    transaction: async (k) => ((await client.multi().incr(k).incr(k).exec()) ?? []).map(([, v]) => v),
    async watched(k, meddle) {
      const c = await another();
      await c.watch(k);
      await meddle();
      return (await c.multi().set(k, "mine").exec()) !== null;
    },
    async subscribe(channel, onMessage) {
      const c = await another();
      c.on("message", (_ch: string, m: string) => onMessage(m));
      await c.subscribe(channel);
    },
    publish: (channel, message) => client.publish(channel, message),
    async blpop(k) {
      const c = await another();
      return (await c.blpop(k, 5))?.[1] ?? null;
    },
    rpush: (k, v) => client.rpush(k, v),
    evalScript: () => client.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, "script:k", "s"),
    async close() {
      for (const c of [...extra, client]) c.disconnect();
    },
  };
}

interface Shape {
  name: string;
  yaml: string;
  prefix: string;
  scripts: boolean;
}
const SHAPES: Shape[] = [
  { name: 'no keyPrefix, commands ["*", "EVAL"]', yaml: 'commands: ["*", "EVAL"]', prefix: "", scripts: true },
  {
    name: "keyPrefix and an allowlist",
    yaml: 'keyPrefix: "m:"\ncommands: ["GET", "SET", "INCR", "DEL", "RPUSH", "BLPOP", "MULTI", "WATCH", "SUBSCRIBE", "PUBLISH", "EXISTS"]',
    prefix: "m:",
    scripts: false,
  },
];

const CLIENTS: Array<{ name: string; open: (port: number) => Promise<Client> }> = [
  { name: "node-redis 6 (defaults: RESP3)", open: (port) => nodeRedis(createClient6, `redis://127.0.0.1:${port}`, {}) },
  { name: "node-redis 6 (RESP: 2)", open: (port) => nodeRedis(createClient6, `redis://127.0.0.1:${port}`, { RESP: 2 }) },
  { name: "node-redis 4", open: (port) => nodeRedis(createClient4 as unknown as typeof createClient6, `redis://127.0.0.1:${port}`, {}) },
  { name: "ioredis", open: (port) => ioredis(port) },
];

for (const shape of SHAPES) {
  describe(`RESP clients on a route with ${shape.name}`, () => {
    let s: RedisRoute;
    beforeAll(async () => {
      s = await startRedisRoute(shape.yaml, { resp: true });
    });
    afterAll(() => s?.stop());

    for (const { name, open } of CLIENTS) {
      it(`${name}: connect, pipeline, MULTI/EXEC, WATCH, pub/sub, blocking pop${shape.scripts ? ", scripts" : ""}`, async () => {
        const tag = name.replace(/\W+/g, "");
        const c = await open(s.resp);
        try {
          expect(await c.set(`${tag}:k`, "v")).toBe("OK");
          expect(await c.get(`${tag}:k`)).toBe("v");
          expect((await s.redis.cli("GET", `${shape.prefix}${tag}:k`)).trim()).toBe("v");

          const keys = Array.from({ length: PIPELINE / 2 }, (_, i) => `${tag}:p${i}`);
          const values = await c.pipeline(keys);
          expect(values).toHaveLength(keys.length);
          expect(values.every((v, i) => v === keys[i])).toBe(true);

          expect((await c.transaction(`${tag}:n`)).map(Number)).toEqual([1, 2]);

          expect(await c.watched(`${tag}:w`, () => c.set(`${tag}:w`, "theirs"))).toBe(false);
          expect(await c.get(`${tag}:w`)).toBe("theirs");
          expect(await c.watched(`${tag}:w2`, async () => undefined)).toBe(true);

          const got: string[] = [];
          await c.subscribe(`${tag}:ch`, (m) => got.push(m));
          expect(await c.publish(`${tag}:ch`, "hello")).toBe(1);
          for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
          expect(got).toEqual(["hello"]);

          const popped = c.blpop(`${tag}:q`);
          await new Promise((r) => setTimeout(r, 100));
          await c.rpush(`${tag}:q`, "job");
          expect(await popped).toBe("job");

          if (shape.scripts) {
            expect(await c.evalScript()).toBe("OK");
            expect((await s.redis.cli("GET", "script:k")).trim()).toBe("s");
          } else await expect(c.evalScript()).rejects.toThrow(/not allowed/);
        } finally {
          await c.close();
        }
      }, 60_000);
    }

    it("redis-cli: plain, -3, and --pipe with 100,000 commands gets 100,000 replies", async () => {
      const cli = (...args: string[]) => run("redis-cli", ["-p", String(s.resp), ...args], undefined, 60_000);
      expect((await cli("SET", "cli:k", "v")).trim()).toBe("OK");
      expect((await cli("-3", "GET", "cli:k")).trim()).toBe("v");
      expect((await cli("-3", "HELLO", "3")).trim()).toContain("proto");
      const wire = Buffer.concat(Array.from({ length: 100_000 }, (_, i) => encodeCommand(["SET", `pipe:${i % 1000}`, String(i)])));
      const out = await run("redis-cli", ["-p", String(s.resp), "--pipe"], wire, 120_000);
      expect(out).toContain("errors: 0, replies: 100000");
      expect((await s.redis.cli("GET", `${shape.prefix}pipe:999`)).trim()).toBe("99999");
      if (!shape.prefix) {
        const scanned = (await cli("--scan", "--pattern", "pipe:*")).trim().split("\n");
        expect(new Set(scanned).size).toBe(1000);
      }
    }, 180_000);
  });
}
