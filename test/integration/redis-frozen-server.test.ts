/**
 * A standalone Redis that stops answering without closing its connections (SIGSTOP: a crash or a
 * partition in practice). The health check resets the connection instead of leaving the route on
 * it; the breaker, opened by the timeouts, closes as soon as the connection is ready again rather
 * than after its (long) resetTimeout; /routes says since when and why the connection is down.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisRoute, type RedisRoute } from "../harness/redis-route.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a redis route whose server freezes", () => {
  let s: RedisRoute;
  beforeAll(async () => {
    s = await startRedisRoute("", {
      routeExtra:
        "    timeout: 1s\n    pool: { connectTimeout: 1s }\n    circuitBreaker: { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeout: 60s }",
    });
  });
  afterAll(async () => {
    s?.redis.resume();
    await s?.stop();
  });

  it("resets the frozen connection, refuses with the cause, and serves again (breaker closed) once Redis answers", async () => {
    expect((await fetch(`${s.base}/k`, { method: "PUT", body: "v" })).status).toBe(204);
    s.redis.pause();
    const codes = new Set<string>();
    const routes = async () => JSON.stringify(await (await fetch(`${s.attache.adminUrl}/routes`)).json());
    // Timeouts first (they count and open the breaker), then the health check resets the connection.
    const end = Date.now() + 10_000;
    while (Date.now() < end && !(codes.has("circuit_open") && /"downCause":"no (answer|ready)/.test(await routes()))) {
      const res = await fetch(`${s.base}/k`);
      expect(res.status).toBeGreaterThanOrEqual(500);
      codes.add(res.headers.get("x-attache-error") ?? "");
    }
    expect(codes.has("upstream_timeout")).toBe(true);
    expect(codes.has("circuit_open")).toBe(true);
    expect(await routes()).toMatch(/"downSince":"[^"]+","downCause":"no (answer to PING within|ready answer within)/);

    s.redis.resume();
    // The breaker's resetTimeout is 60 s: only the connection being ready again can close it this soon.
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      await sleep(100);
      status = (await fetch(`${s.base}/k`)).status;
    }
    expect(status).toBe(200);
    expect(await routes()).toContain('"state":"closed"');
  }, 30_000);
});
