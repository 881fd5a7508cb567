/**
 * A request head sent one byte a second, or half a head then silence, held a connection forever:
 * requestTimeout 0 had zeroed Node's headersTimeout. Now the head has limits.headersTimeout from its
 * first byte (or from accept), on the app and admin listeners alike, while bodies stay bounded by the
 * route only (a slow upload longer than the head deadline still succeeds).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Readable } from "node:stream";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { metricValue, openRaw, send } from "../harness/http.js";
import { startOrigin, type Echo, type Origin } from "../harness/origin.js";

let origin: Origin;
let attache: AttacheUnderTest;
const HEAD_DEADLINE_MS = 800;

beforeAll(async () => {
  origin = await startOrigin();
  attache = await startAttache(`limits: { headersTimeout: ${HEAD_DEADLINE_MS}ms }
routes:
  - { prefix: /api, timeout: 20s, upstream: { http: { endpoints: ["${origin.url}"] } } }
`);
});

afterAll(async () => {
  await attache?.stop();
  await origin?.close();
});

/** Sends `bytes` one at a time every `every` ms until the server closes the connection or they run out. */
async function trickle(base: string, bytes: string, every: number): Promise<{ answer: string; sent: number }> {
  const conn = await openRaw(base);
  let sent = 0;
  const closed = conn.closed(bytes.length * every + 5000);
  const timer = setInterval(() => {
    if (sent >= bytes.length || conn.socket.destroyed) return clearInterval(timer);
    conn.socket.write(bytes[sent++]!);
  }, every);
  try {
    return { answer: await closed, sent };
  } finally {
    clearInterval(timer);
    conn.socket.destroy();
  }
}

const HEAD = `GET /api/x HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${"a".repeat(40)}\r\n\r\n`;

describe("request head deadline (limits.headersTimeout)", () => {
  it("closes a head sent one byte at a time before it is complete, with 408 request_timeout", async () => {
    const { answer, sent } = await trickle(attache.url, HEAD, 100);
    expect(sent).toBeLessThan(HEAD.length);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain("x-attache-error: request_timeout");
    expect(answer).toContain("limits.headersTimeout");
  });

  it("closes half a head followed by silence", async () => {
    const conn = await openRaw(attache.url);
    conn.socket.write("GET /api/x HTTP/1.1\r\nHost: local");
    const answer = await conn.closed(10_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("closes a connection that never sends a byte", async () => {
    const conn = await openRaw(attache.url);
    await expect(conn.closed(10_000)).resolves.toBeTypeOf("string");
  });

  it("closes a second head trickled on a kept-alive connection", async () => {
    const conn = await openRaw(attache.url);
    conn.socket.write("GET /api/first HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const closed = conn.closed(10_000);
    await new Promise<void>((resolve) => conn.socket.once("data", () => resolve()));
    conn.socket.write("GET /api/second HTTP/1.1\r\nHost: loc");
    const answer = await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain("HTTP/1.1 408 ");
  });

  it("closes half a head on the admin listener too", async () => {
    const conn = await openRaw(attache.adminUrl);
    conn.socket.write("GET /routes HTTP/1.1\r\nHost: local");
    const answer = await conn.closed(10_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("lets a slow upload take longer than the head deadline: the body is the route's to bound", async () => {
    const chunks = ["a", "b", "c", "d"];
    const body = new Readable({
      read() {
        const next = chunks.shift();
        if (next === undefined) this.push(null);
        else setTimeout(() => this.push(next), HEAD_DEADLINE_MS / 2);
      },
    });
    const answer = await send<Echo>(attache.url, "/api/upload", { method: "POST", body, headers: { "content-type": "text/plain" } });
    expect(answer.status).toBe(200);
    expect(answer.json.body).toBe("abcd");
  });

  it("counts what it cut in attache_listener_refusals_total", async () => {
    const text = (await send(attache.adminUrl, "/metrics")).text;
    expect(metricValue(text, "attache_listener_refusals_total", 'listener="listen",reason="request_timeout"')).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, "attache_listener_refusals_total", 'listener="admin",reason="request_timeout"')).toBeGreaterThanOrEqual(1);
  });
});
