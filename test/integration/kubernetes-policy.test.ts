/**
 * Kubernetes route behaviour on the wire: the default deny against bypass attempts (encodings,
 * slashes, dots, case, parameters), upgrades (WebSocket and SPDY) once a route lifts it, Status
 * bodies for attache's own errors, API server errors and 429s passed through unchanged, and
 * watch / follow streams that outlast the route timeout.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { pod, startFakeKubeApi, status, type FakeKubeApi } from "../harness/fake-kube-api.js";

let fake: FakeKubeApi;
let attache: AttacheUnderTest;
let host: string;
let port: number;

beforeAll(async () => {
  fake = await startFakeKubeApi({ logInterval: 100 });
  const conn = `{ server: "${fake.url}", tokenFile: "${fake.volume.tokenFile}", caFile: "${fake.certs.caFile}" }`;
  attache = await startAttache(`
admin: 127.0.0.1:0
routes:
  - prefix: /k8s
    timeout: 1s
    maxBodySize: 1kb
    upstream: { kubernetes: ${conn} }
  - prefix: /ops
    deny: []
    upstream: { kubernetes: ${conn} }
  - prefix: /readonly
    methods: [GET]
    deny: [{ path: "^/api/v1/secrets" }]
    upstream: { kubernetes: ${conn} }
  - prefix: /nostream
    timeout: 1s
    streaming: false
    upstream: { kubernetes: ${conn} }
`);
  const u = new URL(attache.url);
  host = u.hostname;
  port = Number(u.port);
});

afterAll(async () => {
  await attache?.stop();
  await fake?.close();
});

/** One request with the target sent byte for byte (fetch would normalise it first). */
function raw(
  target: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    let data = "";
    socket.on("data", (c) => (data += c.toString()));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head = "", body = ""] = data.split("\r\n\r\n");
      resolve({ status: Number(head.split(" ")[1]), head, body });
    });
    const lines = Object.entries({ host: `127.0.0.1:${port}`, connection: "close", ...headers }).map(([k, v]) => `${k}: ${v}`);
    socket.write(`${method} ${target} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`);
  });
}

const POD = "/k8s/api/v1/namespaces/default/pods/web-1";

describe("default deny: exec, attach, portforward", () => {
  const denied = [
    `${POD}/exec`,
    `${POD}/exec/`,
    `${POD}/exec?command=sh&stdin=true`,
    `${POD}/EXEC`,
    `${POD}/Exec`,
    `${POD}/%65xec`,
    `${POD}/%65%78%65%63`,
    `${POD}/%2565xec`,
    `${POD}/exec;x=1`,
    `${POD}/exec.`,
    `${POD}//exec`,
    `${POD}/./exec`,
    `${POD}/log/../exec`,
    `/k8s//api/v1/namespaces/default/pods/web-1/exec`,
    `/k8s/api/v1/namespaces/default/pods/x/../web-1/exec`,
    `/k8s/api/v1/pods/web-1/exec`,
    `${POD}/attach`,
    `${POD}/ATTACH?stdin=true`,
    `${POD}/portforward`,
    `${POD}/PortForward?ports=80`,
    `/k8s/api/v1/nodes/node-1/proxy/exec/default/web-1/app`,
    `/k8s/api/v1/nodes/node-1/proxy/run/default/web-1/app`,
  ];
  for (const target of denied) {
    it(`refuses ${target} with a Forbidden Status`, async () => {
      for (const method of ["GET", "POST"]) {
        const res = await raw(target, {}, method);
        expect(res.status, `${method} ${target}`).toBe(403);
        expect(JSON.parse(res.body)).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "Forbidden", code: 403 });
      }
    });
  }

  it("refuses encoded slashes and dots with 400 bad_request", async () => {
    // Refused while normalising, before any route is chosen: attache's JSON error body, not a Status.
    for (const target of [`${POD}%2Fexec`, `${POD}/exec%2F`, `${POD}/%2E/exec`, `/k8s/api/v1/namespaces/default/pods/web-1%2f..%2fexec`]) {
      const res = await raw(target);
      expect(res.status, target).toBe(400);
      expect(res.head).toMatch(/x-attache-error: bad_request/i);
    }
  });

  it("leaves other subresources and look-alike names alone", async () => {
    expect((await raw(`${POD}/log`)).status).toBe(200);
    // A pod called "exec" is not the exec subresource.
    const named = await raw("/k8s/api/v1/namespaces/default/pods/exec");
    expect(named.status).toBe(404);
    expect(JSON.parse(named.body)).toMatchObject({ reason: "NotFound", message: 'pods "exec" not found' });
    expect((await raw("/k8s/api/v1/namespaces/default/pods/exec/log")).status).toBe(404);
  });

  it("refuses a WebSocket exec upgrade with a Forbidden Status", async () => {
    const res = await raw(`${POD}/exec?command=sh`, {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ kind: "Status", reason: "Forbidden" });
  });

  it("a route's own deny replaces the default", async () => {
    const res = await raw("/readonly/api/v1/namespaces/default/pods/web-1/log");
    expect(res.status).toBe(200);
    const routes = (await (await fetch(`${attache.adminUrl}/routes`)).json()) as {
      routes: Array<{ prefix: string; policies: { deny: string[] } }>;
    };
    const deny = (p: string) => routes.routes.find((r) => r.prefix === p)!.policies.deny;
    expect(deny("/k8s")).toHaveLength(2);
    expect(deny("/ops")).toEqual([]);
    expect(deny("/readonly")).toEqual(["^/api/v1/secrets"]);
  });
});

