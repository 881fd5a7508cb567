/**
 * Regression: deny rules were matched only against attache's strict normalised path. Upstreams that
 * decode twice, drop `;params` (servlet containers), trailing dots (IIS) or a trailing slash (most
 * routers) read these paths as the denied one, so they slipped past `deny: ^/admin$`.
 */
import { expect, it } from "vitest";
import { startAttache } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { startOrigin } from "../harness/origin.js";

it.each([
  "/api/admin/",
  "/api/admin.",
  "/api/admin;jsessionid=x",
  "/api/%2561dmin",
  "/api/x/%252e%252e/admin",
  "/api/admin%2500",
  "/api/x/..;/admin",
])("%s does not reach the origin", async (target) => {
  const origin = await startOrigin();
  const attache = await startAttache(`admin: 127.0.0.1:0
log: { level: fatal, access: false }
routes: [{ prefix: /api, deny: [{ path: "^/admin$" }], upstream: { http: { endpoints: ["${origin.url}"] } } }]`);
  try {
    const answer = await send(attache.url, target);
    expect([400, 403]).toContain(answer.status);
    expect(origin.requests).toBe(0);
  } finally {
    await attache.stop();
    await origin.close();
  }
});
