/**
 * Output buffer limits on the Redis HTTP API's server-sent events: a subscriber that never reads is
 * disconnected past limits.redis.output.hard at once, or above soft for softFor; logged, counted in
 * attache_client_disconnects_total{route,reason}, and its Redis subscription goes with it.
 */
import { Socket } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";

/** A subscriber that sends its request and then never reads a byte. */
function neverReading(port: number, path: string): Socket {
  const socket = new Socket();
  socket.connect(port, "127.0.0.1", () => {
    socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
    socket.pause();
  });
  socket.on("error", () => {});
  return socket;
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function disconnects(s: RedisRoute, reason: string): Promise<number> {
  const text = await (await fetch(`${s.attache.adminUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`attache_client_disconnects_total{route="/cache",reason="${reason}"}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

const numsub = async (direct: Redis, channel: string) => Number(((await direct.pubsub("NUMSUB", channel)) as [string, number])[1]);

/** Publish `size`-byte messages every `everyMs` until `done()` (at most `max` of them). */
async function publishUntil(
  direct: Redis,
  channel: string,
  size: number,
  everyMs: number,
  max: number,
  done: () => Promise<boolean>,
): Promise<number> {
  const message = "m".repeat(size);
  for (let i = 0; i < max; i++) {
    await direct.publish(channel, message);
    if (i % 4 === 3 && (await done())) return i + 1;
    if (everyMs) await new Promise((r) => setTimeout(r, everyMs));
  }
  return max;
}

for (const mode of ["hard", "soft"] as const) {
  describe(`SSE subscriber that never reads: the ${mode} limit`, () => {
    let s: RedisRoute;
    let direct: Redis;
    beforeAll(async () => {
      const output = mode === "hard" ? "{ hard: 1mb, soft: 0, softFor: 60s }" : "{ hard: 0, soft: 512kb, softFor: 300ms }";
      s = await startRedisRoute("commands: [SUBSCRIBE, PUBLISH]", { rootExtra: `limits: { redis: { output: ${output} } }` });
      direct = new Redis({ port: s.redis.port, password: s.redis.password });
    });
    afterAll(async () => {
      direct?.disconnect();
      await s?.stop();
    });

    it(`is disconnected, counted as output_${mode}_limit, and its subscription ends; a reading subscriber is not`, async () => {
      const port = Number(new URL(s.attache.url).port);
      const lazy = neverReading(port, "/cache/subscribe/flood");
      const reader = await fetch(`${s.base}/subscribe/flood`);
      const body = reader.body!.getReader();
      let received = 0;
      let readerCut = false;
      const reading = (async () => {
        for (;;) {
          const { value, done } = await body.read();
          if (done) return;
          received += value.length;
        }
      })().catch(() => (readerCut = true));
      expect(
        await until(
          () => numsub(direct, "flood"),
          (n) => n === 2,
        ),
      ).toBe(2);
      const reason = `output_${mode}_limit`;
      const other = mode === "hard" ? "output_soft_limit" : "output_hard_limit";
      // The registry is this process's: other tests' routes named /cache count there too.
      const [before, otherBefore] = [await disconnects(s, reason), await disconnects(s, other)];
      // Hard: fast and large; soft: slow enough that the backlog stays between the limits for a while.
      const sent =
        mode === "hard"
          ? await publishUntil(direct, "flood", 256 * 1024, 0, 400, async () => (await numsub(direct, "flood")) < 2)
          : await publishUntil(direct, "flood", 32 * 1024, 5, 4000, async () => (await numsub(direct, "flood")) < 2);
      expect(
        await until(
          () => numsub(direct, "flood"),
          (n) => n === 1,
        ),
      ).toBe(1);
      expect(sent).toBeLessThan(mode === "hard" ? 400 : 4000);
      expect(await disconnects(s, reason)).toBe(before + 1);
      expect(await disconnects(s, other)).toBe(otherBefore);
      // The reader kept up and is still subscribed.
      expect(received).toBeGreaterThan(0);
      expect(readerCut).toBe(false);
      await body.cancel();
      await reading;
      lazy.destroy();
    });
  });
}