describe("upgrades when the deny is lifted", () => {
  it("WebSocket exec reaches the API server with attache's token and carries messages both ways", async () => {
    const ws = new WebSocket(`ws://${host}:${port}/ops/api/v1/namespaces/default/pods/web-1/exec?command=sh`, {
      headers: { authorization: "Bearer client-made-up" },
    });
    const messages: string[] = [];
    ws.on("message", (m) => messages.push(m.toString()));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.send("ls /");
    await until(
      () => messages.length >= 2,
      5_000,
      () => messages.join(","),
    );
    expect(messages).toEqual(["exec default/web-1", "ls /"]);
    ws.close();
    const upgrade = fake.requests.filter((r) => r.url.startsWith("/api/v1/namespaces/default/pods/web-1/exec")).at(-1)!;
    expect(upgrade).toMatchObject({ status: 101, user: "system:serviceaccount:default:app" });
  });

  it("SPDY portforward gets 101 and a raw byte stream", async () => {
    const socket = connect(port, host);
    let data = "";
    socket.on("data", (c) => (data += c.toString()));
    socket.write(
      `POST /ops/api/v1/namespaces/default/pods/web-1/portforward HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: Upgrade\r\nupgrade: SPDY/3.1\r\nx-stream-protocol-version: portforward.k8s.io\r\ncontent-length: 0\r\n\r\n`,
    );
    await until(
      () => data.includes("portforward default/web-1"),
      5_000,
      () => data,
    );
    expect(data).toMatch(/^HTTP\/1\.1 101/);
    socket.write("ping-bytes");
    await until(
      () => data.includes("ping-bytes"),
      5_000,
      () => data,
    );
    socket.destroy();
  });
});

describe("upgrades the API server refuses", () => {
  it("its answer comes back as it was sent", async () => {
    const res = await raw("/ops/api/v1/namespaces/default/pods/web-1/log", {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    });
    expect(res.status).toBe(400);
    expect(res.head).not.toMatch(/x-attache-error/i);
    expect(JSON.parse(res.body)).toMatchObject({ kind: "Status", reason: "BadRequest", message: "upgrade not supported here" });
  });
});

