/**
 * Identity headers on kubernetes routes: the app cannot become anyone else. kubectl as a real client
 * asks `auth whoami` as system:admin through attache; the fake API server answers as whoever the
 * Impersonate-* headers that reach it name, so a header that got through would show.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { hasKubectl, kubectl, startFakeKubeApi, type FakeKubeApi } from "../harness/fake-kube-api.js";
import { startOrigin, type Origin } from "../harness/origin.js";

const KUBECTL = hasKubectl();
if (!KUBECTL) console.warn("kubectl not found at /usr/bin/kubectl: the kubectl cases of this file are skipped");

let fake: FakeKubeApi;
let origin: Origin;
let attache: AttacheUnderTest;
let home: string;

beforeAll(async () => {
  fake = await startFakeKubeApi();
  origin = await startOrigin();
  home = mkdtempSync(join(tmpdir(), "kubectl-home-"));
  const k8s = `server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}"`;
  attache = await startAttache(`
routes:
  - { prefix: /k8s, upstream: { kubernetes: { ${k8s} } } }
  - { prefix: /impersonating, upstream: { kubernetes: { ${k8s}, identityHeaders: pass } } }
  - { prefix: /svc, headers: { remove: [X-Debug-*] }, upstream: { http: { endpoints: ["${origin.url}"] } } }
`);
});

afterAll(async () => {
  await attache?.stop();
  await fake?.close();
  await origin?.close();
  rmSync(home, { recursive: true, force: true });
});

const reviews = () => fake.requests.filter((r) => r.url.includes("selfsubjectreviews"));

describe.runIf(KUBECTL)("kubectl --as through attache", () => {
  it("answers as attache's ServiceAccount: the API server never sees the impersonation headers", async () => {
    const before = reviews().length;
    const out = await kubectl(
      ["--server", `${attache.url}/k8s`, "--as=system:admin", "--as-group=system:masters", "--as-uid=0", "auth", "whoami", "-o", "json"],
      { home },
    );
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({
      kind: "SelfSubjectReview",
      status: { userInfo: { username: "system:serviceaccount:default:app" } },
    });
    const seen = reviews().slice(before);
    expect(seen.length).toBeGreaterThan(0);
    for (const r of seen) expect(Object.keys(r.headers).filter((h) => h.startsWith("impersonate-"))).toEqual([]);
  });

  it("a route with identityHeaders: pass lets them through (the fake echoes them)", async () => {
    const out = await kubectl(
      ["--server", `${attache.url}/impersonating`, "--as=system:admin", "--as-group=system:masters", "auth", "whoami", "-o", "json"],
      { home },
    );
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({
      status: { userInfo: { username: "system:admin", groups: ["system:masters", "system:authenticated"] } },
    });
  });
});

describe("identity headers from the app", () => {
  it("Impersonate-Extra-*, X-Remote-* and X-Real-Ip are removed; X-Forwarded-For is attache's", async () => {
    const before = fake.requests.length;
    const res = await send(attache.url, "/k8s/api/v1/namespaces/default/pods/web-1", {
      headers: {
        "Impersonate-User": "system:admin",
        "Impersonate-Extra-Scopes": "view",
        "impersonate-extra-acme.com%2fproject": "p",
        "X-Remote-User": "root",
        "X-Remote-Group": "system:masters",
        "X-Remote-Extra-Team": "ops",
        "X-Real-Ip": "10.9.9.9",
        "X-Forwarded-For": "10.9.9.9",
      },
    });
    expect(res.status).toBe(200);
    const seen = fake.requests.slice(before).find((r) => r.url === "/api/v1/namespaces/default/pods/web-1")!;
    expect(Object.keys(seen.headers).filter((h) => /^(impersonate-|x-remote-|x-real-ip)/.test(h))).toEqual([]);
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen.user).toBe("system:serviceaccount:default:app");
  });

  it("/routes says which way each kubernetes route goes", async () => {
    const routes = (await (await fetch(`${attache.adminUrl}/routes`)).json()) as {
      routes: Array<{ prefix: string; upstream: { identityHeaders?: string } }>;
    };
    expect(routes.routes.find((r) => r.prefix === "/k8s")!.upstream.identityHeaders).toBe("remove");
    expect(routes.routes.find((r) => r.prefix === "/impersonating")!.upstream.identityHeaders).toBe("pass");
  });

  it("an http route's headers.remove takes a prefix pattern", async () => {
    const res = await send(attache.url, "/svc/echo", {
      headers: { "x-debug-user": "a", "X-Debug-Trace": "b", "x-debugger": "kept", "x-forwarded-for": "10.9.9.9" },
    });
    const headers = (res.json as { headers: Record<string, string> }).headers;
    expect(headers["x-debug-user"]).toBeUndefined();
    expect(headers["x-debug-trace"]).toBeUndefined();
    expect(headers["x-debugger"]).toBe("kept");
    expect(headers["x-forwarded-for"]).toBe("127.0.0.1");
  });
});
