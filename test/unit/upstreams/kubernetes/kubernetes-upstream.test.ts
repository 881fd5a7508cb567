/** KubernetesUpstream without traffic: credential states and their transitions, describe(), long-running requests. */
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ResolvedRoute } from "../../../../src/config/validate.js";
import { AttacheError } from "../../../../src/errors.js";
import { KubernetesUpstream } from "../../../../src/upstreams/kubernetes/kubernetes-upstream.js";
import { isList, isLongRunning } from "../../../../src/upstreams/kubernetes/request-kinds.js";
import type { RequestContext } from "../../../../src/upstreams/upstream.js";

let dir: string;
const open: KubernetesUpstream[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "k8s-upstream-unit-"));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((u) => u.close()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function upstream(
  kubernetes: Record<string, string>,
  env: Record<string, string>,
  serviceAccountDir = join(dir, "no-sa"),
): KubernetesUpstream {
  const route = {
    name: "/k8s",
    prefix: "/k8s",
    upstream: { kubernetes },
    timeout: 1000,
    streaming: undefined,
    pool: { keepAlive: true, maxSockets: 8, idleTimeout: 1000, connectTimeout: 1000 },
  } as unknown as ResolvedRoute;
  const u = new KubernetesUpstream({ route, env, serviceAccountDir, pollInterval: 20 });
  open.push(u);
  return u;
}

function kubeconfig(path: string, server: string, token: string): void {
  writeFileSync(
    path,
    `apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster: { server: "${server}", insecure-skip-tls-verify: true }\nusers:\n- name: u\n  user: { token: ${token} }\ncontexts:\n- name: c\n  context: { cluster: k, user: u }\n`,
  );
}

const credentials = (u: KubernetesUpstream) => u.describe().credentials as Record<string, unknown>;

async function eventually(check: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in 10s");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("no credentials", () => {
  it("is a state: 502 with a Status naming what was looked for, until a kubeconfig appears", async () => {
    const path = join(dir, "kc-appears");
    const u = upstream({}, { HOME: join(dir, "home"), KUBECONFIG: path });
    await u.ready();
    expect(credentials(u)).toMatchObject({ state: "missing", problem: "none of these exist" });
    expect(u.describe().server).toBeNull();

    const ctx = { res: { once() {} } } as unknown as RequestContext;
    const err = (await u.handle(ctx).catch((e: unknown) => e)) as AttacheError;
    expect(err).toBeInstanceOf(AttacheError);
    expect(err.status).toBe(502);
    expect(err.retryAfter).toBe(1);
    const status = JSON.parse(u.renderError(err).body) as { code: number; reason: string; message: string };
    expect(status).toMatchObject({ code: 502, reason: "ServiceUnavailable" });
    expect(status.message).toContain(`kubeconfig ${path} ($KUBECONFIG)`);

    kubeconfig(path, "https://127.0.0.1:6443", "t1");
    await eventually(() => credentials(u).state === "ready");
    expect(u.describe()).toMatchObject({
      server: "https://127.0.0.1:6443",
      credentials: { source: "kubeconfig", auth: "token", verifyServer: false },
    });
    expect(JSON.stringify(u.describe())).not.toContain("t1");
  });
});

describe("changes", () => {
  it("a new server in the kubeconfig gets a new connection; a vanished kubeconfig keeps the last good one", async () => {
    const path = join(dir, "kc-changes");
    kubeconfig(path, "https://127.0.0.1:1001", "a");
    const u = upstream({ kubeconfig: path }, { HOME: join(dir, "home") });
    await u.ready();
    expect(u.describe().server).toBe("https://127.0.0.1:1001");

    kubeconfig(path, "https://127.0.0.1:1002", "a-longer-token");
    await eventually(() => u.describe().server === "https://127.0.0.1:1002");

    unlinkSync(path);
    await eventually(() => credentials(u).lastProblem !== undefined);
    expect(u.describe().server).toBe("https://127.0.0.1:1002");
    expect(credentials(u).state).toBe("ready");
  });

  it("in a pod: in-cluster, with the token file's reload time and never its content", async () => {
    const sa = join(dir, "sa");
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, "token"), "pod-token-xyz");
    const u = upstream({}, { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }, sa);
    await u.ready();
    const c = credentials(u);
    expect(c).toMatchObject({ state: "ready", source: "in-cluster", auth: "token-file", tokenFile: join(sa, "token") });
    expect(Date.parse(c.tokenReloadedAt as string)).toBeGreaterThan(0);
    expect(JSON.stringify(u.describe())).not.toContain("pod-token-xyz");
  });

  it("carries the default deny", () => {
    const u = upstream({ server: "https://127.0.0.1:1" }, {});
    expect(u.defaultDeny.map((r) => r.path).join(" ")).toMatch(/exec\|attach\|portforward/);
  });
});

describe("long-running requests", () => {
  it.each([
    ["/api/v1/pods", "?watch=true", true],
    ["/api/v1/pods", "?watch=1", true],
    ["/api/v1/pods", "?labelSelector=a&watch=True", true],
    ["/api/v1/namespaces/a/pods/p/log", "?follow=true", true],
    ["/api/v1/watch/namespaces/a/pods", "", true],
    ["/apis/apps/v1/watch/deployments", "", true],
    ["/api/v1/pods", "?watch=false", false],
    ["/api/v1/pods", "?watch=0", false],
    ["/api/v1/pods", "", false],
    ["/api/v1/namespaces/watch/pods", "", false],
    ["/api/v1/namespaces/a/pods/p/log", "?follow=false", false],
  ])("%s%s → %s", (path, query, expected) => {
    expect(isLongRunning(path, query)).toBe(expected);
  });
});

describe("lists", () => {
  it.each([
    ["/api/v1/pods", true],
    ["/api/v1/namespaces", true],
    ["/api/v1/namespaces/a/pods", true],
    ["/api/v1/namespaces/a/pods/", true],
    ["/apis/apps/v1/deployments", true],
    ["/apis/apps/v1/namespaces/a/deployments", true],
    ["/api/v1/namespaces/a", false],
    ["/api/v1/namespaces/a/pods/p", false],
    ["/api/v1/namespaces/a/pods/p/log", false],
    ["/apis/apps/v1", false],
    ["/apis", false],
    ["/api/v1", false],
    ["/version", false],
  ])("%s → %s", (path, expected) => {
    expect(isList(path)).toBe(expected);
  });
});