describe("errors", () => {
  it("attache's own errors are Status objects with Kubernetes reasons", async () => {
    const post = await fetch(`${attache.url}/readonly/api/v1/namespaces/default/pods`, { method: "POST", body: "{}" });
    expect(post.status).toBe(405);
    expect(await post.json()).toMatchObject({ kind: "Status", code: 405, reason: "MethodNotAllowed" });

    const big = await fetch(`${attache.url}/k8s/api/v1/namespaces/default/pods`, {
      method: "POST",
      body: "x".repeat(4096),
      headers: { "content-type": "application/json" },
    });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ kind: "Status", code: 413, reason: "RequestEntityTooLarge" });

    fake.before(/^GET \/api\/v1\/namespaces\/default\/pods\?slow$/, () => new Promise((r) => setTimeout(r, 1_500)));
    const slow = await fetch(`${attache.url}/k8s/api/v1/namespaces/default/pods?slow`);
    expect(slow.status).toBe(504);
    expect(await slow.json()).toMatchObject({ kind: "Status", code: 504, reason: "Timeout" });
  });

  it("API server errors pass through unchanged", async () => {
    const body = status(500, "InternalError", "etcdserver: request timed out");
    fake.inject(/\?fail500$/, { status: 500, body });
    const res = await fetch(`${attache.url}/k8s/api/v1/namespaces/default/pods?fail500`);
    expect(res.status).toBe(500);
    expect(res.headers.get("x-attache-error")).toBeNull();
    expect(await res.json()).toEqual(body);

    const created = await fetch(`${attache.url}/k8s/api/v1/namespaces/default/pods`, {
      method: "POST",
      body: JSON.stringify(pod("web-1")),
    });
    expect(created.status).toBe(409);
    expect(await created.json()).toMatchObject({ kind: "Status", reason: "AlreadyExists" });
  });

  it("429 is relayed with its Retry-After and does not count against the breaker", async () => {
    const body = status(429, "TooManyRequests", "Too many requests, please try again later.", { retryAfterSeconds: 7 });
    fake.inject(/\?throttled$/, { status: 429, headers: { "retry-after": "7" }, body }, 25);
    for (let i = 0; i < 25; i++) {
      const res = await fetch(`${attache.url}/ops/api/v1/namespaces/default/pods?throttled`);
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("7");
      expect(await res.json()).toEqual(body);
    }
    const routes = (await (await fetch(`${attache.adminUrl}/routes`)).json()) as {
      routes: Array<{ prefix: string; breaker: { state: string; window: { failures: number } } }>;
    };
    const breaker = routes.routes.find((r) => r.prefix === "/ops")!.breaker;
    expect(breaker.state).toBe("closed");
    expect(breaker.window.failures).toBe(0);
    expect((await fetch(`${attache.url}/ops/api/v1/namespaces/default/pods`)).status).toBe(200);
  });
});

describe("long-running requests", () => {
  it("watch=true outlasts the route timeout, flushes each event, and closes upstream when the client leaves", async () => {
    const controller = new AbortController();
    const res = await fetch(`${attache.url}/k8s/api/v1/namespaces/default/pods?watch=true`, { signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = "";
    const readUntil = async (re: RegExp) => {
      const end = Date.now() + 5_000;
      while (!re.test(text)) {
        if (Date.now() > end) throw new Error(`no ${re} in ${text}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended: ${text}`);
        text += new TextDecoder().decode(value);
      }
    };
    await readUntil(/"name":"web-2"/);
    await new Promise((r) => setTimeout(r, 1_300));
    fake.store.apply(pod("watch-1"));
    await readUntil(/"type":"ADDED","object":\{[^\n]*"name":"watch-1"/);
    controller.abort();
    await until(
      () => fake.openStreams === 0,
      5_000,
      () => `${fake.openStreams} streams open`,
    );
    fake.store.delete("v1", "Pod", "default", "watch-1");
  });

  it("follow=true logs keep flowing past the route timeout", async () => {
    const controller = new AbortController();
    const res = await fetch(`${attache.url}${POD}/log?follow=true`, { signal: controller.signal });
    const reader = res.body!.getReader();
    let text = "";
    const started = Date.now();
    while (Date.now() - started < 1_500) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`log stream ended after ${Date.now() - started}ms: ${text}`);
      text += new TextDecoder().decode(value);
    }
    expect(text.split("\n").length).toBeGreaterThan(5);
    controller.abort();
  });

  it("streaming: false on the route puts watches back under the timeout", async () => {
    const res = await fetch(`${attache.url}/nostream/api/v1/namespaces/default/pods?watch=true`);
    expect(res.status).toBe(200);
    const outcome = await res.text().then(
      () => "ended",
      () => "cut",
    );
    expect(outcome).toBe("cut");
  });
});

async function until(check: () => boolean, ms: number, why: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out: ${why()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
