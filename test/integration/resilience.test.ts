/**
 * Per-route resilience against real local servers that fail on command: breaker, bulkhead,
 * retries, deadline, stale keep-alive sockets, outlier ejection, and an upstream killed under load.
 * Durations are short and real; assertions are about behaviour, never about speed.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache as startWithConfig, type AttacheUnderTest } from "../harness/attache.js";
import { eventually, metricValue, send, type Answer } from "../harness/http.js";
import { closeServer, listenOn } from "../harness/listen.js";
import { startOrigin, type Origin } from "../harness/origin.js";

const startAttache = (yaml: string) => startWithConfig(`admin: 127.0.0.1:0\nlog: { level: error, access: false }\n${yaml}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const probe = createNetServer();
  const port = await listenOn(probe);
  await new Promise((r) => probe.close(r));
  return port;
}

/** The members of a /routes entry these tests read. */
interface RouteView {
  prefix: string;
  inflight: number;
  breaker: { state: string; window: { failures: number } };
  upstream: { pool: { busy: number }; endpoints: Array<{ endpoint: string; healthy: boolean; ejections: number }> };
}

async function routeView(attache: AttacheUnderTest, prefix: string): Promise<RouteView> {
  const { routes } = (await send<{ routes: RouteView[] }>(attache.adminUrl, "/routes")).json;
  const view = routes.find((r) => r.prefix === prefix);
  if (!view) throw new Error(`/routes has no route ${prefix}`);
  return view;
}

const metrics = async (attache: AttacheUnderTest) => (await send(attache.adminUrl, "/metrics")).text;

