/**
 * HTTP/2 to the API server when it offers it by ALPN, as client-go: requests and watches share a few
 * connections, and a connection gone silent (no FIN, no RST) is closed by the PING health check, so its
 * watches end and their clients watch again. A server offering only HTTP/1.1 keeps working, and its
 * watches cannot take every connection from ordinary requests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { request, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { eventually, send } from "../harness/http.js";
import { hasKubectl, kubectl, startFakeKubeApi, type FakeKubeApi } from "../harness/fake-kube-api.js";

const KUBECTL = hasKubectl();
if (!KUBECTL) console.warn("kubectl not found at /usr/bin/kubectl: the kubectl cases of this file are skipped");

interface Watch {
  res: IncomingMessage;
  ended: Promise<void>;
  close(): void;
}

/** A watch through attache, open once its headers are in; `ended` settles when its response stops. */
function watch(base: string, target: string): Promise<Watch> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: target, agent: false }, (res) => {
      const ended = new Promise<void>((done) => {
        res.on("error", () => done());
        res.once("close", () => done());
      });
      res.resume();
      resolve({ res, ended, close: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("an API server that offers h2", () => {
  let fake: FakeKubeApi;
  let attache: AttacheUnderTest;
  let home: string;

  beforeAll(async () => {
    fake = await startFakeKubeApi();
    home = mkdtempSync(join(tmpdir(), "kubectl-home-"));
    attache = await startAttache(`
routes:
  - { prefix: /k8s, timeout: 2s, upstream: { kubernetes: { server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}", pingInterval: 200ms } } }
`);
  });

  afterAll(async () => {
    await attache?.stop();
    await fake?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it("50 watches and the requests beside them share a few h2 connections", async () => {
    expect((await send(attache.url, "/k8s/api/v1/namespaces/default/pods")).status).toBe(200);
    const before = fake.connections.length;
    const watches = await Promise.all(
      Array.from({ length: 50 }, () => watch(attache.url, "/k8s/api/v1/namespaces/default/pods?watch=true")),
    );
    try {
      expect(watches.every((w) => w.res.statusCode === 200)).toBe(true);
      await eventually(() => fake.openStreams >= 50, 10_000);
      for (let i = 0; i < 10; i++) expect((await send(attache.url, "/k8s/api/v1/namespaces/default/pods/web-1")).status).toBe(200);
      // All of them on the connection the first request opened (at most one more, should the server close it).
      expect(fake.connections.length - before).toBeLessThanOrEqual(1);
      expect(fake.connections.length).toBeLessThanOrEqual(2);
      expect(new Set(fake.connections)).toEqual(new Set(["h2"]));
    } finally {
      for (const w of watches) w.close();
    }
    await eventually(() => fake.openStreams === 0, 5_000);
  });

  it("a cold start's burst of watches waits for the first connection instead of opening one each", async () => {
    const cold = await startAttache(`
routes:
  - { prefix: /k8s, upstream: { kubernetes: { server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}" } } }
`);
    const before = fake.connections.length;
    const streams = fake.openStreams;
    const watches = await Promise.all(Array.from({ length: 50 }, () => watch(cold.url, "/k8s/api/v1/namespaces/default/pods?watch=true")));
    try {
      expect(watches.every((w) => w.res.statusCode === 200)).toBe(true);
      await eventually(() => fake.openStreams >= streams + 50, 10_000);
      // The first watch's connection (a pool of its own until h2 is known), and the one all the others share.
      expect(fake.connections.length - before).toBeLessThanOrEqual(2);
    } finally {
      for (const w of watches) w.close();
      await cold.stop();
    }
  });

  it("a watch on a connection gone silent ends, and the next request gets a new connection", async () => {
    const w = await watch(attache.url, "/k8s/api/v1/namespaces/default/pods?watch=true");
    await eventually(() => fake.openStreams >= 1, 5_000);
    const before = fake.connections.length;
    fake.silence();
    // pingInterval 200ms: two silent intervals and the connection is closed (bounded wait, not a timing claim).
    const ended = await Promise.race([w.ended.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
    expect(ended).toBe(true);
    w.close();
    expect((await send(attache.url, "/k8s/api/v1/namespaces/default/pods/web-1")).status).toBe(200);
    expect(fake.connections.length).toBeGreaterThan(before);
  });

  it.runIf(KUBECTL)("kubectl works through attache over h2", async () => {
    const before = fake.requests.length;
    const out = await kubectl(["--server", `${attache.url}/k8s`, "get", "pods"], { home });
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/web-1\s+1\/1\s+Running/);
    expect(fake.requests.length).toBeGreaterThan(before);
    expect(fake.connections.every((p) => p === "h2")).toBe(true);
  });

  it("/routes says which protocol the connections chose", async () => {
    const routes = (await (await fetch(`${attache.adminUrl}/routes`)).json()) as {
      routes: Array<{ prefix: string; upstream: { pool: { protocol: string } } }>;
    };
    expect(routes.routes.find((r) => r.prefix === "/k8s")!.upstream.pool.protocol).toBe("h2");
  });
});

describe("an API server that offers only HTTP/1.1", () => {
  let fake: FakeKubeApi;
  let attache: AttacheUnderTest;

  beforeAll(async () => {
    fake = await startFakeKubeApi({ http2: false });
    attache = await startAttache(`
routes:
  - { prefix: /k8s, timeout: 1s, pool: { maxSockets: 2 }, upstream: { kubernetes: { server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}" } } }
`);
  });

  afterAll(async () => {
    await attache?.stop();
    await fake?.close();
  });

  it("watches holding every connection of their budget do not starve ordinary requests", async () => {
    const watches = await Promise.all([
      watch(attache.url, "/k8s/api/v1/namespaces/default/pods?watch=true"),
      watch(attache.url, "/k8s/api/v1/namespaces/default/pods?watch=true"),
    ]);
    try {
      await eventually(() => fake.openStreams >= 2, 5_000);
      for (let i = 0; i < 5; i++) expect((await send(attache.url, "/k8s/api/v1/namespaces/default/pods/web-1")).status).toBe(200);
      expect(fake.connections.every((p) => p === "http/1.1")).toBe(true);
    } finally {
      for (const w of watches) w.close();
    }
  });
});
