/**
 * Regression: when the app gave up on a request, attache logged the abort as an "upstream error" and
 * counted it in attache_upstream_errors_total{reason="upstream_unreachable"}, blaming a healthy upstream.
 */
import { request } from "node:http";
import { expect, it } from "vitest";
import { startAttache } from "../harness/attache.js";
import { eventually, send } from "../harness/http.js";
import { startOrigin } from "../harness/origin.js";

it("a client that leaves is not an upstream error", async () => {
  const origin = await startOrigin();
  let closed = false;
  origin.route("/", (req, res) => {
    req.resume();
    res.on("close", () => (closed = true));
  });
  const attache = await startAttache(`admin: 127.0.0.1:0
log: { level: fatal, access: false }
routes: [{ prefix: /g, upstream: { http: { endpoints: ["${origin.url}"] } } }]`);
  try {
    const url = new URL(attache.url);
    const req = request({ host: url.hostname, port: url.port, path: "/g", agent: false });
    req.on("error", () => {});
    req.end();
    await eventually(() => origin.requests === 1);
    req.destroy();
    await eventually(() => closed);
    await new Promise((r) => setTimeout(r, 50));
    const text = (await send(attache.adminUrl, "/metrics")).text;
    expect(text).not.toMatch(/attache_upstream_errors_total\{[^}]*route="\/g"/);
  } finally {
    await attache.stop();
    await origin.close();
  }
});
