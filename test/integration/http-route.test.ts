/**
 * The HTTP data path against real local origins: routing, stripPrefix, segment boundaries,
 * headers, the Host guard, keep-alive reuse, HTTPS with a private CA, bearer token rotation, metrics.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache as startWithConfig, type AttacheUnderTest } from "../harness/attache.js";
import { type AttacheErrorBody, eventually, metricValue, send } from "../harness/http.js";
import { closeServer, listenOn } from "../harness/listen.js";
import { startOrigin, type Echo, type Origin } from "../harness/origin.js";
import { Agent, request } from "node:http";

const startAttache = (yaml: string) => startWithConfig(`admin: 127.0.0.1:0\nlog: { level: error, access: false }\n${yaml}`);

let a: Origin;
let b: Origin;
let attache: AttacheUnderTest;
let tokenDir: string;

beforeAll(async () => {
  a = await startOrigin();
  b = await startOrigin();
  tokenDir = mkdtempSync(join(tmpdir(), "attache-token-"));
  writeFileSync(join(tokenDir, "token"), "first-token\n");
  attache = await startAttache(`
routes:
  - { prefix: /a, upstream: { http: { endpoints: ["${a.url}"] } } }
  - { prefix: /a/deeper, upstream: { http: { endpoints: ["${b.url}"] } } }
  - { prefix: /keep, stripPrefix: false, upstream: { http: { endpoints: ["${a.url}"] } } }
  - { prefix: /based, upstream: { http: { endpoints: ["${b.url}/base/"] } } }
  - prefix: /edit
    upstream: { http: { endpoints: ["${a.url}"] } }
    headers: { set: { X-Team: payments, X-Override: route }, remove: [X-Secret] }
  - prefix: /auth
    upstream: { http: { endpoints: ["${a.url}"], auth: { bearerTokenFile: ${join(tokenDir, "token")} } } }
`);
});

afterAll(async () => {
  await attache?.stop();
  await a?.close();
  await b?.close();
  rmSync(tokenDir, { recursive: true, force: true });
});

describe("routing", () => {
  it.each([
    ["/a/x/y?q=1", "a", "/x/y?q=1"],
    ["/a", "a", "/"],
    ["/a/", "a", "/"],
    ["/a/deeper/z", "b", "/z"],
    ["/a/deeperx", "a", "/deeperx"],
    ["/keep/k", "a", "/keep/k"],
    ["/based/p", "b", "/base/p"],
    ["/a//x/./y/../z", "a", "/x/z"],
    ["/a/%7Euser", "a", "/~user"],
  ])("%s goes to origin %s as %s", async (target, which, forwarded) => {
    const answer = await send<Echo>(attache.url, target);
    expect(answer.status).toBe(200);
    expect(answer.json.url).toBe(forwarded);
    const origin = which === "a" ? a : b;
    expect(answer.json.headers.host).toBe(`127.0.0.1:${origin.port}`);
  });

  it("matches on segment boundaries: /a does not match /ab", async () => {
    const answer = await send(attache.url, "/ab");
    expect(answer.status).toBe(404);
    expect(answer.headers["x-attache-error"]).toBe("no_route");
  });

  it("relays the upstream's status, headers and body as they are", async () => {
    a.route("/teapot", (_req, res) => {
      res.writeHead(418, { "x-origin": "yes", "content-type": "text/plain" });
      res.end("short and stout");
    });
    const answer = await send(attache.url, "/a/teapot");
    expect(answer.status).toBe(418);
    expect(answer.headers["x-origin"]).toBe("yes");
    expect(answer.text).toBe("short and stout");
    expect(answer.headers["x-attache-error"]).toBeUndefined();
  });

  it("forwards methods and bodies", async () => {
    const answer = await send(attache.url, "/a/things", { method: "POST", body: "hello", headers: { "content-type": "text/plain" } });
    expect(answer.json).toMatchObject({ method: "POST", url: "/things", body: "hello" });
    const chunked = await send(attache.url, "/a/things", {
      method: "PUT",
      body: (await import("node:stream")).Readable.from(["x", "y", "z"]),
    });
    expect(chunked.json).toMatchObject({ method: "PUT", body: "xyz" });
  });

  it("takes a body sent with Expect: 100-continue (curl does so above 1 KiB) and sends it on without the Expect", async () => {
    const answer = await new Promise<{ status: number; json: { method: string; body: string; headers: Record<string, string> } }>(
      (resolve, reject) => {
        const req = request(`${attache.url}/a/upload`, {
          method: "POST",
          headers: { expect: "100-continue", "content-type": "text/plain", "content-length": "5" },
        });
        req.once("continue", () => req.end("hello"));
        req.once("response", (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk));
          res.once("end", () => resolve({ status: res.statusCode!, json: JSON.parse(body) }));
        });
        req.once("error", reject);
      },
    );
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ method: "POST", body: "hello" });
    expect(answer.json.headers.expect).toBeUndefined();
  });
});

describe("headers", () => {
  it("sets x-forwarded-*, keeps traceparent and removes hop-by-hop headers", async () => {
    const answer = await send<Echo>(attache.url, "/a/h", {
      headers: {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        connection: "keep-alive, x-hop",
        "x-hop": "must go",
        "keep-alive": "timeout=5",
        "proxy-authorization": "Basic Zm9vOmJhcg==",
        te: "trailers",
        "x-forwarded-for": "10.1.2.3",
      },
    });
    const h = answer.json.headers;
    expect(h.traceparent).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    // Set, not appended to: the app's own claim never reaches the upstream.
    expect(h["x-forwarded-for"]).toBe("127.0.0.1");
    expect(h["x-forwarded-proto"]).toBe("http");
    expect(h["x-forwarded-host"]).toBe(attache.url.replace("http://", ""));
    expect(h["x-hop"]).toBeUndefined();
    expect(h["keep-alive"]).toBeUndefined();
    expect(h["proxy-authorization"]).toBeUndefined();
    expect(h.te).toBeUndefined();
  });

  it("removes hop-by-hop headers from the response too", async () => {
    a.route("/hop-response", (_req, res) => {
      res.setHeader("connection", "keep-alive, x-hop-res");
      res.setHeader("x-hop-res", "no");
      res.setHeader("x-end", "yes");
      res.end("ok");
    });
    const answer = await send(attache.url, "/a/hop-response");
    expect(answer.headers["x-hop-res"]).toBeUndefined();
    expect(answer.headers["x-end"]).toBe("yes");
  });

  it("keeps a sane x-request-id, echoes it, and mints one otherwise", async () => {
    const kept = await send<Echo>(attache.url, "/a/id", { headers: { "x-request-id": "req-42.abc" } });
    expect(kept.json.headers["x-request-id"]).toBe("req-42.abc");
    expect(kept.headers["x-request-id"]).toBe("req-42.abc");
    const minted = await send<Echo>(attache.url, "/a/id");
    expect(minted.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(minted.json.headers["x-request-id"]).toBe(minted.headers["x-request-id"]);
    const insane = await send(attache.url, "/a/id", { headers: { "x-request-id": "bad id with spaces" } });
    expect(insane.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const refused = await send(attache.url, "/nowhere", { headers: { "x-request-id": "err-1" } });
    expect(refused.headers["x-request-id"]).toBe("err-1");
  });

  it("applies the route's headers.set and headers.remove", async () => {
    const answer = await send<Echo>(attache.url, "/edit/e", {
      headers: { "x-secret": "s3cr3t", "x-override": "client", "x-other": "kept" },
    });
    const h = answer.json.headers;
    expect(h["x-team"]).toBe("payments");
    expect(h["x-override"]).toBe("route");
    expect(h["x-secret"]).toBeUndefined();
    expect(h["x-other"]).toBe("kept");
  });

  it("passes the client's Authorization on routes without credentials", async () => {
    const answer = await send<Echo>(attache.url, "/a/authz", { headers: { authorization: "Bearer app-token" } });
    expect(answer.json.headers.authorization).toBe("Bearer app-token");
  });

  it("sends the endpoint's authority as Host, brackets and all for an IPv6 endpoint", async () => {
    const v6 = await startOrigin("::1");
    const local = await startAttache(`routes:\n  - { prefix: /v6, upstream: { http: { endpoints: ["http://[::1]:${v6.port}"] } } }\n`);
    try {
      const answer = await send<Echo>(local.url, "/v6/x");
      expect(answer.json.headers.host).toBe(`[::1]:${v6.port}`);
      expect((await send<Echo>(attache.url, "/a/host")).json.headers.host).toBe(`127.0.0.1:${a.port}`);
    } finally {
      await local.stop();
      await v6.close();
    }
  });
});

describe("Host guard (DNS rebinding)", () => {
  it.each(["localhost", "localhost:8001", "127.0.0.1", "LOCALHOST", "[::1]:8001"])("accepts Host %s", async (host) => {
    const answer = await send(attache.url, "/a/host", { headers: { host } });
    expect(answer.status).toBe(200);
  });

  it.each(["evil.example", "evil.example:8001", "localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.1"])(
    "refuses Host %s with 403 host_not_allowed",
    async (host) => {
      const before = a.requests;
      const answer = await send<AttacheErrorBody>(attache.url, "/a/host", { headers: { host } });
      expect(answer.status).toBe(403);
      expect(answer.headers["x-attache-error"]).toBe("host_not_allowed");
      expect(answer.json.error.code).toBe("host_not_allowed");
      expect(a.requests).toBe(before);
    },
  );
});

describe("connection persistence", () => {
  it("reuses one upstream connection for sequential requests", async () => {
    const origin = await startOrigin();
    const local = await startAttache(`routes: [{ prefix: /p, upstream: { http: { endpoints: ["${origin.url}"] } } }]`);
    const client = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 20; i++) {
        const answer = await send(local.url, `/p/${i}`, {
          agent: i % 2 ? client : false,
          method: i % 3 ? "GET" : "POST",
          body: i % 3 ? undefined : "x",
        });
        expect(answer.status).toBe(200);
      }
      expect(origin.requests).toBe(20);
      expect(origin.connections).toBe(1);
    } finally {
      client.destroy();
      await local.stop();
      await origin.close();
    }
  });

  it("round-robins over several endpoints, each with its own kept-alive connection", async () => {
    const o1 = await startOrigin();
    const o2 = await startOrigin();
    const local = await startAttache(`routes: [{ prefix: /rr, upstream: { http: { endpoints: ["${o1.url}", "${o2.url}"] } } }]`);
    try {
      for (let i = 0; i < 10; i++) expect((await send(local.url, "/rr/x")).status).toBe(200);
      expect(o1.requests).toBe(5);
      expect(o2.requests).toBe(5);
      expect(o1.connections + o2.connections).toBe(2);
    } finally {
      await local.stop();
      await o1.close();
      await o2.close();
    }
  });

  it("opens a connection per request with pool.keepAlive: false", async () => {
    const origin = await startOrigin();
    const local = await startAttache(
      `routes: [{ prefix: /p, pool: { keepAlive: false }, upstream: { http: { endpoints: ["${origin.url}"] } } }]`,
    );
    try {
      for (let i = 0; i < 3; i++) expect((await send(local.url, "/p/x")).status).toBe(200);
      expect(origin.connections).toBe(3);
    } finally {
      await local.stop();
      await origin.close();
    }
  });
});

describe("HTTPS upstream with its own CA", () => {
  let dir: string;
  let server: ReturnType<typeof createHttpsServer>;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "attache-tls-"));
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    ssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
      "-subj",
      "/CN=attache test CA",
    );
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=origin.test");
    writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:origin.test,DNS:localhost,IP:127.0.0.1\n");
    ssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    );
    server = createHttpsServer({ key: readFileSync(join(dir, "server.key")), cert: readFileSync(join(dir, "server.crt")) }, (req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ url: req.url, tls: true, servername: (req.socket as import("node:tls").TLSSocket).servername ?? null }));
    });
    port = await listenOn(server);
  });

  afterAll(async () => {
    await closeServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it("verifies the upstream against caFile and keeps the TLS connection alive", async () => {
    let connections = 0;
    server.on("secureConnection", () => connections++);
    const local = await startAttache(`
routes:
  - { prefix: /tls, upstream: { http: { endpoints: ["https://127.0.0.1:${port}"], tls: { caFile: ${join(dir, "ca.crt")} } } } }
  - { prefix: /sni, upstream: { http: { endpoints: ["https://127.0.0.1:${port}"], tls: { caFile: ${join(dir, "ca.crt")}, servername: origin.test } } } }
  - { prefix: /noca, upstream: { http: { endpoints: ["https://127.0.0.1:${port}"] } } }
`);
    try {
      for (let i = 0; i < 3; i++) {
        const answer = await send(local.url, "/tls/secure");
        expect(answer.status).toBe(200);
        expect(answer.json).toMatchObject({ url: "/secure", tls: true });
      }
      expect(connections).toBe(1);
      const sni = await send(local.url, "/sni/x");
      expect(sni.json).toMatchObject({ url: "/x", servername: "origin.test" });
      // Without the CA the certificate is not trusted: 502, and nothing about files or keys in the answer.
      const untrusted = await send(local.url, "/noca/x");
      expect(untrusted.status).toBe(502);
      expect(untrusted.headers["x-attache-error"]).toBe("upstream_unreachable");
      expect(untrusted.text).not.toContain(dir);
    } finally {
      await local.stop();
    }
  });
});

describe("bearer token from a file", () => {
  it("replaces the client's Authorization with the route's token", async () => {
    const answer = await send<Echo>(attache.url, "/auth/x", { headers: { authorization: "Basic YXBwOnB3" } });
    expect(answer.json.headers.authorization).toBe("Bearer first-token");
  });

  it("uses the new token once the file is replaced (Kubernetes rotation is an atomic swap)", async () => {
    const file = join(tokenDir, "token");
    writeFileSync(`${file}.new`, "second-token\n");
    renameSync(`${file}.new`, file);
    const seen = await eventually(async () => {
      const answer = await send<Echo>(attache.url, "/auth/x");
      return answer.json.headers.authorization === "Bearer second-token" && answer.json.headers.authorization;
    });
    expect(seen).toBe("Bearer second-token");
  });

  it("never shows the token in /routes", async () => {
    const routes = await send(attache.adminUrl, "/routes");
    expect(routes.text).not.toContain("second-token");
    expect(routes.text).not.toContain("first-token");
  });
});

describe("metrics after traffic", () => {
  it("counts requests by route, method and code, with durations, errors and in-flight", async () => {
    await send(attache.url, "/a/m");
    await send(attache.url, "/a/m", { method: "DELETE" });
    await send(attache.url, "/nowhere");
    const text = (await send(attache.adminUrl, "/metrics")).text;
    expect(metricValue(text, "attache_requests_total", 'route="/a",method="GET",code="200"')).toBeGreaterThan(0);
    expect(metricValue(text, "attache_requests_total", 'route="/a",method="DELETE",code="200"')).toBe(1);
    expect(metricValue(text, "attache_request_duration_seconds_count", 'route="/a"')).toBeGreaterThan(0);
    expect(metricValue(text, "attache_inflight_requests", 'route="/a"')).toBe(0);
    expect(metricValue(text, "attache_circuit_state", 'route="/a"')).toBe(0);
    expect(metricValue(text, "attache_endpoints_healthy", 'route="/a"')).toBe(1);
    expect(text).toContain("process_cpu_seconds_total");
  });

  it("keeps attache_inflight_requests at zero after refused requests", async () => {
    const local = await startAttache(
      `routes: [{ prefix: /r, methods: [GET], deny: [{ path: "^/no" }], maxBodySize: 10, upstream: { http: { endpoints: ["${a.url}"] } } }]`,
    );
    try {
      await send(local.url, "/r/x", { method: "POST" });
      await send(local.url, "/r/no");
      await send(local.url, "/r/x", { body: "more than ten bytes" });
      const text = (await send(local.adminUrl, "/metrics")).text;
      expect(metricValue(text, "attache_inflight_requests", 'route="/r"')).toBe(0);
      expect(metricValue(text, "attache_requests_total", 'route="/r",method="POST",code="405"')).toBe(1);
    } finally {
      await local.stop();
    }
  });
});

describe("access log", () => {
  it("writes one line per request with route, method, path, status, duration, upstream and request id; log.access: false turns it off", async () => {
    const { vi } = await import("vitest");
    const logging = await import("../../src/observability/log.js");
    const on = await startWithConfig(
      `admin: 127.0.0.1:0\nlog: { level: info, access: true }\nroutes: [{ prefix: /logged, upstream: { http: { endpoints: ["${a.url}"] } } }]`,
    );
    const spy = vi.spyOn(logging.log, "info").mockImplementation(() => undefined);
    try {
      await send(on.url, "/logged/x?y=1", { headers: { "x-request-id": "log-1" } });
      await eventually(() => spy.mock.calls.some((c) => c[1] === "access"));
      const line = spy.mock.calls.find((c) => c[1] === "access")![0] as unknown as Record<string, unknown>;
      expect(line).toMatchObject({
        route: "/logged",
        method: "GET",
        path: "/logged/x?y=1",
        status: 200,
        upstream: a.url,
        requestId: "log-1",
        attempts: 1,
        error: undefined,
      });
      expect(typeof line.durationMs).toBe("number");
      expect(line.upstreamMs).toBeGreaterThanOrEqual(0);
      expect(line.bytesOut).toBeGreaterThan(0); // the response as written: status line, headers and body

      // A refusal: attache's error code, no upstream try.
      spy.mockClear();
      await send(on.url, "/logged/y", { method: "POST", headers: { "content-length": String(20 * 1024 * 1024) } }).catch(() => undefined);
      await eventually(() => spy.mock.calls.some((c) => c[1] === "access"));
      const refused = spy.mock.calls.find((c) => c[1] === "access")![0] as unknown as Record<string, unknown>;
      expect(refused).toMatchObject({ status: 413, error: "body_too_large", attempts: undefined, bytesIn: 20 * 1024 * 1024 });
    } finally {
      spy.mockRestore();
      await on.stop();
    }
    const off = await startWithConfig(
      `admin: 127.0.0.1:0\nlog: { level: info, access: false }\nroutes: [{ prefix: /quiet, upstream: { http: { endpoints: ["${a.url}"] } } }]`,
    );
    const quiet = vi.spyOn(logging.log, "info").mockImplementation(() => undefined);
    try {
      await send(off.url, "/quiet/x");
      await new Promise((r) => setTimeout(r, 50));
      expect(quiet.mock.calls.filter((c) => c[1] === "access")).toEqual([]);
    } finally {
      quiet.mockRestore();
      await off.stop();
    }
  });
});

describe("least-request", () => {
  it("counts a request until its response body is over, so a long response steers traffic to the other endpoint", async () => {
    const slow = await startOrigin();
    const fast = await startOrigin();
    let finish!: () => void;
    slow.route("/", (_req, res) => {
      res.writeHead(200);
      res.write("started;");
      finish = () => res.end("done");
    });
    const local = await startAttache(
      `routes: [{ prefix: /lr, upstream: { http: { endpoints: ["${slow.url}", "${fast.url}"], balance: least-request } } }]`,
    );
    try {
      const { request } = await import("node:http");
      const url = new URL(local.url);
      const long = new Promise<string>((resolve) => {
        request({ host: url.hostname, port: url.port, path: "/lr/long", agent: false }, (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve(text));
        }).end();
      });
      await eventually(() => slow.requests === 1);
      for (let i = 0; i < 5; i++) expect((await send(local.url, "/lr/short")).status).toBe(200);
      expect(fast.requests).toBe(5);
      finish();
      expect(await long).toBe("started;done");
    } finally {
      await local.stop();
      await slow.close();
      await fast.close();
    }
  });
});
