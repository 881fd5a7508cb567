/**
 * Every error attache makes on an HTTP route: status, JSON body and x-attache-error, against
 * real local origins. Each case also checks what the origin received (nothing, for a refusal).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:net";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache as startWithConfig, type AttacheUnderTest } from "../harness/attache.js";
import { send, type Answer, type AttacheErrorBody } from "../harness/http.js";
import { listenOn } from "../harness/listen.js";
import { startOrigin, type Echo, type Origin } from "../harness/origin.js";

const startAttache = (yaml: string) => startWithConfig(`admin: 127.0.0.1:0\nlog: { level: error, access: false }\n${yaml}`);

let origin: Origin;
let attache: AttacheUnderTest;
let deadPort: number;
const held: ServerResponse[] = [];

beforeAll(async () => {
  origin = await startOrigin();
  origin.route("/fail", (_req, res) => {
    res.statusCode = 500;
    res.end("origin failed");
  });
  origin.route("/hang", (req: IncomingMessage, res: ServerResponse) => {
    held.push(res);
    req.resume();
  });
  // A port nobody listens on: bind, read the port, close.
  const probe = createServer();
  deadPort = await listenOn(probe);
  await new Promise((r) => probe.close(r));
  attache = await startAttache(`
routes:
  - prefix: /api
    methods: [GET, HEAD, POST]
    deny: [{ path: "^/admin(/|$)" }]
    maxBodySize: 1kb
    upstream: { http: { endpoints: ["${origin.url}"] } }
  - prefix: /slow
    timeout: 200ms
    upstream: { http: { endpoints: ["${origin.url}"] } }
  - prefix: /dead
    upstream: { http: { endpoints: ["http://127.0.0.1:${deadPort}"] } }
  - prefix: /flaky
    circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: 30s }
    upstream: { http: { endpoints: ["${origin.url}"] } }
  - prefix: /narrow
    timeout: 5s
    circuitBreaker: { maxConcurrent: 1 }
    upstream: { http: { endpoints: ["${origin.url}"] } }
`);
});

afterAll(async () => {
  for (const res of held) res.destroy();
  await attache?.stop();
  await origin?.close();
});

/** The error body's shape, and nothing that looks like a stack trace or a file. */
function expectError(answer: Answer, status: number, code: string, route?: string): void {
  const { error } = answer.json as AttacheErrorBody;
  expect(answer.status).toBe(status);
  expect(answer.headers["x-attache-error"]).toBe(code);
  expect(answer.headers["content-type"]).toMatch(/^application\/json/);
  expect(error.code).toBe(code);
  expect(typeof error.message).toBe("string");
  if (route) expect(error.route).toBe(route);
  expect(answer.text).not.toMatch(/\s+at .+\(|\.ts:\d|\/tmp\//);
}

describe("errors made by attache", () => {
  it("404 no_route", async () => {
    const before = origin.requests;
    expectError(await send(attache.url, "/nothing/here"), 404, "no_route");
    expect(origin.requests).toBe(before);
  });

  it("403 host_not_allowed", async () => {
    expectError(await send(attache.url, "/api/x", { headers: { host: "rebind.example" } }), 403, "host_not_allowed");
  });

  it("403 host_not_allowed without any Host (HTTP/1.0)", async () => {
    const { sendRaw } = await import("../harness/http.js");
    const raw = await sendRaw(attache.url, "GET /api/x HTTP/1.0\r\n\r\n");
    expect(raw).toMatch(/^HTTP\/1\.1 403/);
    expect(raw).toContain("x-attache-error: host_not_allowed");
  });

  it("405 method_not_allowed with Allow", async () => {
    const before = origin.requests;
    const answer = await send(attache.url, "/api/x", { method: "DELETE" });
    expectError(answer, 405, "method_not_allowed", "/api");
    expect(answer.headers.allow).toBe("GET, HEAD, POST");
    expect(origin.requests).toBe(before);
  });

  it("403 path_denied", async () => {
    const before = origin.requests;
    expectError(await send(attache.url, "/api/admin/users"), 403, "path_denied", "/api");
    expect(origin.requests).toBe(before);
  });

  it("400 bad_request for an encoded slash or a path escaping the root", async () => {
    expectError(await send(attache.url, "/api/a%2Fb"), 400, "bad_request");
    expectError(await send(attache.url, "/api/../../etc/passwd"), 400, "bad_request");
  });

  it("413 body_too_large for a declared Content-Length, before anything is sent upstream", async () => {
    const before = origin.requests;
    const answer = await send(attache.url, "/api/upload", {
      method: "POST",
      body: "x".repeat(2048),
      headers: { "content-type": "text/plain" },
    });
    expectError(answer, 413, "body_too_large", "/api");
    expect(origin.requests).toBe(before);
  });

  it("413 body_too_large for a chunked body that grows past the limit, and the origin never gets it whole", async () => {
    let originBytes = -1;
    let originDone = false;
    origin.route("/api-upload-chunked", (req, res) => {
      originBytes = 0;
      req.on("data", (c: Buffer) => (originBytes += c.length));
      req.on("end", () => {
        originDone = true;
        res.end("got it all");
      });
      req.on("error", () => {});
    });
    const local = await startAttache(
      `routes: [{ prefix: /up, maxBodySize: 1kb, upstream: { http: { endpoints: ["${origin.url}/api-upload-chunked"] } } }]`,
    );
    try {
      const chunks = Array.from({ length: 64 }, () => Buffer.alloc(256, "y"));
      const answer = await send(local.url, "/up", { method: "POST", body: Readable.from(chunks) });
      expectError(answer, 413, "body_too_large", "/up");
      expect(originDone).toBe(false);
      expect(originBytes).toBeLessThanOrEqual(1024);
    } finally {
      await local.stop();
    }
  });

  it("a body within maxBodySize passes, declared or chunked", async () => {
    const declared = await send(attache.url, "/api/ok", { method: "POST", body: "x".repeat(1000) });
    expect(declared.status).toBe(200);
    const chunked = await send<Echo>(attache.url, "/api/ok", {
      method: "POST",
      body: Readable.from([Buffer.alloc(500, "a"), Buffer.alloc(500, "b")]),
    });
    expect(chunked.status).toBe(200);
    expect(chunked.json.body).toHaveLength(1000);
  });

  it("502 upstream_unreachable when the connection is refused", async () => {
    expectError(await send(attache.url, "/dead/x"), 502, "upstream_unreachable", "/dead");
  });

  it("504 upstream_timeout when the upstream does not answer within timeout", async () => {
    const before = held.length;
    expectError(await send(attache.url, "/slow/hang"), 504, "upstream_timeout", "/slow");
    expect(held.length).toBe(before + 1);
  });

  it("503 circuit_open with Retry-After once the breaker opens, without contacting the origin", async () => {
    for (let i = 0; i < 2; i++) expect((await send(attache.url, "/flaky/fail")).status).toBe(500);
    const before = origin.requests;
    const answer = await send<AttacheErrorBody>(attache.url, "/flaky/fail");
    expectError(answer, 503, "circuit_open", "/flaky");
    expect(Number(answer.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(answer.headers["retry-after"])).toBeLessThanOrEqual(30);
    expect(answer.json.error.message).toMatch(/circuit open, retry after \d+s/);
    expect(origin.requests).toBe(before);
  });

  it("503 overloaded when maxConcurrent requests are in flight", async () => {
    const before = held.length;
    const first = send(attache.url, "/narrow/hang");
    while (held.length === before) await new Promise((r) => setTimeout(r, 5));
    const answer = await send(attache.url, "/narrow/x");
    expectError(answer, 503, "overloaded", "/narrow");
    expect(answer.headers["retry-after"]).toBeUndefined();
    held.at(-1)!.end("released");
    expect((await first).status).toBe(200);
    expect((await send(attache.url, "/narrow/x")).status).toBe(200);
  });
});

describe("upgrade requests", () => {
  it("a route whose upstream takes no upgrades answers 400 bad_request", async () => {
    const redisOnly = await startAttache(`
routes:
  - prefix: /cache
    upstream: { redis: { url: "redis://127.0.0.1:${deadPort}" } }
`);
    try {
      const { request } = await import("node:http");
      const answer = await new Promise<{ status: number; code: string | undefined }>((resolve, reject) => {
        const req = request(`${redisOnly.url}/cache/x`, { headers: { connection: "upgrade", upgrade: "websocket" } });
        req.once("response", (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, code: res.headers["x-attache-error"] as string | undefined });
        });
        req.once("upgrade", () => reject(new Error("upgraded")));
        req.once("error", reject);
        req.end();
      });
      expect(answer).toEqual({ status: 400, code: "bad_request" });
    } finally {
      await redisOnly.stop();
    }
  });
});