describe("circuit breaker", () => {
  let origin: Origin;
  let attache: AttacheUnderTest;
  let failing = true;

  beforeAll(async () => {
    origin = await startOrigin();
    origin.route("/", (_req, res) => {
      res.statusCode = failing ? 503 : 200;
      res.end(failing ? "down" : "up");
    });
    attache = await startAttache(`
routes:
  - prefix: /cb
    # Long enough that the refusals below all land while open, even on a busy machine.
    circuitBreaker: { volumeThreshold: 6, errorThresholdPercentage: 50, resetTimeout: 1s }
    upstream: { http: { endpoints: ["${origin.url}"] } }
`);
  });
  afterAll(async () => {
    await attache?.stop();
    await origin?.close();
  });

  it("stays closed below volumeThreshold, opens at it, refuses without contacting the origin, half-opens and closes on success", async () => {
    for (let i = 0; i < 5; i++) expect((await send(attache.url, "/cb/x")).status).toBe(503);
    expect((await routeView(attache, "/cb")).breaker.state).toBe("closed");
    // The 6th failure reaches volumeThreshold with 100% errors: open.
    const sixth = await send(attache.url, "/cb/x");
    expect(sixth.status).toBe(503);
    expect(sixth.headers["x-attache-error"]).toBeUndefined(); // the origin's own 503, relayed
    expect((await routeView(attache, "/cb")).breaker).toMatchObject({ state: "open" });
    expect(metricValue(await metrics(attache), "attache_circuit_state", 'route="/cb"')).toBe(2);

    const before = origin.requests;
    for (let i = 0; i < 5; i++) {
      const refused = await send(attache.url, "/cb/x");
      expect(refused.status).toBe(503);
      expect(refused.headers["x-attache-error"]).toBe("circuit_open");
      expect(Number(refused.headers["retry-after"])).toBe(1);
    }
    expect(origin.requests).toBe(before);
    expect(metricValue(await metrics(attache), "attache_circuit_rejections_total", 'route="/cb"')).toBe(5);
    // The same status, told apart: the origin's own 503s carry no error label, attache's refusals do.
    expect(metricValue(await metrics(attache), "attache_requests_total", 'route="/cb",method="GET",code="503",error=""')).toBe(6);
    expect(metricValue(await metrics(attache), "attache_requests_total", 'route="/cb",method="GET",code="503",error="circuit_open"')).toBe(
      5,
    );

    failing = false;
    await eventually(async () => (await routeView(attache, "/cb")).breaker.state === "half-open", 2000);
    expect(metricValue(await metrics(attache), "attache_circuit_state", 'route="/cb"')).toBe(1);
    const probe = await send(attache.url, "/cb/x");
    expect(probe.status).toBe(200);
    expect(origin.requests).toBe(before + 1);
    expect((await routeView(attache, "/cb")).breaker.state).toBe("closed");
    expect(metricValue(await metrics(attache), "attache_circuit_state", 'route="/cb"')).toBe(0);
    for (let i = 0; i < 3; i++) expect((await send(attache.url, "/cb/x")).status).toBe(200);
  });

  it("does not count 4xx answers", async () => {
    const other = await startOrigin();
    other.route("/missing", (_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    const local = await startAttache(
      `routes: [{ prefix: /four, circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 1 }, upstream: { http: { endpoints: ["${other.url}"] } } }]`,
    );
    try {
      for (let i = 0; i < 6; i++) expect((await send(local.url, "/four/missing")).status).toBe(404);
      expect((await routeView(local, "/four")).breaker.state).toBe("closed");
    } finally {
      await local.stop();
      await other.close();
    }
  });
});

describe("bulkhead", () => {
  it("admits exactly maxConcurrent; the excess gets 503 overloaded at once and never counts against the breaker", async () => {
    const origin = await startOrigin();
    const waiting: ServerResponse[] = [];
    origin.route("/hold", (req, res) => {
      req.resume();
      waiting.push(res);
    });
    const attache = await startAttache(`
routes:
  - prefix: /bh
    circuitBreaker: { maxConcurrent: 3, volumeThreshold: 1, errorThresholdPercentage: 1 }
    upstream: { http: { endpoints: ["${origin.url}"] } }
`);
    try {
      const admitted = [0, 1, 2].map(() => send(attache.url, "/bh/hold"));
      await eventually(() => waiting.length === 3);
      const refusals = await Promise.all([0, 1, 2, 3, 4].map(() => send(attache.url, "/bh/hold")));
      for (const r of refusals) {
        expect(r.status).toBe(503);
        expect(r.headers["x-attache-error"]).toBe("overloaded");
      }
      expect(origin.requests).toBe(3);
      expect((await routeView(attache, "/bh")).inflight).toBe(3);
      for (const res of waiting) res.end("done");
      for (const r of await Promise.all(admitted)) expect(r.status).toBe(200);
      const view = await routeView(attache, "/bh");
      expect(view.breaker.state).toBe("closed");
      expect(view.breaker.window.failures).toBe(0);
      expect(view.inflight).toBe(0);
      origin.route("/", (_req, res) => res.end("fine"));
      expect((await send(attache.url, "/bh/after")).status).toBe(200);
    } finally {
      await attache.stop();
      await origin.close();
    }
  });
});

describe("retries", () => {
  let a: Origin;
  let b: Origin;
  let attache: AttacheUnderTest;
  const hits = new Map<string, number>();

  beforeAll(async () => {
    a = await startOrigin();
    b = await startOrigin();
    /** Fails the first time each path is seen, then answers. */
    a.route("/once", (req, res) => {
      const n = (hits.get(req.url!) ?? 0) + 1;
      hits.set(req.url!, n);
      req.resume();
      res.statusCode = n === 1 ? 503 : 200;
      res.end(`try ${n}`);
    });
    a.route("/always", async (_req, res) => {
      await sleep(80);
      res.statusCode = 503;
      res.end("still down");
    });
    a.route("/sick", (_req, res) => {
      res.statusCode = 503;
      res.end("a is sick");
    });
    b.route("/sick", (_req, res) => res.end("b is fine"));
    attache = await startAttache(`
routes:
  - prefix: /r
    retry: { attempts: 3, on: [503], backoff: 5ms, maxBackoff: 20ms }
    upstream: { http: { endpoints: ["${a.url}"] } }
  - prefix: /deadline
    timeout: 300ms
    retry: { attempts: 10, on: [503], backoff: 1ms, maxBackoff: 1ms }
    upstream: { http: { endpoints: ["${a.url}"] } }
  - prefix: /two
    retry: { attempts: 2, on: [503], backoff: 1ms }
    upstream: { http: { endpoints: ["${a.url}", "${b.url}"], balance: random } }
  - prefix: /plain
    upstream: { http: { endpoints: ["${a.url}"] } }
`);
  });
  afterAll(async () => {
    await attache?.stop();
    await a?.close();
    await b?.close();
  });

  it("a GET that fails once with 503 succeeds after a retry; a POST is not retried", async () => {
    const get = await send(attache.url, "/r/once/get");
    expect(get.status).toBe(200);
    expect(get.text).toBe("try 2");
    const post = await send(attache.url, "/r/once/post", { method: "POST", body: "payload" });
    expect(post.status).toBe(503);
    expect(post.text).toBe("try 1");
    expect(hits.get("/once/post")).toBe(1);
    expect(metricValue(await metrics(attache), "attache_retries_total", 'route="/r"')).toBe(1);
  });

  it("replays a small PUT body on retry", async () => {
    const put = await send(attache.url, "/r/once/put", { method: "PUT", body: "same body twice" });
    expect(put.status).toBe(200);
    expect(hits.get("/once/put")).toBe(2);
  });

  it("does not retry routes without a retry policy", async () => {
    const plain = await send(attache.url, "/plain/once/plain");
    expect(plain.status).toBe(503);
    expect(hits.get("/once/plain")).toBe(1);
  });

  it("stops at the route deadline, whatever attempts says", async () => {
    const before = a.requests;
    const answer = await send(attache.url, "/deadline/always");
    expect([503, 504]).toContain(answer.status);
    const tries = a.requests - before;
    expect(tries).toBeGreaterThanOrEqual(2);
    expect(tries).toBeLessThan(10);
  });

  it("retries on another endpoint when there are several", async () => {
    for (let i = 0; i < 12; i++) {
      const answer = await send(attache.url, "/two/sick");
      expect(answer.status).toBe(200);
      expect(answer.text).toBe("b is fine");
    }
  });
});

describe("keep-alive hygiene", () => {
  it("a pooled socket the upstream closed while idle does not surface as an error (origin keepAliveTimeout short)", async () => {
    const server = createHttpServer((req, res) => {
      req.resume();
      res.end("ok");
    });
    server.keepAliveTimeout = 40;
    const port = await listenOn(server);
    const attache = await startAttache(
      `routes: [{ prefix: /ka, pool: { idleTimeout: 30s }, upstream: { http: { endpoints: ["http://127.0.0.1:${port}"] } } }]`,
    );
    try {
      for (let i = 0; i < 16; i++) {
        expect((await send(attache.url, "/ka/x")).status).toBe(200);
        await sleep(30 + (i % 4) * 5);
      }
    } finally {
      await attache.stop();
      await closeServer(server);
    }
  });

  /**
   * An origin that answers the first request on each connection with keep-alive, then drops the
   * connection when a second request arrives on it, without a byte of answer: exactly the race of an
   * upstream closing an idle socket as attache reuses it, made deterministic.
   */
  async function droppingOrigin(): Promise<{ port: number; connections: () => number; requests: () => number; close(): Promise<void> }> {
    let connections = 0;
    let requests = 0;
    const sockets = new Set<Socket>();
    const server = createNetServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      let seen = 0;
      let buffered = "";
      socket.on("data", (data) => {
        buffered += data.toString("latin1");
        while (buffered.includes("\r\n\r\n")) {
          buffered = buffered.slice(buffered.indexOf("\r\n\r\n") + 4);
          seen++;
          if (seen > 1) {
            socket.destroy();
            return;
          }
          requests++;
          socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok");
        }
      });
      socket.on("error", () => {});
    });
    const port = await listenOn(server);
    return {
      port,
      connections: () => connections,
      requests: () => requests,
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    };
  }

  it("an idempotent request that meets a reset on a reused socket goes again once, on a fresh one", async () => {
    const origin = await droppingOrigin();
    const attache = await startAttache(
      `routes: [{ prefix: /drop, upstream: { http: { endpoints: ["http://127.0.0.1:${origin.port}"] } } }]`,
    );
    try {
      for (let i = 0; i < 4; i++) {
        const answer = await send(attache.url, "/drop/x", { method: i % 2 ? "GET" : "DELETE" });
        expect(answer.status).toBe(200);
      }
      expect(origin.requests()).toBe(4);
      expect(origin.connections()).toBe(4);
    } finally {
      await attache.stop();
      await origin.close();
    }
  });

  it("a POST is never sent twice: it gets 502 upstream_unreachable instead", async () => {
    const origin = await droppingOrigin();
    const attache = await startAttache(
      `routes: [{ prefix: /drop, upstream: { http: { endpoints: ["http://127.0.0.1:${origin.port}"] } } }]`,
    );
    try {
      expect((await send(attache.url, "/drop/x")).status).toBe(200);
      const post = await send(attache.url, "/drop/x", { method: "POST" });
      expect(post.status).toBe(502);
      expect(post.headers["x-attache-error"]).toBe("upstream_unreachable");
      expect(origin.connections()).toBe(1);
    } finally {
      await attache.stop();
      await origin.close();
    }
  });
});

