/**
 * Timeouts that fit the Kubernetes API: a kubernetes route defaults to the API server's 60 s, and a GET
 * list is under the route timeout only until its headers (as a watch), so a slow but progressing list
 * completes. The route timeout here is 1 s and the lists take 2.5 s, so the tests stay quick.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { hasKubectl, kubectl, pod, startFakeKubeApi, type FakeKubeApi } from "../harness/fake-kube-api.js";

const KUBECTL = hasKubectl();
if (!KUBECTL) console.warn("kubectl not found at /usr/bin/kubectl: the kubectl cases of this file are skipped");

let fake: FakeKubeApi;
let attache: AttacheUnderTest;
let home: string;

beforeAll(async () => {
  // Enough pods that the list is written in ten real pieces.
  fake = await startFakeKubeApi({ pods: Array.from({ length: 200 }, (_, i) => pod(`web-${i}`)) });
  home = mkdtempSync(join(tmpdir(), "kubectl-home-"));
  const k8s = `kubernetes: { server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}" }`;
  attache = await startAttache(`
routes:
  - { prefix: /k8s, timeout: 1s, upstream: { ${k8s} } }
  - { prefix: /default, upstream: { ${k8s} } }
  - { prefix: /strict, timeout: 1s, streaming: false, upstream: { ${k8s} } }
`);
});

afterAll(async () => {
  await attache?.stop();
  await fake?.close();
  rmSync(home, { recursive: true, force: true });
});

describe("a list slower than the route timeout", () => {
  it("completes: the deadline stopped at its headers", async () => {
    fake.slowLists(2_500);
    const res = await send(attache.url, "/k8s/api/v1/namespaces/default/pods");
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ kind: "PodList" });
    expect((res.json as { items: unknown[] }).items).toHaveLength(200);
  });

  it.runIf(KUBECTL)("kubectl get pods prints all of it", async () => {
    fake.slowLists(2_500);
    const out = await kubectl(["--server", `${attache.url}/k8s`, "get", "pods"], { home });
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/web-199\s+1\/1\s+Running/);
  });

  it("a route with streaming: false keeps the whole list under its timeout", async () => {
    fake.slowLists(2_500);
    // The headers came in time, so the client gets a 200 whose body is cut at the deadline.
    await expect(send(attache.url, "/strict/api/v1/namespaces/default/pods")).rejects.toThrow();
  });

  it("a single object is not a list: its deadline still covers the body", async () => {
    fake.before(/^GET \/api\/v1\/namespaces\/default\/pods\/web-1$/, () => new Promise((r) => setTimeout(r, 1_500)));
    const res = await send(attache.url, "/k8s/api/v1/namespaces/default/pods/web-1");
    expect(res.status).toBe(504);
    expect(res.json).toMatchObject({ kind: "Status", reason: "Timeout" });
  });
});

it("a kubernetes route without a timeout gets the API server's 60 s", async () => {
  const routes = (await (await fetch(`${attache.adminUrl}/routes`)).json()) as {
    routes: Array<{ prefix: string; policies: { timeout: string; streaming: unknown } }>;
  };
  const route = routes.routes.find((r) => r.prefix === "/default")!;
  expect(route.policies.timeout).toBe("1m");
  expect(route.policies.streaming).toBe("watch/follow/list");
});
