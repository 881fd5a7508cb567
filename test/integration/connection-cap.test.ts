/**
 * limits.maxConnections per HTTP listener: past it a new connection gets 503 overloaded and is closed,
 * the others keep serving, the admin listener is counted on its own, and a reload changes the cap.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, writeConfig, type AttacheUnderTest } from "../harness/attache.js";
import { eventually, metricValue, openRaw, send, type AttacheErrorBody, type RawConnection } from "../harness/http.js";
import { startOrigin, type Origin } from "../harness/origin.js";

let origin: Origin;
let attache: AttacheUnderTest;
const held: RawConnection[] = [];

const root = (cap: number) => `limits: { maxConnections: ${cap} }
routes:
  - { prefix: /api, upstream: { http: { endpoints: ["${origin.url}"] } } }
`;

beforeAll(async () => {
  origin = await startOrigin();
  attache = await startAttache(root(3));
});

afterAll(async () => {
  for (const c of held) c.socket.destroy();
  await attache?.stop();
  await origin?.close();
});

/** A kept-alive connection that has had one answer: it is open and counted. */
async function holdOne(base: string): Promise<RawConnection> {
  const conn = await openRaw(base);
  held.push(conn);
  conn.socket.write("GET /api/hold HTTP/1.1\r\nHost: localhost\r\n\r\n");
  await eventually(() => conn.received().includes("\r\n\r\n"));
  expect(conn.received()).toMatch(/^HTTP\/1\.1 200 /);
  return conn;
}

describe("connection cap (limits.maxConnections)", () => {
  it("answers the connection past the cap with 503 overloaded and closes it; the others keep serving", async () => {
    const open = [await holdOne(attache.url), await holdOne(attache.url), await holdOne(attache.url)];
    const refused = await send<AttacheErrorBody>(attache.url, "/api/x");
    expect(refused.status).toBe(503);
    expect(refused.headers["x-attache-error"]).toBe("overloaded");
    expect(refused.headers.connection).toBe("close");
    expect(refused.json.error.message).toContain("limits.maxConnections: 3");

    const before = open[0]!.received().length;
    open[0]!.socket.write("GET /api/again HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await eventually(() => open[0]!.received().length > before);
    expect(open[0]!.received().slice(before)).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("answers a refused client that already sent its request, without resetting it", async () => {
    const conn = await openRaw(attache.url);
    conn.socket.write("POST /api/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
    const answer = await conn.closed(5000);
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer).toContain("x-attache-error: overloaded");
  });

  it("counts the admin listener on its own", async () => {
    const health = await send(attache.adminUrl, "/healthz");
    expect(health.status).toBe(200);
  });

  it("takes a connection again once one closes", async () => {
    held.shift()!.socket.destroy();
    const served = await eventually(async () => (await send(attache.url, "/api/x")).status === 200);
    expect(served).toBe(true);
  });

  it("applies a new cap on reload", async () => {
    writeConfig(attache.dir, root(5));
    const outcome = await attache.running.reload("test");
    expect(outcome.applied).toBe(true);
    const answer = await send(attache.url, "/api/x");
    expect(answer.status).toBe(200);
  });

  it("refuses a burst far past the cap and serves again afterwards", async () => {
    const burst = await Promise.all(
      Array.from({ length: 200 }, () =>
        send(attache.url, "/api/x", { headers: { connection: "close" } }).then(
          (a) => a.status,
          () => "reset",
        ),
      ),
    );
    expect(burst.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(burst.every((s) => s === 200 || s === 503 || s === "reset")).toBe(true);
    const after = await eventually(async () => (await send(attache.url, "/api/x")).status === 200);
    expect(after).toBe(true);
  });

  it("counts refusals in attache_listener_refusals_total and open connections in attache_listener_connections", async () => {
    const text = (await send(attache.adminUrl, "/metrics")).text;
    expect(metricValue(text, "attache_listener_refusals_total", 'listener="listen",reason="max_connections"')).toBeGreaterThanOrEqual(2);
    expect(metricValue(text, "attache_listener_connections", 'listener="listen"')).toBeGreaterThanOrEqual(2);
    expect(metricValue(text, "attache_listener_connections", 'listener="admin"')).toBeGreaterThanOrEqual(1);
  });
});
