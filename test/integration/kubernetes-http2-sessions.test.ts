/**
 * The kubernetes upstream's own HTTP/2 connections (resilience/http2-sessions.ts) against a real
 * node:http2 server over TLS: a GOAWAY moves new requests to a new connection that resumes the TLS
 * session, a stream the server refuses is resent once, the server's SETTINGS_MAX_CONCURRENT_STREAMS
 * opens a second connection rather than exceeding it, request bodies and large responses cross intact
 * with a slow client, and a client that leaves resets its stream.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import {
  constants,
  createSecureServer,
  type Http2SecureServer,
  type Http2Session,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { makeCertificates, type Certificates } from "../harness/fake-kube-api.js";
import { eventually, send } from "../harness/http.js";

const BIG = Buffer.alloc(4 * 1024 * 1024, "0123456789abcdef");
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** What a test wants of the next streams; the default answers 200 with the path and the body's length. */
type Behaviour = (stream: ServerHttp2Stream, path: string, session: Http2Session) => void;

interface H2Server {
  url: string;
  /** TLS connections accepted: ALPN, and whether the TLS session was resumed. */
  connections: Array<{ alpn: string; resumed: boolean }>;
  streams: number;
  /** The SETTINGS attache's last connection sent, and its connection window as the server sees it. */
  client: { initialWindowSize?: number; connectionWindow?: number };
  /** Streams that ended with a RST_STREAM from the client (CANCEL). */
  cancelled: number;
  next: Behaviour[];
  close(): Promise<void>;
}

function answer(stream: ServerHttp2Stream, path: string): void {
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("end", () => {
    if (stream.destroyed) return;
    const body = Buffer.concat(chunks);
    stream.respond({ ":status": 200, "content-type": "application/json" });
    stream.end(JSON.stringify({ path, received: body.length, sha: sha(body) }));
  });
}

