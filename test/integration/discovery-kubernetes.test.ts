/**
 * Kubernetes EndpointSlice discovery against the fake API server (HTTPS, own CA, bearer token from a
 * rotating service-account volume): readiness, named ports, slices added and deleted, watch resumed
 * from its resourceVersion, relist on 410 Gone, failures keeping the last good set, and traffic through
 * attache while a Service scales.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { KubernetesEndpointSliceSource, type KubernetesEndpointSliceOptions } from "../../src/discovery/kubernetes-endpointslices.js";
import { configureLog } from "../../src/observability/log.js";
import { registry } from "../../src/observability/registry.js";
import { openKubeApiConnection } from "../../src/kubernetes-api/connection.js";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { churn, FakeService } from "../harness/fake-endpointslices.js";
import { startFakeKubeApi, status, type FakeKubeApi } from "../harness/fake-kube-api.js";
import { closeServer } from "../harness/listen.js";
import { startOriginFleet, type OriginFleet } from "../harness/origin.js";

let api: FakeKubeApi;
beforeAll(async () => {
  configureLog({ level: "error", format: "json" }); // the sources warn on purpose here
  api = await startFakeKubeApi({ namespace: "shop" });
});
afterAll(async () => {
  await api?.close();
});

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function errorsCounted(route: string, reason: string): Promise<number> {
  const metric = (await registry.getSingleMetric("attache_upstream_errors_total")!.get()).values;
  return metric.find((v) => v.labels.route === route && v.labels.reason === reason)?.value ?? 0;
}

const HTTP = [{ name: "http", port: 8080 }];

describe("KubernetesEndpointSliceSource", () => {
  let source: KubernetesEndpointSliceSource | undefined;
  afterEach(() => source?.close());

  function watch(service: string, more: Partial<KubernetesEndpointSliceOptions> = {}): KubernetesEndpointSliceSource {
    source = new KubernetesEndpointSliceSource({
      route: `k8s-${service}`,
      service,
      namespace: "shop",
      port: "http",
      connect: () => openKubeApiConnection({ server: api.url, tokenFile: api.volume.tokenFile, caFile: api.certs.caFile }),
      ...more,
    });
    return source;
  }
  const ids = () => source!.endpoints().map((e) => e.id);
  const changed = () => new Promise((resolve) => source!.once("change", resolve));

  it("uses only ready endpoints, follows add / not-ready / remove, and slices coming and going", async () => {
    const svc = new FakeService(api, "ready", "shop");
    svc.slice("ready-1", [{ ip: "10.1.0.1" }, { ip: "10.1.0.2", ready: false }, { ip: "10.1.0.3", ready: null }], HTTP);
    watch("ready");
    await source!.start();
    expect(ids()).toEqual(["http://10.1.0.1:8080", "http://10.1.0.3:8080"]);

    let next = changed();
    svc.slice("ready-1", [{ ip: "10.1.0.1", ready: false, terminating: true }, { ip: "10.1.0.2" }, { ip: "10.1.0.3" }], HTTP);
    await next;
    expect(ids()).toEqual(["http://10.1.0.2:8080", "http://10.1.0.3:8080"]);

    next = changed();
    svc.slice("ready-2", [{ ip: "fd00::7" }], HTTP, "IPv6");
    await next;
    expect(ids()).toEqual(["http://10.1.0.2:8080", "http://10.1.0.3:8080", "http://[fd00::7]:8080"]);

    next = changed();
    svc.deleteSlice("ready-1");
    await next;
    expect(ids()).toEqual(["http://[fd00::7]:8080"]);
    expect(source!.describe()).toMatchObject({
      source: "kubernetes",
      service: "ready",
      namespace: "shop",
      port: "http",
      slices: 1,
      watch: "watching",
      lists: 1,
    });
  });

  it("resolves the named port per slice, takes numbers as they are, and reports slices without the name", async () => {
    const svc = new FakeService(api, "ports", "shop");
    svc.slice(
      "ports-1",
      [{ ip: "10.2.0.1" }],
      [
        { name: "metrics", port: 9090 },
        { name: "http", port: 8080 },
      ],
    );
    svc.slice("ports-2", [{ ip: "10.2.0.2" }], [{ name: "http", port: 8081 }]);
    svc.slice("ports-3", [{ ip: "10.2.0.3" }], [{ name: "grpc", port: 9000 }]);
    watch("ports");
    await source!.start();
    expect(ids()).toEqual(["http://10.2.0.1:8080", "http://10.2.0.2:8081"]);
    expect(source!.describe().portNotFoundIn).toEqual(["ports-3"]);
    source!.close();

    watch("ports", { port: 7000 });
    await source!.start();
    expect(ids()).toEqual(["http://10.2.0.1:7000", "http://10.2.0.2:7000", "http://10.2.0.3:7000"]);
  });

  it("resumes each watch from the last resourceVersion, and relists on 410 Gone", async () => {
    const svc = new FakeService(api, "resume", "shop");
    svc.slice("resume-1", [{ ip: "10.3.0.1" }], HTTP);
    watch("resume", { watchTimeoutSeconds: 1 });
    await source!.start();
    const watchUrls = () =>
      api.requests
        .filter((r) => r.url.includes("service-name%3Dresume") && r.url.includes("watch=true"))
        .map((r) => new URL(r.url, "https://x").searchParams.get("resourceVersion"));

    let next = changed();
    const applied = svc.slice("resume-1", [{ ip: "10.3.0.2" }], HTTP);
    await next;
    // The server ends the watch after 1 s; the next one starts from the change just seen, not from scratch.
    await until(() => watchUrls().length >= 2, "a second watch", 4_000);
    expect(watchUrls()[1]).toBe(applied.metadata.resourceVersion);
    expect(source!.describe()).toMatchObject({ lists: 1 });

    // Keep the next watches failing while the service changes and the history moves on: the watch
    // that finally gets through asks for a version that is gone (ERROR 410), so attache relists.
    api.inject(/service-name%3Dresume.*watch=true/, { status: 500 });
    await until(() => source!.describe().watch === "backoff", "the watch failing", 4_000);
    // The fake runs in this process: nothing reaches the source between these lines.
    svc.slice("resume-1", [{ ip: "10.3.0.3" }], HTTP);
    churn(api);
    next = changed();
    await next;
    expect(ids()).toEqual(["http://10.3.0.3:8080"]);
    expect(source!.describe()).toMatchObject({ lists: 2, relistsOnGone: 1 });

    // A 410 as the response status (not as a watch event) relists too.
    api.inject(/service-name%3Dresume.*watch=true/, { status: 410, body: status(410, "Expired", "too old resource version") });
    await until(() => source!.describe().relistsOnGone === 2, "a relist after a 410 response", 8_000);
    await until(() => source!.describe().watch === "watching", "watching again");
  });

  it("keeps the last good set while the API fails, reports it, and recovers", async () => {
    const svc = new FakeService(api, "flaky", "shop");
    svc.slice("flaky-1", [{ ip: "10.4.0.1" }], HTTP);
    watch("flaky", { watchTimeoutSeconds: 1 });
    await source!.start();
    api.inject(/service-name%3Dflaky/, { status: 503, body: status(503, "ServiceUnavailable", "etcd is sad") }, 3);
    await until(
      () => (source!.describe().lastError as { message: string } | null)?.message.includes("etcd is sad") ?? false,
      "a reported failure",
      6_000,
    );
    expect(ids()).toEqual(["http://10.4.0.1:8080"]);
    expect(await errorsCounted("k8s-flaky", "discovery_failed")).toBeGreaterThan(0);
    const next = changed();
    svc.slice("flaky-1", [{ ip: "10.4.0.2" }], HTTP);
    await next;
    expect(ids()).toEqual(["http://10.4.0.2:8080"]);
  });

  it("starts with nothing when the first list fails, and keeps trying", async () => {
    const svc = new FakeService(api, "late", "shop");
    svc.slice("late-1", [{ ip: "10.5.0.1" }], HTTP);
    api.inject(/service-name%3Dlate/, {
      status: 403,
      body: status(
        403,
        "Forbidden",
        'endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:shop:app" cannot list resource "endpointslices"',
      ),
    });
    watch("late");
    await source!.start();
    expect(ids()).toEqual([]);
    expect((source!.describe().lastError as { message: string }).message).toMatch(/403.*forbidden/);
    await changed();
    expect(ids()).toEqual(["http://10.5.0.1:8080"]);
  });

  it("follows a rotated service-account token", async () => {
    const svc = new FakeService(api, "rotate", "shop");
    svc.slice("rotate-1", [{ ip: "10.6.0.1" }], HTTP);
    watch("rotate", { watchTimeoutSeconds: 1 });
    await source!.start();
    const before = api.requests.length;
    api.volume.rotate("token-rotated");
    try {
      await until(
        () => api.requests.slice(before).some((r) => r.url.includes("service-name%3Drotate") && r.status === 200 && !r.staleToken),
        "a watch with the new token",
        5_000,
      );
      const next = changed();
      svc.slice("rotate-1", [{ ip: "10.6.0.2" }], HTTP);
      await next;
      expect(ids()).toEqual(["http://10.6.0.2:8080"]);
    } finally {
      api.volume.rotate("token-0");
    }
  });
});

describe("a route with discovery.kubernetes", () => {
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

  it("keeps traffic flowing while the Service scales, with no failed request on a graceful removal", async () => {
    const svc = new FakeService(api, "orders", "shop");
    const pods = (list: Array<[string, boolean]>) =>
      svc.slice(
        "orders-abc",
        list.map(([ip, ready]) => ({ ip, ready })),
        [{ name: "http", port }],
      );
    pods([["127.0.0.2", true]]);
    attache = await startAttache(`
routes:
  - prefix: /orders
    name: orders
    upstream:
      http:
        discovery:
          kubernetes: { service: orders, namespace: shop, port: http, server: "${api.url}", tokenFile: "${api.volume.tokenFile}", caFile: "${api.certs.caFile}" }
`);
    const routesView = async () => {
      const body = (await (await fetch(`${attache!.adminUrl}/routes`)).json()) as {
        routes: Array<{ name: string; upstream: { endpoints: Array<{ endpoint: string }>; source: Record<string, unknown> } }>;
      };
      return body.routes.find((r) => r.name === "orders")!.upstream;
    };
    const showsOnly = async (hosts: string[]) => {
      const want = hosts.map((h) => `http://${h}:${port}`).sort();
      await until(
        async () => JSON.stringify((await routesView()).endpoints.map((e) => e.endpoint).sort()) === JSON.stringify(want),
        `endpoints ${want.join(",")}`,
      );
    };

    expect(await (await fetch(`${attache.url}/orders/x`)).text()).toBe("127.0.0.2");

    const failures: string[] = [];
    let sent = 0;
    let ok = 0;
    let stop = false;
    const worker = async () => {
      while (!stop && sent < 3000) {
        sent++;
        try {
          const res = await fetch(`${attache!.url}/orders/item`);
          const text = await res.text();
          if (res.status !== 200) failures.push(`${res.status} ${text}`);
          else ok++;
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

    // Scale up: two more pods, one of them not ready yet.
    pods([
      ["127.0.0.2", true],
      ["127.0.0.3", true],
      ["127.0.0.4", false],
    ]);
    await showsOnly(["127.0.0.2", "127.0.0.3"]);
    pods([
      ["127.0.0.2", true],
      ["127.0.0.3", true],
      ["127.0.0.4", true],
    ]);
    await showsOnly(["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    await until(() => origins.get("127.0.0.4")!.hits > 0, "traffic to the new pod");

    // Graceful scale down, as the kubelet does it: the pod turns not-ready (terminating), attache
    // drops it, then the process stops; later the endpoint leaves the slice.
    pods([
      ["127.0.0.2", false],
      ["127.0.0.3", true],
      ["127.0.0.4", true],
    ]);
    await showsOnly(["127.0.0.3", "127.0.0.4"]);
    await closeServer(origins.get("127.0.0.2")!.server);
    await flowing();
    pods([
      ["127.0.0.3", true],
      ["127.0.0.4", true],
    ]);
    await flowing();

    stop = true;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    const view = await routesView();
    expect(view.source).toMatchObject({
      source: "kubernetes",
      service: "orders",
      namespace: "shop",
      port: "http",
      watch: "watching",
      credentials: "explicit",
      server: api.url,
    });
    expect(typeof view.source.lastChange).toBe("string");
  });
});
