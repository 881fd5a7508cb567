/**
 * The resilience stack without sockets: attempts are functions, outcomes are numbers. Durations are
 * short and real (opossum keeps its own timers); no assertion is about speed.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ResolvedRoute } from "../../../src/config/validate.js";
import { AttacheError } from "../../../src/errors.js";
import { Resilience, type ExchangeOptions } from "../../../src/resilience/policy-stack.js";
import type { DeadlineSignal } from "../../../src/resilience/deadline.js";

const opened: Resilience[] = [];
afterEach(() => {
  for (const r of opened.splice(0)) r.close();
});

let n = 0;
function stack(
  overrides: {
    timeout?: number;
    retry?: Partial<NonNullable<ResolvedRoute["retry"]>>;
    circuitBreaker?: Partial<ResolvedRoute["circuitBreaker"]>;
  } = {},
): Resilience {
  const route = {
    name: `/unit-${n++}`,
    timeout: overrides.timeout ?? 2000,
    retry: overrides.retry && {
      attempts: 3,
      on: ["connect-failure", "reset", 502, 503, 504],
      backoff: 1,
      maxBackoff: 5,
      ...overrides.retry,
    },
    circuitBreaker: {
      enabled: true,
      errorThresholdPercentage: 50,
      volumeThreshold: 4,
      resetTimeout: 200,
      rollingCountTimeout: 10_000,
      rollingCountBuckets: 10,
      ...overrides.circuitBreaker,
    },
  } as unknown as ResolvedRoute;
  const r = new Resilience(route);
  opened.push(r);
  return r;
}

const http: ExchangeOptions<number> = { retryable: true, streaming: false, outcome: (s) => (s >= 500 ? s : "success"), discard: () => {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function code(p: Promise<unknown>): Promise<string | number> {
  try {
    const v = await p;
    return typeof v === "number" ? v : "ok";
  } catch (err) {
    return (err as AttacheError).code ?? String(err);
  }
}

describe("breaker", () => {
  it("opens after volumeThreshold requests over the error ratio, counting 5xx results, then refuses without calling the upstream", async () => {
    const r = stack();
    let calls = 0;
    const fail = () =>
      code(
        r.run(async () => {
          calls++;
          return 503;
        }, http),
      );
    for (let i = 0; i < 3; i++) expect(await fail()).toBe(503);
    expect(r.breaker.state).toBe("closed"); // below volumeThreshold
    expect(await fail()).toBe(503);
    expect(r.breaker.state).toBe("open");
    expect(calls).toBe(4);
    let refusal: unknown;
    await r
      .run(async () => {
        calls++;
        return 200;
      }, http)
      .catch((err) => (refusal = err));
    expect(refusal).toBeInstanceOf(AttacheError);
    expect((refusal as AttacheError).code).toBe("circuit_open");
    expect((refusal as AttacheError).retryAfter).toBeGreaterThanOrEqual(1);
    expect(calls).toBe(4);
  });

  it("does not count 4xx (the app's business) nor stay under the ratio", async () => {
    const r = stack();
    for (let i = 0; i < 10; i++) await code(r.run(async () => 404, http));
    expect(r.breaker.state).toBe("closed");
    // 50% failures is not above errorThresholdPercentage 50.
    for (let i = 0; i < 10; i++) await code(r.run(async () => (i % 2 ? 500 : 200), http));
    expect(r.breaker.state).toBe("closed");
  });

  it("half-opens after resetTimeout, lets one probe through and closes on its success", async () => {
    const r = stack({ circuitBreaker: { resetTimeout: 150 } });
    for (let i = 0; i < 4; i++) await code(r.run(async () => 502, http));
    expect(r.breaker.state).toBe("open");
    await sleep(200);
    expect(r.breaker.state).toBe("half-open");
    let release!: () => void;
    const probe = r.run(() => new Promise<number>((resolve) => (release = () => resolve(200))), http);
    // While the probe is out, others are refused.
    expect(await code(r.run(async () => 200, http))).toBe("circuit_open");
    release();
    expect(await code(probe)).toBe(200);
    expect(r.breaker.state).toBe("closed");
  });

  it("re-opens when the half-open probe fails", async () => {
    const r = stack({ circuitBreaker: { resetTimeout: 100 } });
    for (let i = 0; i < 4; i++) await code(r.run(async () => 503, http));
    await sleep(150);
    expect(r.breaker.state).toBe("half-open");
    expect(await code(r.run(async () => 503, http))).toBe(503);
    expect(r.breaker.state).toBe("open");
  });

  it("a half-open probe whose client went away proves nothing: the breaker opens again", async () => {
    const r = stack({ circuitBreaker: { resetTimeout: 100 } });
    for (let i = 0; i < 4; i++) await code(r.run(async () => 503, http));
    await sleep(150);
    expect(r.breaker.state).toBe("half-open");
    const gone = Object.assign(new Error("client went away"), { code: "ERR_CLIENT_GONE" });
    await code(r.run(async () => Promise.reject(gone), http));
    expect(r.breaker.state).toBe("open");
  });

  it("counts network failures and deadlines, not a client that went away", async () => {
    const r = stack({ circuitBreaker: { volumeThreshold: 2 } });
    const gone = Object.assign(new Error("client went away"), { code: "ERR_CLIENT_GONE" });
    for (let i = 0; i < 5; i++) await code(r.run(async () => Promise.reject(gone), http));
    expect(r.breaker.state).toBe("closed");
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    // The filtered ones counted as successes in the window: 6 failures of 11 is above 50%.
    for (let i = 0; i < 6; i++) await code(r.run(async () => Promise.reject(refused), http));
    expect(r.breaker.state).toBe("open");
  });
});

describe("bulkhead", () => {
  it("admits exactly maxConcurrent; refusals are overloaded and never count as breaker failures", async () => {
    const r = stack({ circuitBreaker: { maxConcurrent: 2, volumeThreshold: 1, errorThresholdPercentage: 1 } });
    const releases: Array<() => void> = [];
    let started = 0;
    const held = () =>
      r.exchange(
        () =>
          new Promise<number>((resolve) => {
            started++;
            releases.push(() => resolve(200));
          }),
        http,
      );
    const a = held();
    const b = held();
    await sleep(10);
    expect(started).toBe(2);
    for (let i = 0; i < 5; i++) expect(await code(held())).toBe("overloaded");
    expect(started).toBe(2);
    for (const release of releases) release();
    for (const admitted of await Promise.all([a, b])) admitted.release();
    expect(r.bulkhead.active).toBe(0);
    expect(r.breaker.state).toBe("closed");
    expect((r.breaker.describe().window as { failures: number }).failures).toBe(0);
    expect(await code(r.run(async () => 200, http))).toBe(200);
  });

  it("holds the slot until release (the response body), not just until the headers", async () => {
    const r = stack({ circuitBreaker: { maxConcurrent: 1 } });
    const admitted = await r.exchange(async () => 200, http);
    expect(await code(r.exchange(async () => 200, http))).toBe("overloaded");
    admitted.release();
    admitted.release(); // idempotent
    expect(r.bulkhead.active).toBe(0);
  });
});

describe("retry", () => {
  it("retries a retryable 503 and returns the success; a non-retryable request gets one try", async () => {
    const r = stack({ retry: { attempts: 3, on: [503] } });
    let calls = 0;
    expect(await code(r.run(async () => (++calls === 1 ? 503 : 200), http))).toBe(200);
    expect(calls).toBe(2);
    calls = 0;
    expect(await code(r.run(async () => (++calls === 1 ? 503 : 200), { ...http, retryable: false }))).toBe(503);
    expect(calls).toBe(1);
  });

  it("only retries outcomes listed in `on`, and at most `attempts` times in all", async () => {
    const r = stack({ retry: { attempts: 3, on: [502] } });
    let calls = 0;
    expect(
      await code(
        r.run(async () => {
          calls++;
          return 503;
        }, http),
      ),
    ).toBe(503);
    expect(calls).toBe(1);
    calls = 0;
    expect(
      await code(
        r.run(async () => {
          calls++;
          return 502;
        }, http),
      ),
    ).toBe(502);
    expect(calls).toBe(3);
  });

  it("retries network failures it covers and rethrows the last error", async () => {
    const r = stack({ retry: { attempts: 2, on: ["connect-failure"] } });
    let calls = 0;
    const refused = Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
    expect(
      await code(
        r.run(async () => {
          calls++;
          return Promise.reject(refused);
        }, http),
      ),
    ).toBe("ECONNREFUSED");
    expect(calls).toBe(2);
  });

  it("counts a retried request once in the breaker, with its final outcome", async () => {
    const r = stack({ retry: { attempts: 3, on: [503] }, circuitBreaker: { volumeThreshold: 100 } });
    let calls = 0;
    await code(
      r.run(async () => {
        calls++;
        return 503;
      }, http),
    );
    expect(calls).toBe(3);
    const window = r.breaker.describe().window as { fires: number; failures: number };
    expect(window).toMatchObject({ fires: 1, failures: 1 });
    await code(r.run(async () => (++calls % 2 ? 503 : 200), http));
    expect(r.breaker.describe().window).toMatchObject({ fires: 2, failures: 1, successes: 1 });
  });

  it("stops at the deadline: the deadline bounds all attempts and back-off together", async () => {
    const r = stack({ timeout: 200, retry: { attempts: 10, on: [503], backoff: 1, maxBackoff: 1 } });
    let calls = 0;
    const result = await code(
      r.run(async () => {
        calls++;
        await sleep(60);
        return 503;
      }, http),
    );
    expect([503, "EDEADLINE"]).toContain(result);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(4);
  });

  it("honours an upstream Retry-After, but never past the deadline", async () => {
    const r = stack({ timeout: 300, retry: { attempts: 3, on: [503] } });
    let calls = 0;
    const result = await code(
      r.run(
        async () => {
          calls++;
          return 503;
        },
        { ...http, retryAfter: () => 5000 },
      ),
    );
    expect(result).toBe(503);
    expect(calls).toBe(1);
  });
});

describe("deadline", () => {
  it("aborts a hanging attempt with EDEADLINE, which the breaker counts", async () => {
    const r = stack({ timeout: 80, circuitBreaker: { volumeThreshold: 1 } });
    let aborted = false;
    const hang = (signal: DeadlineSignal) =>
      new Promise<number>((_, reject) =>
        signal.addEventListener("abort", () => {
          aborted = true;
          reject(signal.reason);
        }),
      );
    expect(await code(r.run(hang, http))).toBe("EDEADLINE");
    expect(aborted).toBe(true);
    expect(r.breaker.state).toBe("open");
  });

  it("keeps running after the headers for non-streaming exchanges, and stops for streaming ones", async () => {
    const r = stack({ timeout: 60 });
    const plain = await r.exchange(async () => 200, http);
    const streaming = await r.exchange(async () => 200, { ...http, streaming: true });
    await sleep(100);
    expect(plain.deadline.expired).toBe(true);
    expect(streaming.deadline.expired).toBe(false);
    plain.release();
    streaming.release();
  });
});

describe("retry on timeout", () => {
  /** An attempt that answers only when its signal allows: slow on the first try, quick after. */
  const slowThenQuick = (calls: { n: number }) => (signal: DeadlineSignal) =>
    new Promise<number>((resolve, reject) => {
      calls.n++;
      if (calls.n > 1) return resolve(200);
      signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true });
    });

  it("gives each try an equal share of the route timeout and retries a try that runs out", async () => {
    const r = stack({ timeout: 600, retry: { attempts: 3, on: ["timeout"] } });
    const calls = { n: 0 };
    expect(await code(r.run(slowThenQuick(calls), http))).toBe(200);
    expect(calls.n).toBe(2);
  });

  it("without timeout in `on`, the one try may use the whole deadline, and then it is upstream_timeout", async () => {
    const r = stack({ timeout: 300, retry: { attempts: 3, on: [503] } });
    const calls = { n: 0 };
    expect(await code(r.run(slowThenQuick(calls), http))).toBe("EDEADLINE");
    expect(calls.n).toBe(1);
  });
});
