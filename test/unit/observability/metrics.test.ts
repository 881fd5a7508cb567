/** Per-request metrics are tallied as plain numbers and handed to prom-client when scraped. */
import { describe, expect, it } from "vitest";
import { registry } from "../../../src/observability/registry.js";
import { forgetRoute, routeMeter } from "../../../src/observability/route-meter.js";

async function value(name: string, labels: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(" ").pop());
}

describe("route meters", () => {
  it("count requests and in-flight per route name, across the Route objects of successive generations", async () => {
    const before = routeMeter("/m1");
    const after = routeMeter("/m1");
    expect(await value("attache_inflight_requests", 'route="/m1"')).toBeUndefined();
    const releaseBefore = before.inflight.acquire();
    after.inflight.acquire();
    before.count("GET", 200);
    after.count("GET", 200);
    after.count("POST", 503);
    expect(await value("attache_inflight_requests", 'route="/m1"')).toBe(2);
    expect(await value("attache_requests_total", 'route="/m1",method="GET",code="200",error=""')).toBe(2);
    releaseBefore();
    after.count("GET", 200);
    expect(await value("attache_inflight_requests", 'route="/m1"')).toBe(1);
    expect(await value("attache_requests_total", 'route="/m1",method="GET",code="200",error=""')).toBe(3);
    expect(await value("attache_requests_total", 'route="/m1",method="POST",code="503",error=""')).toBe(1);
    after.count("GET", 503, "circuit_open");
    expect(await value("attache_requests_total", 'route="/m1",method="GET",code="503",error="circuit_open"')).toBe(1);
  });

  it("forgetting a route drops its in-flight series but keeps every request it answered", async () => {
    const meter = routeMeter("/m2");
    const release = meter.inflight.acquire();
    meter.count("GET", 200);
    forgetRoute("/m2");
    release();
    expect(await value("attache_inflight_requests", 'route="/m2"')).toBeUndefined();
    expect(await value("attache_requests_total", 'route="/m2",method="GET",code="200",error=""')).toBe(1);
  });

  it("render the duration histogram as Prometheus expects: cumulative buckets, +Inf, sum and count, per route name", async () => {
    const first = routeMeter("/m3");
    const next = routeMeter("/m3");
    first.observeDuration(0.0004); // le 0.001
    next.observeDuration(0.001); // le 0.001: a bound is inclusive
    next.observeDuration(0.02); // le 0.025
    next.observeDuration(60); // above every bound
    const text = await registry.metrics();
    expect(text).toContain("# TYPE attache_request_duration_seconds histogram");
    const bucket = (le: string) => value("attache_request_duration_seconds_bucket", `le="${le}",route="/m3"`);
    expect(await bucket("0.001")).toBe(2);
    expect(await bucket("0.01")).toBe(2);
    expect(await bucket("0.025")).toBe(3);
    expect(await bucket("10")).toBe(3);
    expect(await bucket("+Inf")).toBe(4);
    expect(await value("attache_request_duration_seconds_count", 'route="/m3"')).toBe(4);
    expect(await value("attache_request_duration_seconds_sum", 'route="/m3"')).toBeCloseTo(60.0214, 6);
    forgetRoute("/m3");
    expect(await value("attache_request_duration_seconds_count", 'route="/m3"')).toBeUndefined();
  });
});
