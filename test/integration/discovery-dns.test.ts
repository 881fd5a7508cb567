/**
 * DNS discovery against a local DNS server whose answers the tests change: the source's own rules
 * (failed lookup, empty answer, SRV, servers by name), then traffic through attache while endpoints
 * come and go.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DnsSource } from "../../src/discovery/dns.js";
import { configureLog } from "../../src/observability/log.js";
import { registry } from "../../src/observability/registry.js";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { startDnsServer, type FakeDns } from "../harness/dns-server.js";
import { closeServer } from "../harness/listen.js";
import { startOriginFleet, type OriginFleet } from "../harness/origin.js";

let dns: FakeDns;
beforeAll(async () => {
  configureLog({ level: "error", format: "json" }); // the sources warn on purpose here
  dns = await startDnsServer();
});
afterAll(async () => {
  await dns.close();
});

function ids(source: DnsSource): string[] {
  return source.endpoints().map((e) => e.id);
}

async function errorsCounted(route: string, reason: string): Promise<number> {
  const metric = (await registry.getSingleMetric("attache_upstream_errors_total")!.get()).values;
  return metric.find((v) => v.labels.route === route && v.labels.reason === reason)?.value ?? 0;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("DnsSource", () => {
  let source: DnsSource | undefined;
  afterEach(() => source?.close());

  it("keeps the last good set when a lookup fails, and reports it in describe() and the metric", async () => {
    dns.set("fail.test", { A: ["127.0.0.2"] });
    source = new DnsSource({ route: "dns-fail", name: "fail.test", port: 80, interval: 50, servers: [dns.address] });
    await source.start();
    expect(ids(source)).toEqual(["http://127.0.0.2"]);
    const firstChange = source.describe().lastChange;

    dns.set("fail.test", { rcode: 2 }); // SERVFAIL
    await until(() => (source!.describe().lastLookup as { status: string }).status === "failed", "a failed lookup");
    expect(ids(source)).toEqual(["http://127.0.0.2"]);
    expect(source.describe()).toMatchObject({ stale: true, lastChange: firstChange, lastLookup: { status: "failed" } });
    expect(await errorsCounted("dns-fail", "discovery_failed")).toBeGreaterThan(0);

    dns.set("fail.test", { A: ["127.0.0.3"] });
    await until(() => ids(source!)[0] === "http://127.0.0.3", "recovery");
    expect(source.describe()).toMatchObject({ lastLookup: { status: "ok" } });
    expect(source.describe().stale).toBeUndefined();
  });

  it("reports an empty answer (no records, or NXDOMAIN) and keeps the last good set", async () => {
    dns.set("empty.test", { A: ["127.0.0.2"], AAAA: ["::1"] });
    source = new DnsSource({ route: "dns-empty", name: "empty.test", port: 80, interval: 50, servers: [dns.address] });
    await source.start();
    let changes = 0;
    source.on("change", () => changes++);

    dns.set("empty.test", {});
    await until(() => (source!.describe().lastLookup as { status: string }).status === "empty", "an empty answer");
    dns.remove("empty.test");
    await dns.nextQuery("empty.test");
    await dns.nextQuery("empty.test");
    expect(source.describe()).toMatchObject({ stale: true, lastLookup: { status: "empty", message: "no A/AAAA records for empty.test" } });
    expect(ids(source)).toEqual(["http://127.0.0.2", "http://[::1]"]);
    expect(changes).toBe(0);
    expect(await errorsCounted("dns-empty", "discovery_empty")).toBeGreaterThan(0);
  });

  it("starts with no endpoints when the first answer is empty, and picks them up when they appear", async () => {
    source = new DnsSource({ route: "dns-late", name: "late.test", port: 80, interval: 50, servers: [dns.address] });
    await source.start();
    expect(ids(source)).toEqual([]);
    expect(source.describe()).toMatchObject({ lastLookup: { status: "empty" }, lastChange: null });
    dns.set("late.test", { A: ["127.0.0.9"] });
    await new Promise((resolve) => source!.once("change", resolve));
    expect(ids(source)).toEqual(["http://127.0.0.9"]);
  });

  it("does not emit change when a re-resolve finds the same set in another order", async () => {
    dns.set("order.test", { A: ["127.0.0.2", "127.0.0.3"] });
    source = new DnsSource({ route: "dns-order", name: "order.test", port: 80, interval: 50, servers: [dns.address] });
    await source.start();
    let changes = 0;
    source.on("change", () => changes++);
    dns.set("order.test", { A: ["127.0.0.3", "127.0.0.2"] });
    await dns.nextQuery("order.test");
    await dns.nextQuery("order.test");
    expect(changes).toBe(0);
  });

  it("uses the lowest SRV priority and takes IPv6 targets", async () => {
    dns.set("_http._tcp.prio.test", {
      SRV: [
        { target: "a.prio.test", port: 81, priority: 10 },
        { target: "b.prio.test", port: 82, priority: 20 },
      ],
    });
    dns.set("a.prio.test", { AAAA: ["::1"] });
    dns.set("b.prio.test", { A: ["127.0.0.3"] });
    source = new DnsSource({ route: "dns-srv", name: "_http._tcp.prio.test", interval: 50, servers: [dns.address] });
    await source.start();
    expect(ids(source)).toEqual(["http://[::1]:81"]);
    expect(source.describe()).toMatchObject({ records: "SRV" });
  });

  it("accepts a server given by host name", async () => {
    dns.set("byname.test", { A: ["127.0.0.5"] });
    source = new DnsSource({ route: "dns-byname", name: "byname.test", port: 80, servers: [`localhost:${dns.port}`] });
    await source.start();
    expect(ids(source)).toEqual(["http://127.0.0.5"]);
  });
});

describe("a route with discovery.dns", () => {
  let fleet: OriginFleet;
  let origins: OriginFleet["origins"];
  let port = 0;
  let attache: AttacheUnderTest | undefined;

  beforeAll(async () => {
    fleet = await startOriginFleet(["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    ({ origins, port } = fleet);
  });
  afterAll(async () => {
    await attache?.stop();
    await fleet.close();
  });

  async function routesView(): Promise<{ endpoints: Array<{ endpoint: string }>; source: Record<string, unknown> }> {
    const body = (await (await fetch(`${attache!.adminUrl}/routes`)).json()) as {
      routes: Array<{ name: string; upstream: { endpoints: Array<{ endpoint: string }>; source: Record<string, unknown> } }>;
    };
    return body.routes.find((r) => r.name === "orders")!.upstream;
  }

  async function endpointsHealthy(): Promise<number | undefined> {
    const text = await (await fetch(`${attache!.adminUrl}/metrics`)).text();
    const m = /^attache_endpoints_healthy\{route="orders"\} (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  }

  it("keeps traffic flowing, without a failed request, while endpoints are added and gracefully removed", async () => {
    dns.set("orders.shop.test", { A: ["127.0.0.2"] });
    attache = await startAttache(`
routes:
  - prefix: /orders
    name: orders
    upstream:
      http:
        discovery:
          dns: { name: orders.shop.test, port: ${port}, interval: 50ms, servers: ["${dns.address}"] }
`);
    // The very first request waits for the first resolution instead of failing.
    const first = await fetch(`${attache.url}/orders/x`);
    expect(first.status).toBe(200);
    expect(await first.text()).toBe("127.0.0.2");

    const failures: string[] = [];
    const seen = new Map<string, number>();
    let sent = 0;
    let ok = 0;
    let stop = false;
    const worker = async () => {
      // Bounded: stops when the scenario ends, or after 3000 requests in all.
      while (!stop && sent < 3000) {
        sent++;
        try {
          const res = await fetch(`${attache!.url}/orders/item`);
          const text = await res.text();
          if (res.status !== 200) failures.push(`${res.status} ${text}`);
          else {
            ok++;
            seen.set(text, (seen.get(text) ?? 0) + 1);
          }
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    // Progress, not time: each step lets some requests through first (the machine may be slow).
    const flowing = async () => {
      const mark = ok;
      await until(() => ok >= mark + 10 || sent >= 3000, "requests to flow");
    };

    const showsOnly = async (hosts: string[]) => {
      const want = hosts.map((h) => `http://${h}:${port}`).sort();
      await until(
        async () => JSON.stringify((await routesView()).endpoints.map((e) => e.endpoint).sort()) === JSON.stringify(want),
        `endpoints ${want.join(",")}`,
      );
    };

    // Scale up: 1 → 3.
    dns.set("orders.shop.test", { A: ["127.0.0.2", "127.0.0.3", "127.0.0.4"] });
    await showsOnly(["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    expect(await endpointsHealthy()).toBe(3);
    await until(() => origins.get("127.0.0.4")!.hits > 0 && origins.get("127.0.0.3")!.hits > 0, "traffic to the new endpoints");

    // Graceful scale down: out of DNS first; once attache has noticed, the origin stops.
    dns.set("orders.shop.test", { A: ["127.0.0.3", "127.0.0.4"] });
    await showsOnly(["127.0.0.3", "127.0.0.4"]);
    await closeServer(origins.get("127.0.0.2")!.server);
    await flowing();
    expect(await endpointsHealthy()).toBe(2);

    // The resolver fails: the last good set stays and keeps serving.
    dns.set("orders.shop.test", { rcode: 2 });
    await until(
      async () => ((await routesView()).source.lastLookup as { status: string }).status === "failed",
      "a failed lookup in /routes",
    );
    const before = origins.get("127.0.0.4")!.hits;
    await flowing();
    expect(origins.get("127.0.0.4")!.hits).toBeGreaterThan(before);

    dns.set("orders.shop.test", { A: ["127.0.0.4"] });
    await showsOnly(["127.0.0.4"]);
    await closeServer(origins.get("127.0.0.3")!.server);
    await flowing();

    stop = true;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(seen.get("127.0.0.4")).toBeGreaterThan(0);

    const view = await routesView();
    expect(view.source).toMatchObject({
      source: "dns",
      name: "orders.shop.test",
      port,
      records: "A/AAAA",
      endpoints: [`http://127.0.0.4:${port}`],
    });
    expect(Date.parse(view.source.lastChange as string)).toBeGreaterThan(Date.now() - 10_000);
  });
});