describe("deadline", () => {
  it("aborts the upstream request when the timeout passes: the origin sees the close, no socket is left busy", async () => {
    const origin = await startOrigin();
    let closedAtOrigin = false;
    origin.route("/hang", (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      res.on("close", () => (closedAtOrigin = true));
    });
    const attache = await startAttache(`routes: [{ prefix: /t, timeout: 200ms, upstream: { http: { endpoints: ["${origin.url}"] } } }]`);
    try {
      const answer = await send(attache.url, "/t/hang");
      expect(answer.status).toBe(504);
      expect(answer.headers["x-attache-error"]).toBe("upstream_timeout");
      await eventually(() => closedAtOrigin, 2000);
      const view = await routeView(attache, "/t");
      expect(view.upstream.pool.busy).toBe(0);
      expect(view.inflight).toBe(0);
      expect(metricValue(await metrics(attache), "attache_upstream_errors_total", 'route="/t",reason="upstream_timeout"')).toBe(1);
    } finally {
      await attache.stop();
      await origin.close();
    }
  });

  it("aborts the upstream request when the client goes away", async () => {
    const origin = await startOrigin();
    let closedAtOrigin = false;
    origin.route("/hang", (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      res.on("close", () => (closedAtOrigin = true));
    });
    const attache = await startAttache(`routes: [{ prefix: /gone, timeout: 10s, upstream: { http: { endpoints: ["${origin.url}"] } } }]`);
    try {
      const { request } = await import("node:http");
      const url = new URL(attache.url);
      const req = request({ host: url.hostname, port: url.port, path: "/gone/hang", agent: false });
      req.on("error", () => {});
      req.end();
      await eventually(() => origin.requests === 1);
      req.destroy();
      await eventually(() => closedAtOrigin, 2000);
      await eventually(async () => (await routeView(attache, "/gone")).inflight === 0, 2000);
      expect((await routeView(attache, "/gone")).breaker.window.failures).toBe(0);
      // A client that left says nothing about the upstream.
      expect(
        (await metrics(attache)).split("\n").filter((l) => l.startsWith("attache_upstream_errors_total{") && l.includes('route="/gone"')),
      ).toEqual([]);
    } finally {
      await attache.stop();
      await origin.close();
    }
  });
});

