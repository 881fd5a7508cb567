/**
 * Kubernetes route credentials end to end: token rotation the kubelet way with no failed request,
 * 401 → one re-read and retry, no credentials as a state (the shipped /k8s route, as the built
 * binary runs it) that comes alive when a kubeconfig appears, kubeconfig client certificates,
 * clear TLS failures, and the token never in logs, errors or /routes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { startFakeKubeApi, type FakeKubeApi } from "../harness/fake-kube-api.js";
import { closeServer, listenOn } from "../harness/listen.js";

const TOKEN = "tok-0-very-secret-d2f1c0";
const POD = "/k8s/api/v1/namespaces/default/pods/web-1";

let fake: FakeKubeApi;
let attache: AttacheUnderTest;
let kubeconfigDir: string;

let closedPort: number;

beforeAll(async () => {
  // A port nothing listens on: bound, then released.
  const probe = createServer();
  closedPort = await listenOn(probe);
  await closeServer(probe);
  fake = await startFakeKubeApi({ token: TOKEN });
  kubeconfigDir = mkdtempSync(join(tmpdir(), "kubeconfig-"));
  fake.writeKubeconfig(join(kubeconfigDir, "cert-config"), { user: "client-cert", context: "laptop" });
  attache = await startAttache(`
admin: 127.0.0.1:0
routes:
  - prefix: /k8s
    timeout: 2s
    upstream:
      kubernetes: { server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}" }
  - prefix: /cert
    upstream:
      kubernetes: { kubeconfig: "${join(kubeconfigDir, "cert-config")}", context: laptop }
  - prefix: /wrong-ca
    timeout: 10s
    upstream:
      kubernetes: { server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.otherCaFile}" }
  - prefix: /down
    upstream:
      kubernetes: { server: "https://127.0.0.1:${closedPort}", tokenFile: "${fake.volume.tokenFile}" }
`);
});

afterAll(async () => {
  await attache?.stop();
  await fake?.close();
  rmSync(kubeconfigDir, { recursive: true, force: true });
});

async function routes(
  adminUrl: string,
): Promise<Array<{ prefix: string; upstream: Record<string, unknown> & { credentials: Record<string, unknown> } }>> {
  const body = (await (await fetch(`${adminUrl}/routes`)).json()) as {
    routes: Array<{ prefix: string; upstream: Record<string, unknown> & { credentials: Record<string, unknown> } }>;
  };
  return body.routes;
}

describe("token rotation", () => {
  it("a token rotated by symlink swap is picked up with no failed request in a bounded loop", async () => {
    const before = (await routes(attache.adminUrl)).find((r) => r.prefix === "/k8s")!.upstream.credentials.tokenReloadedAt as string;
    const statuses: number[] = [];
    let rotations = 0;
    const worker = async (id: number) => {
      for (let i = 0; i < 40; i++) {
        if (id === 0 && i % 10 === 5) fake.volume.rotate(`tok-${++rotations}-${Math.random().toString(36).slice(2)}`);
        const res = await fetch(`${attache.url}/k8s/api/v1/namespaces/default/pods?n=${id}-${i}`);
        statuses.push(res.status);
        await res.arrayBuffer();
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    expect(rotations).toBe(4);
    expect(statuses).toHaveLength(160);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const after = (await routes(attache.adminUrl)).find((r) => r.prefix === "/k8s")!.upstream.credentials;
    expect(Date.parse(after.tokenReloadedAt as string)).toBeGreaterThan(Date.parse(before));
    expect(after.tokenFile).toBe(fake.volume.tokenFile);
  });

  it("a 401 makes attache re-read the token once and retry: the client sees 200", async () => {
    // The token changes while the request is on its way: the fake rotates it before checking.
    fake.before(/^GET \/api\/v1\/namespaces\/default\/pods\/web-1\?hook$/, () => fake.volume.rotate("tok-hooked-7c1e"));
    const seen = fake.requests.length;
    const res = await fetch(`${attache.url}${POD}?hook`);
    expect(res.status).toBe(200);
    const tries = fake.requests.slice(seen).filter((r) => r.url.endsWith("?hook"));
    expect(tries.map((r) => [r.status, r.staleToken])).toEqual([
      [401, true],
      [200, false],
    ]);
  });

  it("a 401 with an unchanged token is relayed, not retried in a loop", async () => {
    fake.inject(/^GET \/api\/v1\/namespaces\/default\/pods\/web-1\?injected$/, {
      status: 401,
      body: { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Unauthorized", message: "Unauthorized", code: 401 },
    });
    const seen = fake.requests.length;
    const res = await fetch(`${attache.url}${POD}?injected`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { reason: string }).reason).toBe("Unauthorized");
    expect(fake.requests.slice(seen).filter((r) => r.url.endsWith("?injected"))).toHaveLength(1);
  });

  it("the client's own Authorization header never reaches the API server", async () => {
    const seen = fake.requests.length;
    const res = await fetch(`${attache.url}${POD}`, { headers: { authorization: "Bearer client-made-up" } });
    expect(res.status).toBe(200);
    const sent = fake.requests.slice(seen).map((r) => r.headers.authorization);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toBe(`Bearer ${readFileSync(fake.volume.tokenFile, "utf8")}`);
  });
});

describe("kubeconfig with a client certificate", () => {
  it("authenticates with the certificate of the named context and says so in /routes", async () => {
    const seen = fake.requests.length;
    const res = await fetch(`${attache.url}/cert/api/v1/namespaces/default/pods`);
    expect(res.status).toBe(200);
    expect(fake.requests.slice(seen).map((r) => r.user)).toEqual(["alice"]);
    const route = (await routes(attache.adminUrl)).find((r) => r.prefix === "/cert")!;
    expect(route.upstream.server).toBe(fake.url);
    expect(route.upstream.credentials).toMatchObject({
      state: "ready",
      source: "kubeconfig",
      context: "laptop",
      auth: "client-certificate",
      clientCertificate: true,
      namespace: "default",
    });
  });
});

describe("connection failures are Status objects", () => {
  it("a server certificate the CA does not vouch for: a quick, clear 502, not a hang", async () => {
    const res = await fetch(`${attache.url}/wrong-ca/api/v1/namespaces/default/pods`, { signal: AbortSignal.timeout(8_000) });
    expect(res.status).toBe(502);
    expect(res.headers.get("x-attache-error")).toBe("upstream_unreachable");
    const status = (await res.json()) as { kind: string; code: number; reason: string; message: string };
    expect(status).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Failure", code: 502, reason: "ServiceUnavailable" });
    expect(status.message).toContain(`the API server's certificate at ${fake.url} could not be verified`);
    expect(status.message).toContain("check the CA: the route's caFile");
  });

  it("an API server that refuses connections: 502 naming the server", async () => {
    const res = await fetch(`${attache.url}/down/api`);
    expect(res.status).toBe(502);
    const status = (await res.json()) as { message: string };
    expect(status.message).toBe(`route /down: cannot reach the API server at https://127.0.0.1:${closedPort} (ECONNREFUSED)`);
  });
});

describe("/routes never shows a token", () => {
  it("holds the token file's path and reload time only", async () => {
    const text = await (await fetch(`${attache.adminUrl}/routes`)).text();
    expect(text).not.toContain(readFileSync(fake.volume.tokenFile, "utf8"));
    expect(text).not.toMatch(/tok-\d/);
  });
});

// ---- the shipped config's /k8s route, run by the built binary, with no credentials at start ----

const BIN = new URL("../../dist/main.js", import.meta.url).pathname;
const SHIPPED = new URL("../../config/", import.meta.url).pathname;

describe("no credentials found is a state", () => {
  let child: ChildProcess | undefined;
  let dir: string;
  afterAll(() => {
    child?.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the shipped /k8s route loads, warns, answers 502 naming what it looked for, and comes alive when a kubeconfig appears", async () => {
    dir = mkdtempSync(join(tmpdir(), "attache-nocreds-"));
    const home = join(dir, "home");
    const kubeconfig = join(dir, "kube", "config");
    mkdirSync(join(dir, "config", "routes.d"), { recursive: true });
    mkdirSync(home);
    const root = readFileSync(join(SHIPPED, "attache.yaml"), "utf8")
      .replace(/^listen:.*$/m, "listen: 127.0.0.1:0")
      .replace(/^admin:.*$/m, "admin: 127.0.0.1:0");
    expect(root).toMatch(/prefix: \/k8s\s+upstream:\s+kubernetes: \{\}/);
    writeFileSync(join(dir, "config", "attache.yaml"), root);
    copyFileSync(join(SHIPPED, "routes.d", "example.yaml"), join(dir, "config", "routes.d", "example.yaml"));

    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, KUBECONFIG: kubeconfig };
    child = spawn(process.execPath, [BIN, "run", "-c", join(dir, "config")], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    await until(
      () => /"attache ready"/.test(out) && /no credentials found/.test(out),
      10_000,
      () => out,
    );
    const ready = JSON.parse(out.split("\n").find((l) => l.includes('"attache ready"'))!) as { listen: string; admin: string };
    const warning = JSON.parse(out.split("\n").find((l) => l.includes("no credentials found"))!) as {
      level: string;
      route: string;
      lookedFor: string[];
    };
    expect(warning).toMatchObject({ level: "warn", route: "/k8s" });
    expect(warning.lookedFor.join(" ")).toContain(kubeconfig);
    expect(warning.lookedFor.join(" ")).toContain("in-cluster service account");

    const url = `http://${ready.listen}/k8s/api/v1/namespaces/default/pods`;
    const res = await fetch(url);
    expect(res.status).toBe(502);
    expect(res.headers.get("retry-after")).toBe("2");
    const status = (await res.json()) as { kind: string; code: number; reason: string; message: string };
    expect(status).toMatchObject({ kind: "Status", code: 502, reason: "ServiceUnavailable" });
    expect(status.message).toContain("no Kubernetes credentials found");
    expect(status.message).toContain(`kubeconfig ${kubeconfig} ($KUBECONFIG)`);
    const before = (await routes(`http://${ready.admin}`)).find((r) => r.prefix === "/k8s")!;
    expect(before.upstream.credentials).toMatchObject({ state: "missing" });
    expect(before.upstream.server).toBeNull();

    // A kubeconfig appears: the route comes alive by itself, no restart.
    mkdirSync(join(dir, "kube"));
    fake.writeKubeconfig(kubeconfig, { user: "token", token: "kc-inline-token-55aa" });
    fake.volume.rotate("kc-inline-token-55aa");
    let last = 0;
    await until(
      () => {
        void fetch(url)
          .then((r) => {
            last = r.status;
            return r.arrayBuffer();
          })
          .catch(() => {});
        return last === 200;
      },
      8_000,
      () => `last status ${last}`,
    );
    const after = (await routes(`http://${ready.admin}`)).find((r) => r.prefix === "/k8s")!;
    expect(after.upstream.server).toBe(fake.url);
    expect(after.upstream.credentials).toMatchObject({
      state: "ready",
      source: "kubeconfig",
      context: "fake",
      auth: "token",
      kubeconfig: [kubeconfig],
    });
    expect(JSON.stringify(after)).not.toContain("kc-inline-token-55aa");
    expect(out).toContain("credentials found; forwarding");
    // Nothing it logged carries the token (access logs are on in the shipped config).
    expect(out).toContain('"msg":"access"');
    expect(out).not.toContain("kc-inline-token-55aa");
  });
});

async function until(check: () => boolean, ms: number, why: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out: ${why()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