async function startH2Server(certs: Certificates, settings: { maxConcurrentStreams?: number } = {}): Promise<H2Server> {
  const server: Http2SecureServer = createSecureServer({
    key: readFileSync(certs.serverKeyFile),
    cert: readFileSync(certs.serverCertFile),
    settings,
  });
  const state: H2Server = {
    url: "",
    connections: [],
    client: {},
    streams: 0,
    cancelled: 0,
    next: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
  const sessions = new Set<ServerHttp2Session>();
  server.on("secureConnection", (socket: TLSSocket) =>
    state.connections.push({ alpn: socket.alpnProtocol || "http/1.1", resumed: socket.isSessionReused() }),
  );
  server.on("session", (s: ServerHttp2Session) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
    s.on("remoteSettings", (settings) => (state.client.initialWindowSize = settings.initialWindowSize));
  });
  server.on("stream", (stream, headers) => {
    state.streams++;
    state.client.connectionWindow = stream.session?.state.remoteWindowSize;
    stream.on("close", () => {
      if (stream.rstCode === constants.NGHTTP2_CANCEL) state.cancelled++;
    });
    stream.on("error", () => {});
    const path = String(headers[":path"]);
    const behaviour = state.next.shift();
    if (behaviour) behaviour(stream, path, stream.session!);
    else answer(stream, path);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  state.url = `https://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return state;
}

describe("HTTP/2 connections of a kubernetes route", () => {
  let certs: Certificates;
  let dir: string;
  let server: H2Server;
  let limited: H2Server;
  let attache: AttacheUnderTest;

  beforeAll(async () => {
    certs = makeCertificates();
    dir = mkdtempSync(join(tmpdir(), "h2-sessions-"));
    writeFileSync(join(dir, "token"), "t0k3n");
    server = await startH2Server(certs);
    limited = await startH2Server(certs, { maxConcurrentStreams: 2 });
    const route = (prefix: string, url: string) =>
      `  - { prefix: ${prefix}, timeout: 5s, upstream: { kubernetes: { server: "${url}", tokenFile: "${join(dir, "token")}", caFile: "${certs.caFile}" } } }`;
    attache = await startAttache(`routes:\n${route("/k8s", server.url)}\n${route("/limited", limited.url)}\n`);
  });

  afterAll(async () => {
    await attache?.stop();
    await server?.close();
    await limited?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    server.next = [];
    limited.next = [];
  });

  it("after a GOAWAY, the next request takes a new connection, which resumes the TLS session", async () => {
    expect((await send(attache.url, "/k8s/api/v1/namespaces")).status).toBe(200);
    const before = server.connections.length;
    server.next.push((stream, path, session) => {
      answer(stream, path);
      stream.on("close", () => session.close());
    });
    expect((await send(attache.url, "/k8s/api/v1/namespaces/a")).status).toBe(200);
    const after = await send<{ path: string }>(attache.url, "/k8s/api/v1/namespaces/b");
    expect(after.status).toBe(200);
    expect(after.json.path).toBe("/api/v1/namespaces/b");
    expect(server.connections.length).toBe(before + 1);
    expect(server.connections.at(-1)).toEqual({ alpn: "h2", resumed: true });
  });

  it("a stream the server refuses (REFUSED_STREAM) is sent again, and the client never sees it", async () => {
    const streams = server.streams;
    server.next.push((stream) => stream.close(constants.NGHTTP2_REFUSED_STREAM));
    const answer = await send<{ path: string }>(attache.url, "/k8s/api/v1/pods");
    expect(answer.status).toBe(200);
    expect(answer.json.path).toBe("/api/v1/pods");
    expect(server.streams - streams).toBe(2);
  });

  it("a stream reset with another code before its head is a 502, not a resend", async () => {
    const streams = server.streams;
    server.next.push((stream) => stream.close(constants.NGHTTP2_INTERNAL_ERROR));
    const answer = await send(attache.url, "/k8s/api/v1/pods");
    expect(answer.status).toBe(502);
    expect(server.streams - streams).toBe(1);
  });

  it("the server's SETTINGS_MAX_CONCURRENT_STREAMS is kept: a third request at once gets a second connection", async () => {
    expect((await send(attache.url, "/limited/api")).status).toBe(200);
    const before = limited.connections.length;
    const held: ServerHttp2Stream[] = [];
    const hold: Behaviour = (stream, path) => {
      held.push(stream);
      stream.on("end", () => {});
      stream.resume();
      (stream as ServerHttp2Stream & { path?: string }).path = path;
    };
    limited.next.push(hold, hold, hold);
    const answers = Promise.all([1, 2, 3].map((i) => send<{ path: string }>(attache.url, `/limited/api/${i}`)));
    await eventually(() => held.length === 3, 5_000);
    for (const stream of held) {
      stream.respond({ ":status": 200, "content-type": "application/json" });
      stream.end(JSON.stringify({ path: (stream as ServerHttp2Stream & { path?: string }).path }));
    }
    const got = await answers;
    expect(got.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(got.map((a) => a.json.path).sort()).toEqual(["/api/1", "/api/2", "/api/3"]);
    expect(limited.connections.length - before).toBe(1);
    expect(limited.connections.every((c) => c.alpn === "h2")).toBe(true);
  });

  it("asks for the flow-control windows undici's client had: 256 KiB a stream, 512 KiB the connection", async () => {
    expect((await send(attache.url, "/k8s/api")).status).toBe(200);
    expect(server.client.initialWindowSize).toBe(256 * 1024);
    // What the server may still send on the connection: 512 KiB less the few bytes in flight, far above HTTP/2's 64 KiB default.
    expect(server.client.connectionWindow).toBeGreaterThan(500 * 1024);
    expect(server.client.connectionWindow).toBeLessThanOrEqual(512 * 1024);
  });

  it("a request body crosses intact as DATA frames", async () => {
    const body = Buffer.alloc(1024 * 1024 + 3, "xyz");
    const answer = await send<{ received: number; sha: string }>(attache.url, "/k8s/api/v1/namespaces/default/configmaps", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": body.length },
      body,
    });
    expect(answer.status).toBe(200);
    expect(answer.json.received).toBe(body.length);
    expect(answer.json.sha).toBe(sha(body));
  });

  it("a 4 MiB response reaches a slow client intact (the stream waits for it)", async () => {
    server.next.push((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/octet-stream" });
      stream.end(BIG);
    });
    const url = new URL(attache.url);
    const received = await new Promise<Buffer>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: "/k8s/api/v1/big", agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.pause();
        // Read nothing for a while: attache holds what it has and the HTTP/2 stream stops at its window.
        setTimeout(() => {
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks)));
          res.resume();
        }, 300);
      });
      req.on("error", reject);
      req.end();
    });
    expect(received.length).toBe(BIG.length);
    expect(sha(received)).toBe(sha(BIG));
  });

  it("a client that leaves mid-response resets its stream (CANCEL), and the connection keeps serving", async () => {
    const cancelled = server.cancelled;
    const connections = server.connections.length;
    server.next.push((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/json" });
      stream.write('{"type":"ADDED"}\n');
    });
    const url = new URL(attache.url);
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: "/k8s/api/v1/pods?watch=true", agent: false }, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => {});
      req.on("close", () => resolve());
      setTimeout(() => reject(new Error("no data within 5 s")), 5_000).unref();
      req.end();
    });
    await eventually(() => server.cancelled > cancelled, 5_000);
    expect((await send(attache.url, "/k8s/api/v1/namespaces")).status).toBe(200);
    expect(server.connections.length).toBe(connections);
  });
});
