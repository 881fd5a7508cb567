/**
 * Routes with equal pool settings share keep-alive connections to an endpoint (resilience/shared-pools.ts),
 * across reloads too; the pool closes its connections when the last route using it goes.
 */
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startAttache, writeConfig, type AttacheUnderTest } from "../harness/attache.js";
import { eventually, send } from "../harness/http.js";
import { startOrigin, type Origin } from "../harness/origin.js";

let origin: Origin;
let attache: AttacheUnderTest;
let open: Set<Socket>;

afterEach(async () => {
  await attache?.stop();
  await origin?.close();
});

async function setup(): Promise<void> {
  origin = await startOrigin();
  // Long idle timeouts on both sides (the routes' pools, and the origin's Keep-Alive hint, which undici
  // honours): only a closed pool explains a closed connection.
  origin.server.keepAliveTimeout = 120_000;
  open = new Set();
  origin.server.on("connection", (socket: Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
  });
  attache = await startAttache(routesOf(origin.url));
}

const routesOf = (url: string) => `routes:
  - { prefix: /a, pool: { idleTimeout: 60s }, upstream: { http: { endpoints: ["${url}"] } } }
  - { prefix: /b, pool: { idleTimeout: 60s }, upstream: { http: { endpoints: ["${url}"] } } }
  - { prefix: /c, pool: { idleTimeout: 60s, maxSockets: 3 }, upstream: { http: { endpoints: ["${url}"] } } }
`;

async function get(path: string): Promise<void> {
  expect((await send(attache.url, path)).status).toBe(200);
}

async function poolOf(prefix: string): Promise<Record<string, unknown>> {
  const view = (await (await fetch(`${attache.adminUrl}/routes`)).json()) as {
    routes: Array<{ prefix: string; upstream: { pool: Record<string, unknown> } }>;
  };
  return view.routes.find((r) => r.prefix === prefix)!.upstream.pool;
}

describe("shared connection pools", () => {
  it("routes with equal pool settings use one connection to the endpoint; other settings get their own", async () => {
    await setup();
    for (const path of ["/a/1", "/b/1", "/a/2", "/b/2"]) await get(path);
    expect(origin.connections).toBe(1);
    await get("/c/1");
    expect(origin.connections).toBe(2);
    expect(await poolOf("/a")).toMatchObject({ sharedByRoutes: 2 });
    expect(await poolOf("/c")).toMatchObject({ sharedByRoutes: 1 });
  });

  it("a reload that keeps the settings keeps the connection; the last route's going closes it", async () => {
    await setup();
    await get("/a/1");
    writeConfig(
      attache.dir,
      `routes:
  - { prefix: /a, pool: { idleTimeout: 60s }, upstream: { http: { endpoints: ["${origin.url}"] } } }
  - { prefix: /d, pool: { idleTimeout: 60s }, upstream: { http: { endpoints: ["${origin.url}"] } } }
`,
    );
    expect(await attache.running.reload("test")).toMatchObject({ applied: true });
    await get("/a/2");
    await get("/d/1");
    expect(origin.connections).toBe(1);

    writeConfig(
      attache.dir,
      `routes:
  - { prefix: /e, pool: { idleTimeout: 59s }, upstream: { http: { endpoints: ["${origin.url}"] } } }
`,
    );
    expect(await attache.running.reload("test")).toMatchObject({ applied: true });
    // The replaced routes retire once idle; their shared pool closes its connection then.
    await eventually(() => open.size === 0, 5_000);
    await get("/e/1");
    expect(origin.connections).toBe(2);
  });
});