describe("connect timeout", () => {
  /**
   * An endpoint whose connects hang: a child process listens with backlog 1 and then blocks its event
   * loop (Atomics.wait, no CPU), so nothing is accepted; once its accept queue is full the kernel
   * drops further SYNs and a connect neither succeeds nor fails.
   */
  async function blackhole(): Promise<{ url: string; close(): void }> {
    const { spawn } = await import("node:child_process");
    const { connect } = await import("node:net");
    const child = spawn(
      process.execPath,
      [
        "-e",
        `const s = require("node:net").createServer(); s.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => { process.stdout.write(s.address().port + "\\n"); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 8000); process.exit(0); });`,
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    const port = await new Promise<number>((resolve) => child.stdout!.once("data", (d) => resolve(Number(String(d).trim()))));
    const fillers: Socket[] = [];
    // Fill the accept queue until a connect stays pending (bounded).
    for (let i = 0; i < 8; i++) {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => {});
      fillers.push(socket);
      const connected = await Promise.race([
        new Promise<boolean>((r) => socket.once("connect", () => r(true))),
        sleep(150).then(() => false),
      ]);
      if (!connected) break;
    }
    return {
      url: `http://127.0.0.1:${port}`,
      close() {
        for (const s of fillers) s.destroy();
        child.kill();
      },
    };
  }

  it("a connect that does not complete within pool.connectTimeout is upstream_unreachable, and a retry goes elsewhere", async () => {
    const hole = await blackhole();
    const origin = await startOrigin();
    const attache = await startAttache(`
routes:
  - { prefix: /hole, timeout: 5s, pool: { connectTimeout: 200ms }, upstream: { http: { endpoints: ["${hole.url}"] } } }
  - prefix: /around
    timeout: 5s
    pool: { connectTimeout: 200ms }
    retry: { attempts: 2, on: [connect-failure], backoff: 1ms }
    upstream: { http: { endpoints: ["${hole.url}", "${origin.url}"] } }
`);
    try {
      const answer = await send(attache.url, "/hole/x");
      expect(answer.status).toBe(502);
      expect(answer.headers["x-attache-error"]).toBe("upstream_unreachable");
      for (let i = 0; i < 2; i++) expect((await send(attache.url, "/around/x")).status).toBe(200);
      expect(origin.requests).toBe(2);
    } finally {
      await attache.stop();
      await origin.close();
      hole.close();
    }
  });
});

describe("outlier detection", () => {
  it("ejects an endpoint that refuses connections; traffic flows to the others; /routes and attache_endpoints_healthy show it", async () => {
    const origin = await startOrigin();
    const dead = `http://127.0.0.1:${await freePort()}`;
    const attache = await startAttache(`
routes:
  - prefix: /od
    upstream:
      http:
        endpoints: ["${dead}", "${origin.url}"]
        outlierDetection: { consecutiveFailures: 2, ejectionTime: 10s }
`);
    try {
      expect(metricValue(await metrics(attache), "attache_endpoints_healthy", 'route="/od"')).toBe(2);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await send(attache.url, "/od/x")).status);
      // Round-robin: dead, live, dead (second failure in a row: ejected), live.
      expect(statuses).toEqual([502, 200, 502, 200]);
      const view = await routeView(attache, "/od");
      const byId = Object.fromEntries(view.upstream.endpoints.map((e) => [e.endpoint, e]));
      expect(byId[dead]).toMatchObject({ healthy: false, ejections: 1 });
      expect(byId[origin.url]).toMatchObject({ healthy: true });
      expect(metricValue(await metrics(attache), "attache_endpoints_healthy", 'route="/od"')).toBe(1);
      const before = origin.requests;
      for (let i = 0; i < 10; i++) expect((await send(attache.url, "/od/x")).status).toBe(200);
      expect(origin.requests - before).toBe(10);

      // The same story per endpoint in /metrics, and per route the tries and the bytes.
      const text = await metrics(attache);
      const of = (name: string, endpoint: string) => metricValue(text, name, `route="/od",endpoint="${endpoint}"`);
      expect([
        of("attache_endpoint_requests_total", dead),
        of("attache_endpoint_errors_total", dead),
        of("attache_endpoint_ejections_total", dead),
      ]).toEqual([2, 2, 1]);
      expect([
        of("attache_endpoint_requests_total", origin.url),
        of("attache_endpoint_errors_total", origin.url),
        of("attache_endpoint_ejections_total", origin.url),
      ]).toEqual([12, 0, 0]);
      expect(of("attache_endpoint_active_requests", origin.url)).toBe(0);
      expect(of("attache_endpoint_connections", origin.url)).toBeGreaterThanOrEqual(1); // kept alive in the pool
      expect(of("attache_endpoint_connections", dead)).toBe(0);
      expect(metricValue(text, "attache_upstream_attempts_total", 'route="/od"')).toBe(14);
      expect(metricValue(text, "attache_response_bytes_total", 'route="/od"')).toBeGreaterThan(14 * 100);
    } finally {
      await attache.stop();
      await origin.close();
    }
  });

  it("with retry, the app never sees the dead endpoint at all", async () => {
    const origin = await startOrigin();
    const dead = `http://127.0.0.1:${await freePort()}`;
    const attache = await startAttache(`
routes:
  - prefix: /odr
    retry: { attempts: 2, on: [connect-failure], backoff: 1ms }
    upstream: { http: { endpoints: ["${dead}", "${origin.url}"], outlierDetection: { consecutiveFailures: 1, ejectionTime: 10s } } }
`);
    try {
      for (let i = 0; i < 6; i++) expect((await send(attache.url, "/odr/x")).status).toBe(200);
      expect(metricValue(await metrics(attache), "attache_endpoints_healthy", 'route="/odr"')).toBe(1);
    } finally {
      await attache.stop();
      await origin.close();
    }
  });
});

