/**
 * Regression: http-proxy-middleware was built with `ejectPlugins: true` and `on: { error }`, but
 * ejecting plugins also ejects the one that wires `on`. An upgrade whose upstream refused the
 * connection then emitted an 'error' nobody listened to: an uncaught exception in the sidecar.
 */
import { createServer } from "node:net";
import { expect, it } from "vitest";
import { WebSocket } from "ws";
import { startAttache } from "../harness/attache.js";
import { listenOn } from "../harness/listen.js";

it("a WebSocket upgrade to a refusing upstream gets 502 upstream_unreachable", async () => {
  const probe = createServer();
  const port = await listenOn(probe);
  await new Promise((r) => probe.close(r));
  const attache = await startAttache(`admin: 127.0.0.1:0
log: { level: fatal, access: false }
routes: [{ prefix: /ws, upstream: { http: { endpoints: ["http://127.0.0.1:${port}"] } } }]`);
  try {
    const answer = await new Promise<{ status?: number; code?: string }>((resolve) => {
      const ws = new WebSocket(`${attache.url.replace("http", "ws")}/ws/chat`);
      ws.on("unexpected-response", (_req, res) => {
        resolve({ status: res.statusCode, code: res.headers["x-attache-error"] as string });
        ws.terminate();
      });
      ws.on("error", () => {});
    });
    expect(answer).toEqual({ status: 502, code: "upstream_unreachable" });
  } finally {
    await attache.stop();
  }
});
