/**
 * A request body that never ends must not hold a connection past the route timeout: it is answered
 * 504 upstream_timeout and the connection is cut shortly after, whether the body streams to the
 * upstream or is read first to be replayed by retries (that read had no deadline at all).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { openRaw } from "../harness/http.js";
import { startOrigin, type Origin } from "../harness/origin.js";

let origin: Origin;
let attache: AttacheUnderTest;

beforeAll(async () => {
  origin = await startOrigin();
  attache = await startAttache(`routes:
  - { prefix: /stream, timeout: 600ms, upstream: { http: { endpoints: ["${origin.url}"] } } }
  - { prefix: /replay, timeout: 600ms, retry: { attempts: 2 }, upstream: { http: { endpoints: ["${origin.url}"] } } }
`);
});

afterAll(async () => {
  await attache?.stop();
  await origin?.close();
});

/** Starts a body, keeps sending a byte every 100 ms (bounded), and returns what came back once the server closed. */
async function neverEndingBody(head: string): Promise<string> {
  const conn = await openRaw(attache.url);
  conn.socket.write(head);
  const timer = setInterval(() => conn.socket.writable && conn.socket.write(head.includes("chunked") ? "1\r\na\r\n" : "a"), 100);
  try {
    return await conn.closed(8000);
  } finally {
    clearInterval(timer);
    conn.socket.destroy();
  }
}

describe("slow request bodies", () => {
  it("cuts a chunked body that never ends at the route timeout (504), then closes the connection", async () => {
    const answer = await neverEndingBody("POST /stream/up HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 504 /);
    expect(answer).toContain("x-attache-error: upstream_timeout");
  });

  it("cuts a declared body read for replay that never completes (504), then closes the connection", async () => {
    const answer = await neverEndingBody("PUT /replay/up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 60000\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 504 /);
    expect(answer).toContain("x-attache-error: upstream_timeout");
  });
});
