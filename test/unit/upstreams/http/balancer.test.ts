import { afterEach, describe, expect, it } from "vitest";
import { StaticSource } from "../../../../src/discovery/static.js";
import { Balancer, type BalanceMode, type Slot } from "../../../../src/upstreams/http/balancer.js";
import { EndpointHealth, type OutlierConfig } from "../../../../src/upstreams/http/outlier-detector.js";

const made: Balancer[] = [];
afterEach(() => {
  for (const b of made.splice(0)) b.close();
});

function balancer(n: number, mode: BalanceMode = "round-robin", outlier?: OutlierConfig): Balancer {
  const urls = Array.from({ length: n }, (_, i) => `http://10.0.0.${i + 1}:80`);
  const b = new Balancer(`/unit-${made.length}`, new StaticSource(urls), mode, outlier);
  made.push(b);
  return b;
}

const host = (s: Slot | undefined) => s?.endpoint.host;

describe("Balancer", () => {
  it("round-robins over the endpoints", () => {
    const b = balancer(3);
    expect([1, 2, 3, 4, 5, 6].map(() => host(b.pick()))).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  });

  it("prefers endpoints this request has not tried yet", () => {
    for (const mode of ["round-robin", "random", "least-request"] as const) {
      const b = balancer(2, mode);
      for (let i = 0; i < 20; i++) {
        const first = b.pick()!;
        expect(b.pick(new Set([first]))).not.toBe(first);
      }
    }
  });

  it("least-request picks the endpoint with the fewest requests in flight", () => {
    const b = balancer(3, "least-request");
    const [a, c] = [b.pick()!, b.pick()!];
    a.inflight = 5;
    c.inflight = 2;
    const third = b.pick()!;
    expect(third.inflight).toBe(0);
    third.inflight = 9;
    expect(b.pick()).toBe(c);
  });

  it("random stays within the endpoints", () => {
    const b = balancer(3, "random");
    const seen = new Set(Array.from({ length: 60 }, () => host(b.pick())));
    expect([...seen].sort()).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  });

  it("skips ejected endpoints, but never ejects beyond maxEjectionPercent", () => {
    const b = balancer(4, "round-robin", { consecutiveFailures: 2, ejectionTime: 10_000, maxEjectionPercent: 50 });
    const slots = [b.pick()!, b.pick()!, b.pick()!, b.pick()!];
    for (const s of slots) for (let i = 0; i < 2; i++) b.report(s, "connect-failure");
    const healthy = b.describe().filter((e) => e.healthy);
    expect(healthy).toHaveLength(2);
    const picked = new Set(Array.from({ length: 8 }, () => b.pick()));
    expect(picked.size).toBe(2);
    for (const s of picked) expect(s!.health.isEjected(Date.now())).toBe(false);
  });

  it("never ejects the last endpoint", () => {
    const b = balancer(2, "round-robin", { consecutiveFailures: 1, ejectionTime: 10_000, maxEjectionPercent: 100 });
    const [x, y] = [b.pick()!, b.pick()!];
    b.report(x, "reset");
    b.report(y, "reset");
    expect(b.describe().filter((e) => e.healthy)).toHaveLength(1);
  });

  it("without outlierDetection nothing is ejected", () => {
    const b = balancer(2);
    const x = b.pick()!;
    for (let i = 0; i < 50; i++) b.report(x, 503);
    expect(b.describe().every((e) => e.healthy)).toBe(true);
  });
});

describe("EndpointHealth", () => {
  const config = { consecutiveFailures: 3, ejectionTime: 1000, maxEjectionPercent: 100 };

  it("ejects after N failures in a row; a success resets the count; 4xx is not a failure", () => {
    const h = new EndpointHealth();
    const now = 1_000_000;
    expect(h.report(503, config, () => true, now)).toBe(false);
    expect(h.report(404, config, () => true, now)).toBe(false);
    expect(h.consecutiveFailures).toBe(0);
    expect(h.report("success", config, () => true, now)).toBe(false);
    h.report("reset", config, () => true, now);
    h.report("timeout", config, () => true, now);
    expect(h.report("connect-failure", config, () => true, now)).toBe(true);
    expect(h.isEjected(now + 999)).toBe(true);
    expect(h.isEjected(now + 1000)).toBe(false);
  });

  it("ejects for longer on each repeat ejection", () => {
    const h = new EndpointHealth();
    let now = 0;
    for (let i = 0; i < 3; i++) h.report(503, config, () => true, now);
    expect(h.ejectedUntil - now).toBe(1000);
    now = 5000;
    for (let i = 0; i < 3; i++) h.report(503, config, () => true, now);
    expect(h.ejectedUntil - now).toBe(2000);
    expect(h.describe(now)).toMatchObject({ healthy: false, ejections: 2 });
  });

  it("does not eject when the balancer's floor says no", () => {
    const h = new EndpointHealth();
    for (let i = 0; i < 5; i++) expect(h.report(503, config, () => false, 0)).toBe(false);
    expect(h.isEjected(0)).toBe(false);
  });
});