describe("an upstream killed under steady load", () => {
  it("gives fast 503s with Retry-After instead of hanging requests, then recovers by itself after the upstream returns", {
    timeout: 30_000,
  }, async () => {
    let origin = await startOrigin();
    const port = origin.port;
    const resetTimeout = 400;
    const attache = await startAttache(`
routes:
  - prefix: /load
    timeout: 3s
    circuitBreaker: { volumeThreshold: 5, errorThresholdPercentage: 50, resetTimeout: ${resetTimeout}ms, rollingCountTimeout: 2s }
    upstream: { http: { endpoints: ["${origin.url}"] } }
`);
    const log: Array<{ at: number; answer: Answer }> = [];
    let stop = false;
    const until = Date.now() + 15_000;
    // Four clients, one request at a time each, 10ms apart; at most 1500 requests or 15s, whichever first.
    const worker = async () => {
      while (!stop && log.length < 1500 && Date.now() < until) {
        const answer = await send(attache.url, "/load/x").catch(
          (err: Error) => ({ status: -1, headers: {}, text: err.message, json: undefined }) as Answer,
        );
        log.push({ at: Date.now(), answer });
        await sleep(10);
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    try {
      await eventually(() => log.filter((l) => l.answer.status === 200).length >= 10, 5000);
      await origin.close();
      const killedAt = log.length;
      await eventually(() => log.slice(killedAt).filter((l) => l.answer.headers["x-attache-error"] === "circuit_open").length >= 10, 5000);
      expect((await routeView(attache, "/load")).breaker.state).not.toBe("closed");

      // The upstream comes back on the same port.
      const back = createHttpServer((req, res) => {
        req.resume();
        res.end("back");
      });
      await new Promise<void>((resolve) => back.listen(port, "127.0.0.1", resolve));
      origin = { close: () => closeServer(back) } as Origin;
      const returnedAt = log.length;
      await eventually(() => log.slice(returnedAt).filter((l) => l.answer.status === 200).length >= 10, resetTimeout + 3000);
      stop = true;
      await Promise.all(workers);

      const afterKill = log.slice(killedAt);
      for (const { answer } of afterKill) {
        // Nothing hung and nothing else happened: the origin's 200, a 502 while the breaker learns, a 503 once it knows.
        expect([200, 502, 503]).toContain(answer.status);
        if (answer.status === 503) {
          expect(answer.headers["x-attache-error"]).toBe("circuit_open");
          expect(Number(answer.headers["retry-after"])).toBeGreaterThanOrEqual(1);
        }
        if (answer.status === 502) expect(answer.headers["x-attache-error"]).toBe("upstream_unreachable");
      }
      const refusals = afterKill.filter((l) => l.answer.status === 503).length;
      const unreachable = afterKill.filter((l) => l.answer.status === 502).length;
      expect(refusals).toBeGreaterThan(unreachable);
      expect(log.at(-1)!.answer.status).toBe(200);
      expect((await routeView(attache, "/load")).breaker.state).toBe("closed");
    } finally {
      stop = true;
      await Promise.all(workers);
      await attache.stop();
      await origin.close();
    }
  });
});
