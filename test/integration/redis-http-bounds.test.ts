/**
 * The Redis HTTP API's bounds over real sockets: a body that never ends gets the route timeout's
 * answer, a 3 MB body of a million arguments is refused early with little memory and no stall (attache
 * in its own process, so that its RSS is its own), and
 * limits.redis.maxArgs / maxBulkLength bound commands, pipelines and PUT values.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, writeConfig, type AttacheUnderTest } from "../harness/attache.js";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";
import { startRedis, type RedisServer } from "../harness/redis-server.js";
import { spawnAttache, type SpawnedAttache } from "../harness/spawn-attache.js";

const post = (url: string, body: unknown) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Send `head` and part of a body on a raw socket, then nothing; resolves with what came back once the server closes (or after `maxMs`). */
function stall(port: number, head: string, part: string, maxMs: number): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = new Socket();
    let text = "";
    const timer = setTimeout(() => finish(false), maxMs);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed, ms: Date.now() - started });
    };
    socket.on("data", (c: Buffer) => (text += c.toString()));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    socket.connect(port, "127.0.0.1", () => socket.write(head + part));
  });
}

/** POST `body` with node:http (the server may answer before reading it all); resolves with status and text. */
function postRaw(url: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json", "content-length": body.length } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, text }));
      res.on("error", () => resolve({ status: res.statusCode!, text }));
    });
    // The server cuts the upload once it has refused it: an EPIPE here is expected.
    req.on("error", (err) => reject(err));
    req.end(body);
  });
}

describe("Redis HTTP API: default limits, route timeout 500ms", () => {
  let s: RedisRoute;
  let port: number;
  beforeAll(async () => {
    s = await startRedisRoute('keyPrefix: "b:"', { routeExtra: "    timeout: 500ms" });
    port = Number(new URL(s.attache.url).port);
  });
  afterAll(() => s?.stop());

  it("a JSON body that never ends gets 504 upstream_timeout at the route timeout and the connection is closed", async () => {
    const head = `POST /cache HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n`;
    const r = await stall(port, head, '{"command": ["SET", "slow", "', 10_000);
    expect(r.text).toMatch(/^HTTP\/1\.1 504 /);
    expect(r.text).toContain("x-attache-error: upstream_timeout");
    expect(r.text).toContain("did not arrive within the route timeout");
    expect(r.closed).toBe(true);
    expect((await s.redis.cli("EXISTS", "b:slow")).trim()).toBe("0");
  });

  it("a chunked PUT body that never ends: the same", async () => {
    const head = `PUT /cache/slowput HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n`;
    const r = await stall(port, head, "5\r\nhello\r\n", 10_000);
    expect(r.text).toMatch(/^HTTP\/1\.1 504 /);
    expect(r.closed).toBe(true);
    expect((await s.redis.cli("EXISTS", "b:slowput")).trim()).toBe("0");
  });
});

