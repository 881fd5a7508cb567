/**
 * Regression: on a kubernetes route, one failing part of the API server (an aggregated API answering
 * 503, a webhook answering 500) opened the breaker for the whole route, and ordinary `GET pods` got
 * 503 circuit_open. A Status body is the API server's verdict on one request; only an API server that
 * cannot be reached, or a gateway error without a Status, says the route is unhealthy.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { pod, startFakeKubeApi, status, type FakeKubeApi } from "../harness/fake-kube-api.js";

let fake: FakeKubeApi;
let attache: AttacheUnderTest;

const breaker = { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeout: "30s" };

beforeAll(async () => {
  fake = await startFakeKubeApi();
  const k8s = `kubernetes: { server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}" }`;
  attache = await startAttache(`
routes:
${["/agg", "/hook", "/lb"].map((prefix) => `  - { prefix: ${prefix}, circuitBreaker: ${JSON.stringify(breaker)}, upstream: { ${k8s} } }`).join("\n")}
`);
  fake.takeDown("metrics.k8s.io/v1beta1");
});

afterAll(async () => {
  await attache?.stop();
  await fake?.close();
});

async function breakerOf(prefix: string): Promise<{ state: string; window: { failures: number } }> {
  const routes = (await (await fetch(`${attache.adminUrl}/routes`)).json()) as {
    routes: Array<{ prefix: string; breaker: { state: string; window: { failures: number } } }>;
  };
  return routes.routes.find((r) => r.prefix === prefix)!.breaker;
}

describe("a Status answer is the API server's verdict on one request", () => {
  it("an aggregated API answering 503 does not open the breaker for GET pods", async () => {
    for (let i = 0; i < 12; i++) {
      const metrics = await send(attache.url, "/agg/apis/metrics.k8s.io/v1beta1/namespaces/default/pods");
      expect(metrics.status).toBe(503);
      expect(metrics.headers["x-attache-error"]).toBeUndefined();
      expect(metrics.json).toMatchObject({ kind: "Status", reason: "ServiceUnavailable" });
      expect((await send(attache.url, "/agg/api/v1/namespaces/default/pods/web-1")).status).toBe(200);
    }
    expect(await breakerOf("/agg")).toMatchObject({ state: "closed", window: { failures: 0 } });
  });

  it("a webhook answering 500 in a loop does not open it either", async () => {
    const body = status(500, "InternalError", 'Internal error occurred: failed calling webhook "validate.example.com": connection refused');
    fake.inject(/^POST \/api\/v1\/namespaces\/default\/pods$/, { status: 500, body }, 12);
    for (let i = 0; i < 12; i++) {
      const created = await send(attache.url, "/hook/api/v1/namespaces/default/pods", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(pod(`new-${i}`)),
      });
      expect(created.status).toBe(500);
      expect(created.json).toEqual(body);
    }
    expect((await send(attache.url, "/hook/api/v1/namespaces/default/pods/web-1")).status).toBe(200);
    expect(await breakerOf("/hook")).toMatchObject({ state: "closed", window: { failures: 0 } });
  });

  it("a gateway's 502 without a Status body still counts and opens the breaker", async () => {
    fake.inject(
      /^GET \/api\/v1\/namespaces\/default\/pods\/web-1$/,
      { status: 502, headers: { "content-type": "text/html" }, body: "<html><body>502 Bad Gateway</body></html>" },
      4,
    );
    for (let i = 0; i < 4; i++) expect((await send(attache.url, "/lb/api/v1/namespaces/default/pods/web-1")).status).toBe(502);
    const refused = await send(attache.url, "/lb/api/v1/namespaces/default/pods/web-1");
    expect(refused.status).toBe(503);
    expect(refused.headers["x-attache-error"]).toBe("circuit_open");
    expect(refused.json).toMatchObject({ kind: "Status", reason: "ServiceUnavailable" });
  });
});

it("an API server that is down still opens the breaker", async () => {
  const gone = await startFakeKubeApi();
  const down = await startAttache(`
routes:
  - { prefix: /k8s, circuitBreaker: ${JSON.stringify(breaker)}, upstream: { kubernetes: { server: "${gone.url}", tokenFile: "${gone.volume.tokenFile}", caFile: "${gone.certs.caFile}" } } }
`);
  try {
    expect((await send(down.url, "/k8s/api/v1/namespaces/default/pods/web-1")).status).toBe(200);
    await gone.close();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await send(down.url, "/k8s/api/v1/namespaces/default/pods/web-1")).status);
    expect(statuses.slice(0, 3)).toEqual([502, 502, 502]);
    const refused = await send(down.url, "/k8s/api/v1/namespaces/default/pods/web-1");
    expect(refused.status).toBe(503);
    expect(refused.headers["x-attache-error"]).toBe("circuit_open");
  } finally {
    await down.stop();
  }
});
