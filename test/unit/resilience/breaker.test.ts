/**
 * The breaker's own bookkeeping: opossum is made on first use, and one shared timer per bucket length
 * rotates every breaker's window (a big route table must not cost a timer per route).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ResolvedCircuitBreaker } from "../../../src/config/validate.js";
import { Breaker } from "../../../src/resilience/breaker.js";

const config: ResolvedCircuitBreaker = {
  enabled: true,
  errorThresholdPercentage: 50,
  volumeThreshold: 100,
  resetTimeout: 10_000,
  rollingCountTimeout: 1_000,
  rollingCountBuckets: 10,
};
const failed = (status: number) => status >= 500;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Breaker", () => {
  it("costs no timer until its first request, and shows a closed breaker with an empty window", () => {
    const b = new Breaker("/idle", config);
    expect(vi.getTimerCount()).toBe(0);
    expect(b.state).toBe("closed");
    expect(b.describe()).toMatchObject({ state: "closed", window: { fires: 0, successes: 0, failures: 0, rejects: 0 } });
    b.close();
  });

  it("rotates the windows of many breakers with one timer, and stops it when the last one closes", async () => {
    const breakers = Array.from({ length: 50 }, (_, i) => new Breaker(`/r${i}`, config));
    for (const b of breakers) await b.run(async () => 503, failed);
    expect(vi.getTimerCount()).toBe(1);
    expect(breakers[7]!.describe()).toMatchObject({ window: { fires: 1, failures: 1 } });
    // 10 buckets of 100 ms: after the whole window has turned over, the failure is forgotten.
    vi.advanceTimersByTime(1_000);
    expect(breakers[7]!.describe()).toMatchObject({ window: { fires: 0, failures: 0 } });
    for (const b of breakers) b.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("refuses once closed, used or not", async () => {
    for (const used of [true, false]) {
      const b = new Breaker("/closed", config);
      if (used) await b.run(async () => 200, failed);
      b.close();
      await expect(b.run(async () => 200, failed)).rejects.toMatchObject({ code: "ESHUTDOWN" });
      expect(vi.getTimerCount()).toBe(0);
    }
  });
});
