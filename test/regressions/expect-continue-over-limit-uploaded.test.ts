/**
 * `Expect: 100-continue` with a Content-Length over maxBodySize got `100 Continue`, so the client
 * uploaded the whole body only to be told 413. Now the pipeline decides first (route, policy,
 * maxBodySize) and sends `100 Continue` only when the body is wanted; a refusal closes the connection.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { eventually, openRaw } from "../harness/http.js";
import { startOrigin, type Origin } from "../harness/origin.js";

let origin: Origin;
let attache: AttacheUnderTest;

beforeAll(async () => {
  origin = await startOrigin();
  attache = await startAttache(`routes:
  - { prefix: /api, maxBodySize: 1kb, methods: [GET, POST], upstream: { http: { endpoints: ["${origin.url}"] } } }
`);
});

afterAll(async () => {
  await attache?.stop();
  await origin?.close();
});

const head = (target: string, length: number) =>
  `POST ${target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

describe("Expect: 100-continue", () => {
  it("answers a declared body over maxBodySize with 413 body_too_large and no 100 Continue", async () => {
    const conn = await openRaw(attache.url);
    conn.socket.write(head("/api/upload", 1_000_000));
    const answer = await conn.closed(5000);
    expect(answer).not.toContain("100 Continue");
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain("x-attache-error: body_too_large");
    expect(origin.requests).toBe(0);
  });

  it("answers an unknown prefix with 404 and no 100 Continue", async () => {
    const conn = await openRaw(attache.url);
    conn.socket.write(head("/nowhere", 10));
    await eventually(() => conn.received().includes("\r\n\r\n"));
    conn.socket.destroy();
    expect(conn.received()).toMatch(/^HTTP\/1\.1 404 /);
  });

  it("sends 100 Continue for a body within the limit, then forwards it", async () => {
    const conn = await openRaw(attache.url);
    conn.socket.write(head("/api/upload", 5));
    await eventually(() => conn.received().includes("\r\n\r\n"));
    expect(conn.received()).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    conn.socket.write("hello");
    await eventually(() => conn.received().includes('"body":"hello"'));
    conn.socket.destroy();
    expect(conn.received()).toMatch(/HTTP\/1\.1 200 /);
    expect(conn.received()).not.toMatch(/"expect"/);
  });
});
