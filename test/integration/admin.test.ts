/** The admin listener: health, readiness, metrics, /routes and /config shapes. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { startOrigin, type Origin } from "../harness/origin.js";

/** The members of a /routes entry this file reads on its own (the rest through toMatchObject). */
interface RouteEntry {
  prefix: string;
  owner: string | null;
  source: string;
}

let origin: Origin;
let attache: AttacheUnderTest;

beforeAll(async () => {
  origin = await startOrigin();
  attache = await startAttache({
    root: `admin: 127.0.0.1:0
log: { level: error, access: false }
include: [routes.d/*.yaml]
owners: { payments: [/payments] }
routes:
  - { prefix: /root-route, upstream: { http: { endpoints: ["${origin.url}"] } } }
`,
    files: {
      "routes.d/payments.yaml": `owner: payments
routes:
  - prefix: /payments
    name: payments
    methods: [GET, POST]
    deny: [{ path: "^/internal" }]
    timeout: 5s
    retry: { attempts: 2, on: [503] }
    circuitBreaker: { volumeThreshold: 10, errorThresholdPercentage: 40, resetTimeout: 3s, maxConcurrent: 50 }
    upstream: { http: { endpoints: ["${origin.url}"], outlierDetection: { consecutiveFailures: 3, ejectionTime: 5s } } }
`,
    },
  });
});

afterAll(async () => {
  await attache?.stop();
  await origin?.close();
});

describe("admin listener", () => {
  it("/healthz and /readyz answer 200 when serving", async () => {
    const health = await send(attache.adminUrl, "/healthz");
    expect(health.status).toBe(200);
    const ready = await send(attache.adminUrl, "/readyz");
    expect(ready.status).toBe(200);
  });

  it("answers the probes without express exactly as express answers them (same body, type, length, ETag)", async () => {
    // "/readyz" and "/healthz" are answered before express is loaded; a query or a conditional
    // request goes through express, whose routing ignores the query and whose answer must match.
    const pick = (a: Awaited<ReturnType<typeof send>>) => ({
      status: a.status,
      text: a.text,
      type: a.headers["content-type"],
      length: a.headers["content-length"],
      etag: a.headers.etag,
      poweredBy: a.headers["x-powered-by"],
    });
    for (const path of ["/healthz", "/readyz", "/READYZ/"]) {
      const plain = await send(attache.adminUrl, path);
      const viaExpress = await send(attache.adminUrl, `${path}?via=express`);
      expect(pick(plain)).toEqual(pick(viaExpress));
      expect(plain.headers.etag).toMatch(/^W\/"/);
      // express answers the conditional request: the ETag it checks is the one the plain answer gave.
      const again = await send(attache.adminUrl, path, { headers: { "if-none-match": plain.headers.etag! } });
      expect(again.status).toBe(304);
    }
    expect((await send(attache.adminUrl, "/healthz", { headers: { host: "evil.example" } })).status).toBe(403);
  });

  it("/routes lists every route with prefix, owner, source file, upstream, policies, breaker state and endpoint health", async () => {
    await send(attache.url, "/payments/x");
    const answer = await send<{ generation: number; routes: RouteEntry[] }>(attache.adminUrl, "/routes");
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toMatch(/^application\/json/);
    expect(answer.json.generation).toBe(1);
    const routes = answer.json.routes;
    expect(routes.map((r) => r.prefix).sort()).toEqual(["/payments", "/root-route"]);
    const payments = routes.find((r) => r.prefix === "/payments");
    expect(payments).toMatchObject({
      name: "payments",
      prefix: "/payments",
      owner: "payments",
      upstream: { kind: "http", endpoints: [{ endpoint: origin.url, healthy: true, consecutiveFailures: 0, ejections: 0 }] },
      policies: {
        stripPrefix: true,
        methods: ["GET", "POST"],
        deny: ["^/internal"],
        timeout: expect.any(String),
        retry: { attempts: 2, on: [503] },
        circuitBreaker: { errorThresholdPercentage: 40, volumeThreshold: 10, maxConcurrent: 50 },
      },
      inflight: 0,
      breaker: { state: "closed", enabled: true, window: { fires: 1, successes: 1, failures: 0 } },
    });
    expect(payments?.source).toMatch(/routes\.d\/payments\.yaml:\d+$/);
    const root = routes.find((r) => r.prefix === "/root-route");
    expect(root?.owner).toBeNull();
    expect(root?.source).toMatch(/attache\.yaml:\d+$/);
  });

  it("/config shows the generation, when it was loaded, its source files and no error", async () => {
    const answer = await send<{ loadedAt: string; rootFile: string; sources: string[] }>(attache.adminUrl, "/config");
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ generation: 1, lastError: null });
    expect(new Date(answer.json.loadedAt).toString()).not.toBe("Invalid Date");
    expect(answer.json.rootFile).toMatch(/attache\.yaml$/);
    expect(answer.json.sources).toEqual(
      expect.arrayContaining([expect.stringMatching(/attache\.yaml$/), expect.stringMatching(/routes\.d\/payments\.yaml$/)]),
    );
  });

  it("/metrics is Prometheus text with every attache_* metric and the default process metrics", async () => {
    await send(attache.url, "/payments/y");
    const answer = await send(attache.adminUrl, "/metrics");
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toMatch(/^text\/plain/);
    for (const name of [
      "attache_requests_total",
      "attache_request_duration_seconds",
      "attache_upstream_errors_total",
      "attache_retries_total",
      "attache_circuit_state",
      "attache_circuit_rejections_total",
      "attache_endpoints_healthy",
      "attache_redis_commands_total",
      "attache_config_reloads_total",
      "attache_inflight_requests",
      "attache_build_info",
      "attache_config_generation",
      "attache_config_last_reload_successful",
      "attache_config_last_reload_success_timestamp_seconds",
      "attache_config_rejected_files",
    ]) {
      expect(answer.text).toContain(`# TYPE ${name} `);
    }
    expect(answer.text).toMatch(/attache_requests_total\{route="payments",method="GET",code="200",error=""\} \d+/);
    expect(answer.text).toMatch(/attache_request_duration_seconds_bucket\{le="[^"]+",route="payments"\} \d+/);
    expect(answer.text).toContain("process_resident_memory_bytes");
    expect(answer.text).toContain("nodejs_eventloop_lag_seconds");
  });

  it("/readyz turns 503 at once when the drain starts, while requests are still served", async () => {
    const local = await startAttache(`admin: 127.0.0.1:0
log: { level: error, access: false }
shutdown: { idleGrace: 300ms, drainTimeout: 5s }
routes: [{ prefix: /d, upstream: { http: { endpoints: ["${origin.url}"] } } }]`);
    try {
      const drained = local.running.drain();
      const ready = await send(local.adminUrl, "/readyz");
      expect(ready.status).toBe(503);
      expect((await send(local.adminUrl, "/healthz")).status).toBe(200);
      expect((await send(local.url, "/d/x")).status).toBe(200);
      await drained;
    } finally {
      await local.stop();
    }
  });

  it("answers 404 for anything else", async () => {
    expect((await send(attache.adminUrl, "/nope")).status).toBe(404);
  });
});
