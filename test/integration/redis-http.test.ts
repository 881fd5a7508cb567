/** The redis HTTP API end to end: real redis-server, attache in-process, fetch as the client. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";

type Stack = RedisRoute;
const startStack = (redisYaml: string, routeExtra = "") => startRedisRoute(redisYaml, { routeExtra });

const post = (url: string, body: unknown) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("redis HTTP API", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack(
      'keyPrefix: "team:"\ncommands: [GET, SET, DEL, MGET, HSET, HGETALL, INCR, LPUSH, LRANGE, EXPIRE, TTL, MULTI, EXEC, BLPOP, PUBLISH, SUBSCRIBE, ECHO]',
    );
  });
  afterAll(() => s?.stop());

  it("PUT, GET, DELETE a binary value; the key lives under the prefix in Redis", async () => {
    const value = Buffer.from([0, 1, 2, 255, 254, 13, 10, 0]);
    expect((await fetch(`${s.base}/bin:1`, { method: "PUT", body: value })).status).toBe(204);
    const got = await fetch(`${s.base}/bin:1`);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await got.arrayBuffer()).equals(value)).toBe(true);
    expect((await s.redis.cli("STRLEN", "team:bin:1")).trim()).toBe("8");
    expect((await s.redis.cli("EXISTS", "bin:1")).trim()).toBe("0");
    expect((await fetch(`${s.base}/bin:1`, { method: "DELETE" })).status).toBe(204);
    expect((await fetch(`${s.base}/bin:1`, { method: "DELETE" })).status).toBe(404);
    expect((await fetch(`${s.base}/bin:1`)).status).toBe(404);
  });

  it("percent-encoded keys are decoded to bytes", async () => {
    expect((await fetch(`${s.base}/hello%20world`, { method: "PUT", body: "x" })).status).toBe(204);
    expect((await s.redis.cli("GET", "team:hello world")).trim()).toBe("x");
  });

  it("PUT ?ttl= sets an expiry; a bad ttl is 400 bad_request", async () => {
    expect((await fetch(`${s.base}/session?ttl=120`, { method: "PUT", body: "s" })).status).toBe(204);
    const ttl = Number((await s.redis.cli("TTL", "team:session")).trim());
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
    const bad = await fetch(`${s.base}/session?ttl=-1`, { method: "PUT", body: "s" });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("x-attache-error")).toBe("bad_request");
  });

  it("POST command: JSON keeps Redis types (integers, nulls, arrays, errors, binary as base64)", async () => {
    const result = async (command: unknown[]) => (await (await post(s.base, { command })).json()) as Record<string, unknown>;
    expect(await result(["HSET", "h", "f", "v", "n", 42])).toEqual({ result: 2 });
    expect(await result(["HGETALL", "h"])).toEqual({ result: ["f", "v", "n", "42"] });
    expect(await result(["GET", "missing"])).toEqual({ result: null });
    expect(await result(["INCR", "h"])).toEqual({ error: "WRONGTYPE Operation against a key holding the wrong kind of value" });
    expect(await result(["SET", "raw", { base64: Buffer.from([0xff, 0xfe]).toString("base64") }])).toEqual({ result: "OK" });
    expect(await result(["GET", "raw"])).toEqual({ result: { base64: "//4=" } });
    expect(await result(["ECHO", "héllo"])).toEqual({ result: "héllo" });
  });

  it("POST pipeline: results in order; a transaction runs on its own connection", async () => {
    const res = await post(s.base, {
      pipeline: [["SET", "p", "1"], ["INCR", "p"], ["MGET", "p", "nope"], ["MULTI"], ["INCR", "p"], ["INCR", "h"], ["EXEC"]],
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      results: [
        { result: "OK" },
        { result: 2 },
        { result: ["2", null] },
        { result: "OK" },
        { result: "QUEUED" },
        { result: "QUEUED" },
        { result: [3, { error: "WRONGTYPE Operation against a key holding the wrong kind of value" }] },
      ],
    });
    expect((await s.redis.cli("GET", "team:p")).trim()).toBe("3");
  });

  it("BLPOP over HTTP uses a dedicated connection and strips the prefix from the key it names", async () => {
    const waiting = post(s.base, { command: ["BLPOP", "q", 5] });
    await new Promise((r) => setTimeout(r, 100));
    expect(await (await post(s.base, { command: ["LPUSH", "q", "job"] })).json()).toEqual({ result: 1 });
    expect(await (await waiting).json()).toEqual({ result: ["q", "job"] });
  });

  it("403 command_not_allowed for commands outside the allowlist; nothing of the pipeline runs", async () => {
    const res = await post(s.base, { pipeline: [["SET", "never", "1"], ["FLUSHALL"]] });
    expect(res.status).toBe(403);
    expect(res.headers.get("x-attache-error")).toBe("command_not_allowed");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("command_not_allowed");
    expect((await s.redis.cli("EXISTS", "team:never")).trim()).toBe("0");
  });

  it("400 bad_request on malformed input", async () => {
    for (const body of [
      "{not json",
      "[]",
      '{"command": []}',
      '{"command": ["GET", true]}',
      '{"pipeline": "x"}',
      '{"command": ["GET","a"], "pipeline": [["GET","b"]]}',
    ]) {
      const res = await post(s.base, body);
      expect(res.status, body).toBe(400);
      expect(res.headers.get("x-attache-error")).toBe("bad_request");
    }
    expect((await post(s.base, { command: ["SUBSCRIBE", "x"] })).status).toBe(400);
  });

  it("GET /subscribe/{channel} streams messages as server-sent events and drops its connection when the client leaves", async () => {
    const controller = new AbortController();
    const res = await fetch(`${s.base}/subscribe/news`, { signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
    };
    await readUntil("subscribed");
    expect(await (await post(s.base, { command: ["PUBLISH", "news", "hello\nworld"] })).json()).toEqual({ result: 1 });
    await readUntil("\n\n");
    await readUntil("hello");
    expect(text).toContain(`event: message\ndata: ${JSON.stringify({ channel: "news", message: "hello\nworld" })}\n\n`);
    controller.abort();
    let subscribers = "1";
    for (let i = 0; i < 50 && subscribers !== "0"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      subscribers = (await s.redis.cli("PUBSUB", "NUMSUB", "news")).trim().split("\n")[1]!;
    }
    expect(subscribers).toBe("0");
  });

  it("counts commands in attache_redis_commands_total", async () => {
    await fetch(`${s.base}/counted`);
    const metrics = await (await fetch(`${s.attache.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/attache_redis_commands_total\{route="\/cache",command="get",result="ok"\} \d+/);
    expect(metrics).toMatch(/attache_redis_commands_total\{route="\/cache",command="flushall",result="refused"\} \d+/);
  });
});

describe("redis HTTP API: outage and recovery", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack(
      "",
      "    timeout: 3s\n    circuitBreaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeout: 500ms }",
    );
  });
  afterAll(() => s?.stop());

  it("fails fast with 502/503 while Redis is down and recovers without a restart of attache", async () => {
    expect((await fetch(`${s.base}/k`, { method: "PUT", body: "v" })).status).toBe(204);
    await s.redis.kill();
    const codes = new Set<string | null>();
    let message = "";
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${s.base}/k`);
      expect(res.status).toBe(502);
      codes.add(res.headers.get("x-attache-error"));
      message = ((await res.json()) as { error: { message: string } }).error.message;
    }
    // Refusals while the connection is down say so, with the cause, and do not open the breaker:
    // it would go on refusing after Redis is back.
    expect([...codes]).toEqual(["upstream_unreachable"]);
    expect(message).toMatch(/connection down since .*(ECONNREFUSED|closed)/);
    await s.redis.restart();
    let status = 0;
    for (let i = 0; i < 100 && status !== 404; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await fetch(`${s.base}/k`)).status;
    }
    expect(status).toBe(404); // a fresh server: the key is gone, the route answers
  });
});

describe("redis HTTP API: password rotation", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack("");
  });
  afterAll(() => s?.stop());

  it("re-reads passwordFile and uses the new secret on the live connection and on reconnect", async () => {
    expect((await fetch(`${s.base}/r`, { method: "PUT", body: "1" })).status).toBe(204);
    const next = "rotated-secret";
    await s.redis.cli("CONFIG", "SET", "requirepass", next);
    s.redis.password = next;
    writeFileSync(join(s.attache.dir, "secrets/redis-password"), next);
    // Wait for attache to pick the file up (its watcher), then cut every connection: the reconnect needs the new secret.
    const changedAt = async () => /"passwordChangedAt":"([^"]+)"/.exec(await (await fetch(`${s.attache.adminUrl}/routes`)).text())?.[1];
    const before = await changedAt();
    expect(before).toBeDefined();
    for (let i = 0; i < 50 && (await changedAt()) === before; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await changedAt()).not.toBe(before);
    await new Promise((r) => setTimeout(r, 500)); // the rotation settles 100 ms after the file changed (client/credentials.ts)
    expect(Number((await s.redis.cli("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")).trim())).toBeGreaterThan(0);
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await fetch(`${s.base}/r`)).status;
    }
    expect(status).toBe(200);
  });
});
