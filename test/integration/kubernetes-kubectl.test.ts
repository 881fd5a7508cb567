/**
 * Issue 5's "done when": real clients (kubectl, @kubernetes/client-node) through attache's /k8s route
 * to a fake API server that checks a rotating token over HTTPS with its own CA.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { hasKubectl, kubectl, pod, spawnKubectl, startFakeKubeApi, type FakeKubeApi } from "../harness/fake-kube-api.js";

const KUBECTL = hasKubectl();
if (!KUBECTL) console.warn("kubectl not found at /usr/bin/kubectl: the kubectl cases of this file are skipped");

let fake: FakeKubeApi;
let attache: AttacheUnderTest;
let home: string;
let server: string;

beforeAll(async () => {
  fake = await startFakeKubeApi();
  home = mkdtempSync(join(tmpdir(), "kubectl-home-"));
  attache = await startAttache(`
admin: 127.0.0.1:0
routes:
  - prefix: /k8s
    timeout: 1s
    upstream:
      kubernetes: { server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}" }
`);
  server = `${attache.url}/k8s`;
});

afterAll(async () => {
  await attache?.stop();
  await fake?.close();
  rmSync(home, { recursive: true, force: true });
});

describe.runIf(KUBECTL)("kubectl through attache", () => {
  it("get pods prints the server's table", async () => {
    const out = await kubectl(["--server", server, "get", "pods"], { home });
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^NAME\s+READY\s+STATUS/);
    expect(out.stdout).toMatch(/web-1\s+1\/1\s+Running/);
    expect(out.stdout).toMatch(/web-2/);
    // attache's token, not kubectl's (it has none): the fake saw the service account on every request.
    expect(fake.requests.filter((r) => r.url.startsWith("/api")).every((r) => r.user === "system:serviceaccount:default:app")).toBe(true);
  });

  it("get --raw returns the object as the API server sent it", async () => {
    // --raw takes the path from the server's root: the /k8s prefix is part of it.
    const out = await kubectl(["--server", server, "get", "--raw", "/k8s/api/v1/namespaces/default/pods/web-1"], { home });
    expect(out.code).toBe(0);
    const object = JSON.parse(out.stdout) as { kind: string; metadata: { name: string } };
    expect(object).toMatchObject({ kind: "Pod", metadata: { name: "web-1" } });
  });

  it("an API server error passes through: kubectl prints the server's Status", async () => {
    const out = await kubectl(["--server", server, "get", "pod", "missing"], { home });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('Error from server (NotFound): pods "missing" not found');
  });

  it("an error made by attache is a Status kubectl prints (exec is denied by default)", async () => {
    const out = await kubectl(["--server", server, "get", "--raw", "/k8s/api/v1/namespaces/default/pods/web-1/exec"], { home });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("Error from server (Forbidden)");
    expect(out.stderr).toContain("denied by policy");
  });

  it("kubectl exec is refused with a Status kubectl prints, on WebSocket and on its SPDY fallback", async () => {
    const out = await kubectl(["--server", server, "exec", "web-1", "--", "ls"], { home });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("Error from server (Forbidden): route /k8s:");
    expect(out.stderr).toContain("/api/v1/namespaces/default/pods/web-1/exec is denied by policy");
    // Nothing reached the API server.
    expect(fake.requests.some((r) => r.url.includes("/exec"))).toBe(false);
  });

  it("get pods -w outlives the route timeout and prints a later event", async () => {
    const child = spawnKubectl(["--server", server, "get", "pods", "-w"], { home });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    try {
      await until(
        () => /web-2/.test(stdout),
        10_000,
        () => `kubectl printed: ${stdout} ${stderr}`,
      );
      await until(
        () => fake.openStreams > 0,
        5_000,
        () => "no watch reached the fake",
      );
      // Past the route's 1s timeout: a watch is exempt from it.
      await new Promise((r) => setTimeout(r, 1_300));
      fake.store.apply(pod("web-3", "default", "Pending"));
      await until(
        () => /web-3\s+0\/1\s+Pending/.test(stdout),
        5_000,
        () => `kubectl printed: ${stdout} ${stderr}`,
      );
      expect(stderr).toBe("");
    } finally {
      clearTimeout(killer);
      child.kill("SIGKILL");
      fake.store.delete("v1", "Pod", "default", "web-3");
    }
    // The client went away: attache closes the upstream watch too.
    await until(
      () => fake.openStreams === 0,
      5_000,
      () => `${fake.openStreams} streams still open at the fake`,
    );
  });
});

describe("@kubernetes/client-node through attache", () => {
  it("lists pods and watches events with the library's own client", async () => {
    const k8s = await import("@kubernetes/client-node");
    const kc = new k8s.KubeConfig();
    // http:// to attache on localhost; client-node wants skipTLSVerify to allow a plain-HTTP server.
    kc.loadFromClusterAndUser({ name: "attache", server, skipTLSVerify: true }, { name: "app" });
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const list = await core.listNamespacedPod({ namespace: "default" });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(["web-1", "web-2"]);

    const missing = await core.readNamespacedPod({ name: "nope", namespace: "default" }).catch((err: unknown) => err);
    expect((missing as { code?: number }).code).toBe(404);

    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    const request = await watch.watch(
      "/api/v1/namespaces/default/pods",
      { resourceVersion: list.metadata?.resourceVersion },
      (type, object: { metadata?: { name?: string } }) => seen.push(`${type} ${object.metadata?.name}`),
      () => {},
    );
    try {
      await until(
        () => fake.openStreams > 0,
        5_000,
        () => "the watch did not reach the fake",
      );
      fake.store.apply(pod("lib-1"));
      await until(
        () => seen.includes("ADDED lib-1"),
        5_000,
        () => `events: ${seen.join(", ")}`,
      );
    } finally {
      request.abort();
      fake.store.delete("v1", "Pod", "default", "lib-1");
    }
  });
});

async function until(check: () => boolean, ms: number, why: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out: ${why()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