describe("Redis HTTP API, attache in its own process: a million arguments, a subscriber that never reads", () => {
  let redis: RedisServer;
  let attache: SpawnedAttache;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), "attache-bounds-"));
    writeConfig(
      dir,
      [
        "log: { level: info, access: false }",
        "limits: { redis: { output: { hard: 4mb, soft: 1mb, softFor: 5s } } }",
        "routes:",
        "  - prefix: /cache",
        "    upstream:",
        "      redis:",
        `        url: ${redis.url}`,
        "        passwordFile: secrets/redis-password",
        "        commands: [SET, SUBSCRIBE]",
      ].join("\n"),
      { "secrets/redis-password": redis.password },
    );
    attache = await spawnAttache(dir);
  });
  afterAll(async () => {
    attache?.kill();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The child's resident set, from /proc. */
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${attache.child.pid}/status`, "utf8"))![1]) * 1024;

  it("a 3 MB body of a million arguments is refused early (413): RSS grows less than 20 MiB and /healthz keeps answering", async () => {
    const base = `${attache.url}/cache`;
    // The first requests warm up what any request costs once (JIT, buffers).
    await post(base, { command: ["SET", "warm", "1"] });
    await postRaw(base, Buffer.from(`{"command":["SET"${',""'.repeat(200_000)}]}`)).catch(() => undefined);
    for (const body of [
      Buffer.from(`{"command":["SET"${',""'.repeat(1_000_000)}]}`),
      Buffer.from(`{"pipeline":[["PING"]${",[1]".repeat(750_000)}]}`),
    ]) {
      const before = rss();
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rss())), 2);
      // /healthz, asked over and over while the body is being refused: every one answered.
      let healthy = 0;
      let stop = false;
      const probe = (async () => {
        while (!stop) if ((await fetch(`${attache.adminUrl}/healthz`)).status === 200) healthy++;
      })();
      const res = await postRaw(base, body).catch((err: Error) => ({ status: 0, text: err.message }));
      stop = true;
      await probe;
      clearInterval(sampler);
      peak = Math.max(peak, rss());
      if (res.status !== 0) {
        expect(res.status).toBe(413);
        expect(res.text).toContain("limits.redis.maxArgs");
      } else expect(res.text).toMatch(/EPIPE|ECONNRESET|socket hang up/);
      expect(healthy).toBeGreaterThan(0);
      expect(peak - before).toBeLessThan(20 * 1024 * 1024);
    }
    expect(await (await post(base, { command: ["SET", "after", "1"] })).json()).toEqual({ result: "OK" });
  });

  it("an SSE subscriber that never reads, sent 60 MB, is cut at the 4 MB hard limit: RSS stays bounded (under 40 MiB more)", async () => {
    const direct = new Redis({ port: redis.port, password: redis.password });
    const socket = new Socket();
    const message = "m".repeat(256 * 1024);
    try {
      // Warm-up: a subscriber that reads takes 30 MB first, so that what is measured is the one that
      // does not read, not the heap's first growth under traffic.
      const warm = await fetch(`${attache.url}/cache/subscribe/warm`);
      const reader = warm.body!.getReader();
      let got = 0;
      const reading = (async () => {
        while (got < 120 * 256 * 1024) {
          const { value, done } = await reader.read();
          if (done) break;
          got += value.length;
        }
      })();
      for (let i = 0; i < 200 && Number(((await direct.pubsub("NUMSUB", "warm")) as [string, number])[1]) === 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      // At most 2 MB ahead of the reader: on a loaded machine a reader that falls 4 MB behind is cut, as designed.
      for (let i = 0; i < 120; i++) {
        await direct.publish("warm", message);
        if (i % 8 === 7) for (let w = 0; w < 250 && got < (i - 7) * message.length; w++) await new Promise((r) => setTimeout(r, 20));
      }
      await reading;
      await reader.cancel();

      socket.on("error", () => {});
      socket.connect(Number(new URL(attache.url).port), "127.0.0.1", () => {
        socket.write("GET /cache/subscribe/flood HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
        socket.pause();
      });
      const subscribers = async () => Number(((await direct.pubsub("NUMSUB", "flood")) as [string, number])[1]);
      for (let i = 0; i < 200 && (await subscribers()) === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await subscribers()).toBe(1);
      const before = rss();
      let peak = before;
      for (let i = 0; i < 240; i++) {
        await direct.publish("flood", message);
        if (i % 8 === 0) peak = Math.max(peak, rss());
      }
      for (let i = 0; i < 200 && (await subscribers()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
      peak = Math.max(peak, rss());
      expect(await subscribers()).toBe(0);
      // The 4 MB held for the client, plus the copies of messages in flight (parser, event) until the
      // garbage collector runs: bounded by the limit, not by the 60 MB sent (without a limit, RSS grows with it).
      expect(peak - before).toBeLessThan(40 * 1024 * 1024);
      expect(attache.stdout()).toContain("SSE subscriber disconnected: output buffer limit");
      expect(await (await fetch(`${attache.adminUrl}/metrics`)).text()).toContain(
        'attache_client_disconnects_total{route="/cache",reason="output_hard_limit"} 1',
      );
    } finally {
      socket.destroy();
      direct.disconnect();
    }
  });
});

describe("Redis HTTP API: limits.redis.maxArgs 10, maxBulkLength 1kb", () => {
  let s: RedisRoute;
  beforeAll(async () => {
    s = await startRedisRoute('keyPrefix: "l:"', { rootExtra: "limits: { redis: { maxArgs: 10, maxBulkLength: 1kb } }" });
  });
  afterAll(() => s?.stop());

  it("a command or a pipeline past maxArgs is 413 and nothing of it runs", async () => {
    const ok = await post(s.base, { command: ["MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e"] });
    expect(ok.status).toBe(200);
    const many = await post(s.base, { command: ["MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"] });
    expect(many.status).toBe(413);
    expect(many.headers.get("x-attache-error")).toBe("body_too_large");
    const pipeline = await post(s.base, {
      pipeline: [
        ["SET", "p1", "1"],
        ["SET", "p2", "2"],
        ["SET", "p3", "3"],
      ],
    });
    expect(pipeline.status).toBe(413);
    expect((await s.redis.cli("EXISTS", "l:p1", "l:p2", "l:p3")).trim()).toBe("0");
  });

  it("an argument or a PUT value past maxBulkLength is 413", async () => {
    const big = "x".repeat(1025);
    expect((await post(s.base, { command: ["SET", "big", big] })).status).toBe(413);
    expect((await post(s.base, { command: ["SET", "big", { base64: Buffer.alloc(1025).toString("base64") }] })).status).toBe(413);
    expect((await fetch(`${s.base}/big`, { method: "PUT", body: big })).status).toBe(413);
    expect((await fetch(`${s.base}/big`, { method: "PUT", body: big.slice(1) })).status).toBe(204);
    expect((await s.redis.cli("STRLEN", "l:big")).trim()).toBe("1024");
  });
});

describe("Redis HTTP API: limits changed by a reload", () => {
  let redis: RedisServer;
  let attache: AttacheUnderTest;
  const root = (maxArgs: number) =>
    [
      `limits: { redis: { maxArgs: ${maxArgs} } }`,
      "routes:",
      "  - prefix: /cache",
      "    upstream:",
      "      redis:",
      `        url: ${redis.url}`,
      "        passwordFile: secrets/redis-password",
    ].join("\n");
  beforeAll(async () => {
    redis = await startRedis();
    attache = await startAttache({ root: root(4), files: { "secrets/redis-password": redis.password } });
  });
  afterAll(async () => {
    await attache?.stop();
    await redis?.stop();
  });

  it("apply to the redis route at once, though the route itself did not change", async () => {
    const command = { command: ["MSET", "a", "1", "b", "2"] };
    expect((await post(`${attache.url}/cache`, command)).status).toBe(413);
    writeConfig(attache.dir, root(8), { "secrets/redis-password": redis.password });
    expect(await attache.running.reload()).toMatchObject({ applied: true });
    expect((await post(`${attache.url}/cache`, command)).status).toBe(200);
  });
});
