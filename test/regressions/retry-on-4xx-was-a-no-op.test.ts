/**
 * Regression: `retry: { on: [429] }` never retried, because every 4xx was classified as success
 * before `on` was looked at. Now any status named in `on` is retried, after the upstream's
 * Retry-After (seconds or an HTTP date) when that fits in the route's deadline; a 429 still never
 * counts against the breaker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { startFakeKubeApi, type FakeKubeApi } from "../harness/fake-kube-api.js";
import { startOrigin, type Origin } from "../harness/origin.js";

let fake: FakeKubeApi;
let origin: Origin;
let attache: AttacheUnderTest;
let throttled = 0;

beforeAll(async () => {
  fake = await startFakeKubeApi();
  origin = await startOrigin();
  origin.route("/busy", (_req, res) => {
    if (throttled-- > 0) {
      res.writeHead(429, { "retry-after": new Date(Date.now() + 1000).toUTCString() });
      return void res.end("slow down");
    }
    res.end("ok");
  });
  const k8s = `kubernetes: { server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}" }`;
  attache = await startAttache(`
routes:
  - { prefix: /k8s, timeout: 5s, retry: { attempts: 3, on: [429] }, circuitBreaker: { volumeThreshold: 2 }, upstream: { ${k8s} } }
  - { prefix: /short, timeout: 1s, retry: { attempts: 3, on: [429] }, upstream: { ${k8s} } }
  - { prefix: /svc, timeout: 5s, retry: { attempts: 2, on: [429] }, upstream: { http: { endpoints: ["${origin.url}"] } } }
`);
});

afterAll(async () => {
  await attache?.stop();
  await fake?.close();
  await origin?.close();
});

const pods = "/api/v1/namespaces/default/pods/web-1";

describe("retry.on names a 4xx status", () => {
  it("APF's 429 is retried after its Retry-After seconds, and the client sees the answer", async () => {
    fake.throttle(/pods\/web-1$/, 1, 2);
    const before = fake.requests.length;
    const started = Date.now();
    const res = await send(attache.url, `/k8s${pods}`);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ kind: "Pod", metadata: { name: "web-1" } });
    expect(fake.requests.slice(before).map((r) => r.status)).toEqual([429, 429, 200]);
    // Both waits were the server's second, not the 25 ms back-off (a lower bound: load cannot break it).
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  });

  it("when the tries run out, the last 429 is relayed and the breaker has counted nothing", async () => {
    fake.throttle(/pods\/web-1$/, 1, 3);
    const res = await send(attache.url, `/k8s${pods}`);
    expect(res.status).toBe(429);
    expect(res.headers["retry-after"]).toBe("1");
    const routes = (await (await fetch(`${attache.adminUrl}/routes`)).json()) as {
      routes: Array<{ prefix: string; breaker: { state: string; window: { failures: number } } }>;
    };
    expect(routes.routes.find((r) => r.prefix === "/k8s")!.breaker).toMatchObject({ state: "closed", window: { failures: 0 } });
  });

  it("a Retry-After past the route's deadline is not waited for: the 429 comes back at once", async () => {
    fake.throttle(/pods\/web-1$/, 30, 1);
    const before = fake.requests.length;
    const res = await send(attache.url, `/short${pods}`);
    expect(res.status).toBe(429);
    expect(res.headers["retry-after"]).toBe("30");
    expect(res.headers["x-attache-error"]).toBeUndefined();
    expect(fake.requests.length - before).toBe(1);
  });

  it("an HTTP-date Retry-After is honoured on an http route", async () => {
    throttled = 1;
    const before = origin.requests;
    const res = await send(attache.url, "/svc/busy");
    expect(res.status).toBe(200);
    expect(res.text).toBe("ok");
    expect(origin.requests - before).toBe(2);
  });
});
