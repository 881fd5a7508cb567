/**
 * Streaming through attache: chunked responses, server-sent events as they come, WebSocket
 * upgrades, `streaming: true` past `timeout`, and a 200 MB upload that is never buffered whole.
 */
import { request, type IncomingMessage, type ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { startAttache as startWithConfig, type AttacheUnderTest } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { startOrigin, type Origin } from "../harness/origin.js";
import { createServer } from "node:net";
import { listenOn } from "../harness/listen.js";

const startAttache = (yaml: string) => startWithConfig(`admin: 127.0.0.1:0\nlog: { level: error, access: false }\n${yaml}`);

let origin: Origin;
let attache: AttacheUnderTest;
let wss: WebSocketServer;
let deadPort: number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  origin = await startOrigin();
  wss = new WebSocketServer({ server: origin.server });
  wss.on("connection", (ws, req) => {
    ws.send(`hello ${req.url} ${req.headers["x-request-id"] ? "with-id" : "no-id"}`);
    ws.on("message", (data, binary) => ws.send(data, { binary }));
  });
  const probe = createServer();
  deadPort = await listenOn(probe);
  await new Promise((r) => probe.close(r));
  attache = await startAttache(`
routes:
  - { prefix: /s, upstream: { http: { endpoints: ["${origin.url}"] } } }
  - { prefix: /short, timeout: 300ms, upstream: { http: { endpoints: ["${origin.url}"] } } }
  - { prefix: /watch, timeout: 300ms, streaming: true, upstream: { http: { endpoints: ["${origin.url}"] } } }
  - { prefix: /ws-denied, deny: [{ path: "^/secret" }], upstream: { http: { endpoints: ["${origin.url}"] } } }
  - { prefix: /ws-dead, upstream: { http: { endpoints: ["http://127.0.0.1:${deadPort}"] } } }
  - { prefix: /big, maxBodySize: 300mb, timeout: 60s, upstream: { http: { endpoints: ["${origin.url}"] } } }
`);
});

afterAll(async () => {
  await attache?.stop();
  wss?.close();
  await origin?.close();
});

/** GET through attache; calls onChunk for each body chunk as it arrives; resolves at the end (or with the error). */
function stream(path: string, onChunk: (text: string) => void): Promise<{ res: IncomingMessage; error?: Error }> {
  const url = new URL(attache.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, agent: false }, (res) => {
      res.setEncoding("utf8");
      res.on("data", onChunk);
      res.on("end", () => resolve({ res }));
      res.on("error", (error) => resolve({ res, error }));
      res.on("aborted", () => resolve({ res, error: new Error("aborted") }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("chunked responses", () => {
  it("pass chunk by chunk, each reaching the client before the origin writes the next", async () => {
    let next!: () => void;
    origin.route("/chunks", async (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      for (let i = 0; i < 4; i++) {
        res.write(`chunk-${i};`);
        await new Promise<void>((r) => (next = r));
      }
      res.end("done");
    });
    const seen: string[] = [];
    const { res } = await stream("/s/chunks", (text) => {
      seen.push(text);
      next();
    });
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    expect(seen.join("")).toBe("chunk-0;chunk-1;chunk-2;chunk-3;done");
    expect(seen.length).toBeGreaterThanOrEqual(4);
  });
});

describe("server-sent events", () => {
  it("passes each event as it comes: the first is received before the origin sends the second", async () => {
    let clientHasFirst!: () => void;
    const firstReceived = new Promise<void>((r) => (clientHasFirst = r));
    let secondSentAfterFirstReceived = false;
    let received = 0;
    origin.route("/events", async (_req, res: ServerResponse) => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write("data: one\n\n");
      await firstReceived;
      secondSentAfterFirstReceived = received === 1;
      res.write("data: two\n\n");
      res.end();
    });
    let text = "";
    const { res } = await stream("/s/events", (chunk) => {
      text += chunk;
      if (text.includes("data: one\n\n") && received === 0) {
        received = 1;
        clientHasFirst();
      }
    });
    expect(res.headers["content-type"]).toBe("text/event-stream");
    expect(secondSentAfterFirstReceived).toBe(true);
    expect(text).toBe("data: one\n\ndata: two\n\n");
  });
});

describe("WebSocket", () => {
  it("echoes through an upgrade, with the prefix stripped and x-request-id set", async () => {
    const ws = new WebSocket(`${attache.url.replace("http", "ws")}/s/chat?room=1`);
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on("message", (data) => {
        messages.push(data.toString());
        if (messages.length === 1) ws.send("ping through attache");
        else resolve();
      });
      ws.on("error", reject);
    });
    ws.close();
    expect(messages).toEqual(["hello /chat?room=1 with-id", "ping through attache"]);
  });

  it("carries binary frames both ways", async () => {
    const ws = new WebSocket(`${attache.url.replace("http", "ws")}/s/bin`);
    const payload = Buffer.from([0, 1, 2, 250, 255]);
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      let first = true;
      ws.on("message", (data) => {
        if (first) {
          first = false;
          ws.send(payload);
        } else resolve(data as Buffer);
      });
      ws.on("error", reject);
    });
    ws.close();
    expect(Buffer.compare(echoed, payload)).toBe(0);
  });

  it("applies policy and the Host guard to upgrades", async () => {
    const denied = await upgradeStatus("/ws-denied/secret");
    expect(denied).toMatchObject({ status: 403, code: "path_denied" });
    const host = await upgradeStatus("/s/chat", { host: "evil.example" });
    expect(host).toMatchObject({ status: 403, code: "host_not_allowed" });
  });

  it("answers 502 upstream_unreachable when the upstream refuses the connection", async () => {
    const dead = await upgradeStatus("/ws-dead/chat");
    expect(dead).toMatchObject({ status: 502, code: "upstream_unreachable" });
  });
});

