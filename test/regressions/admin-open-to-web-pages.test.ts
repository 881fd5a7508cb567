/**
 * Any web page could stop the sidecar with a cross-site "simple" POST /quitquitquit (no CORS
 * preflight), and a DNS-rebinding page (Host: evil.example) could read /routes and /config. Now the
 * admin listener has the app listener's acceptHosts guard on every endpoint, and the drain refuses
 * anything a browser marks as sent by a page.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { type AttacheErrorBody, send } from "../harness/http.js";

let attache: AttacheUnderTest;

beforeAll(async () => {
  attache = await startAttache("routes: []\n");
});

afterAll(async () => {
  await attache?.stop();
});

describe("admin listener and web pages", () => {
  it.each([
    ["GET", "/routes"],
    ["GET", "/config"],
    ["GET", "/metrics"],
    ["GET", "/healthz"],
    ["GET", "/readyz"],
    ["POST", "/quitquitquit"],
  ])("refuses %s %s with Host: evil.example (DNS rebinding) as 403 host_not_allowed", async (method, path) => {
    const answer = await send<AttacheErrorBody>(attache.adminUrl, path, { method, headers: { host: "evil.example:9901" } });
    expect(answer.status).toBe(403);
    expect(answer.headers["x-attache-error"]).toBe("host_not_allowed");
    expect(answer.json.error.code).toBe("host_not_allowed");
  });

  it("serves a Host naming the address the connection was made to (kubelet probes send the pod IP)", async () => {
    const port = new URL(attache.adminUrl).port;
    expect((await send(attache.adminUrl, "/readyz", { headers: { host: `127.0.0.1:${port}` } })).status).toBe(200);
    expect((await send(attache.adminUrl, "/routes", { headers: { host: "localhost" } })).status).toBe(200);
  });

  it.each([
    { origin: "https://evil.example" },
    { origin: "null" },
    { origin: "http://localhost:3000" },
    { "sec-fetch-site": "cross-site" },
    { "sec-fetch-site": "same-site" },
  ])("refuses POST /quitquitquit from a web page (%o) with 403 origin_not_allowed, and keeps serving", async (headers) => {
    const answer = await send<AttacheErrorBody>(attache.adminUrl, "/quitquitquit", {
      method: "POST",
      headers: { "content-type": "text/plain", ...headers },
    });
    expect(answer.status).toBe(403);
    expect(answer.json.error.code).toBe("origin_not_allowed");
    expect(attache.running.state.draining).toBe(false);
    expect((await send(attache.adminUrl, "/readyz")).status).toBe(200);
  });
});

describe("admin Host check for probes", () => {
  it("passes a Host that is the IP the connection was made to, even outside acceptHosts, and no other IP", async () => {
    const narrow = await startAttache("acceptHosts: [localhost]\nroutes: []\n");
    try {
      const port = new URL(narrow.adminUrl).port;
      expect((await send(narrow.adminUrl, "/readyz", { headers: { host: `127.0.0.1:${port}` } })).status).toBe(200);
      const other = await send<AttacheErrorBody>(narrow.adminUrl, "/readyz", { headers: { host: `127.0.0.2:${port}` } });
      expect(other.status).toBe(403);
      expect(other.json.error.code).toBe("host_not_allowed");
    } finally {
      await narrow.stop();
    }
  });
});
