/**
 * Regression: attache_inflight_requests was decremented for every routed request but incremented
 * only for forwarded ones, so each 405/403/413 after routing pushed the gauge below zero.
 */
import { expect, it } from "vitest";
import { startAttache } from "../harness/attache.js";
import { metricValue, send } from "../harness/http.js";

it("requests refused by policy leave attache_inflight_requests at zero", async () => {
  const attache = await startAttache(`admin: 127.0.0.1:0
log: { level: fatal, access: false }
routes: [{ prefix: /r, methods: [GET], deny: [{ path: "^/no" }], maxBodySize: 4, upstream: { http: { endpoints: ["http://127.0.0.1:9"] } } }]`);
  try {
    await send(attache.url, "/r", { method: "POST" });
    await send(attache.url, "/r/no");
    await send(attache.url, "/r", { body: "too long" });
    const text = (await send(attache.adminUrl, "/metrics")).text;
    expect(metricValue(text, "attache_inflight_requests", 'route="/r"')).toBe(0);
  } finally {
    await attache.stop();
  }
});