/** Try an upgrade; resolve with the refusal's status and x-attache-error, or status 101. */
function upgradeStatus(path: string, headers: Record<string, string> = {}): Promise<{ status: number; code?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${attache.url.replace("http", "ws")}${path}`, { headers });
    ws.on("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0, code: res.headers["x-attache-error"] as string });
      res.resume();
      ws.terminate();
    });
    ws.on("open", () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.on("error", (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

describe("timeout and streaming", () => {
  /** Headers at once, then a chunk every 100ms for about 700ms: longer than the routes' 300ms timeout. */
  function slowBody(closed: { value: boolean }) {
    return async (_req: IncomingMessage, res: ServerResponse) => {
      res.on("close", () => (closed.value = !res.writableFinished));
      res.writeHead(200, { "content-type": "text/plain" });
      for (let i = 0; i < 7 && !res.destroyed; i++) {
        res.write(`${i}`);
        await sleep(100);
      }
      res.end();
    };
  }

  it("`streaming: true` keeps the response alive past `timeout`", async () => {
    const cut = { value: false };
    origin.route("/slow-stream", slowBody(cut));
    let text = "";
    const { res, error } = await stream("/watch/slow-stream", (t) => (text += t));
    expect(error).toBeUndefined();
    expect(res.statusCode).toBe(200);
    expect(text).toBe("0123456");
    expect(cut.value).toBe(false);
  });

  it("without streaming, `timeout` covers the body: the response is cut and the origin sees the close", async () => {
    const cut = { value: false };
    origin.route("/slow-body", slowBody(cut));
    let text = "";
    const { error } = await stream("/short/slow-body", (t) => (text += t));
    expect(error).toBeDefined();
    expect(text.length).toBeLessThan(7);
    const until = Date.now() + 2000;
    while (!cut.value && Date.now() < until) await sleep(10);
    expect(cut.value).toBe(true);
  });

  it("`streaming: true` still bounds the wait for the response headers", async () => {
    origin.route("/no-headers", (req) => req.resume());
    const answer = await send(attache.url, "/watch/no-headers");
    expect(answer.status).toBe(504);
    expect(answer.headers["x-attache-error"]).toBe("upstream_timeout");
  });
});

describe("large bodies", () => {
  const MB = 1024 * 1024;

  /** Peak RSS growth over a run, sampled every 10ms: this process holds the client, attache and the origin. */
  async function rssGrowth<T>(run: () => Promise<T>): Promise<{ result: T; growth: number }> {
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const result = await run();
      peak = Math.max(peak, process.memoryUsage().rss);
      return { result, growth: peak - base };
    } finally {
      clearInterval(timer);
    }
  }

  it("streams a 200 MB upload without buffering it", { timeout: 60_000 }, async () => {
    origin.route("/sink", (req, res) => {
      let bytes = 0;
      req.on("data", (c: Buffer) => (bytes += c.length));
      req.on("end", () => res.end(JSON.stringify({ bytes })));
    });
    const chunk = Buffer.alloc(64 * 1024, 7);
    const total = 200 * MB;
    const upload = (base: string, path: string) =>
      rssGrowth(() =>
        send<{ bytes: number }>(base, path, {
          method: "POST",
          headers: { "content-length": String(total), "content-type": "application/octet-stream" },
          body: Readable.from(
            (function* () {
              for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
            })(),
          ),
        }),
      );
    // The client and the origin share this process, and what they hold alone depends on the runtime
    // (Node 24 frees their buffers later: ~80 MB for the direct upload, ~35 MB on Node 20). What
    // attache adds is the difference; buffering the body would add 200 MB.
    const direct = await upload(origin.url, "/sink");
    const { result, growth } = await upload(attache.url, "/big/sink");
    expect(direct.result.json.bytes).toBe(total);
    expect(result.status).toBe(200);
    expect(result.json.bytes).toBe(total);
    expect(growth).toBeLessThan(direct.growth + 32 * MB);
  });

  it("streams a 100 MB download without buffering it", { timeout: 60_000 }, async () => {
    const chunk = Buffer.alloc(64 * 1024, 9);
    const total = 100 * MB;
    origin.route("/source", (_req, res) => {
      res.writeHead(200, { "content-length": String(total) });
      Readable.from(
        (function* () {
          for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
        })(),
      ).pipe(res);
    });
    const { result, growth } = await rssGrowth(
      () =>
        new Promise<number>((resolve, reject) => {
          const url = new URL(attache.url);
          request({ host: url.hostname, port: url.port, path: "/big/source", agent: false }, (res) => {
            let bytes = 0;
            res.on("data", (c: Buffer) => (bytes += c.length));
            res.on("end", () => resolve(bytes));
            res.on("error", reject);
          })
            .on("error", reject)
            .end();
        }),
    );
    expect(result).toBe(total);
    expect(growth).toBeLessThan(64 * MB);
  });

  it("holds the upstream back while the client does not read (backpressure through both hops)", { timeout: 60_000 }, async () => {
    const chunk = Buffer.alloc(64 * 1024, 5);
    const total = 200 * MB;
    let written = 0;
    origin.route("/flood", (_req, res) => {
      res.writeHead(200, { "content-length": String(total) });
      const more = () => {
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", more);
        }
        res.end();
      };
      more();
    });
    const url = new URL(attache.url);
    const { writtenWhilePaused, received } = await new Promise<{ writtenWhilePaused: number; received: number }>((resolve, reject) => {
      request({ host: url.hostname, port: url.port, path: "/big/flood", agent: false }, (res) => {
        res.pause();
        setTimeout(() => {
          const writtenWhilePaused = written;
          let received = 0;
          res.on("data", (c: Buffer) => (received += c.length));
          res.on("end", () => resolve({ writtenWhilePaused, received }));
          res.on("error", reject);
          res.resume();
        }, 1500);
      })
        .on("error", reject)
        .end();
    });
    // Socket buffers on two loopback hops hold some megabytes; without backpressure all 200 MB go out at once.
    expect(writtenWhilePaused).toBeLessThan(64 * MB);
    expect(received).toBe(total);
  });
});
