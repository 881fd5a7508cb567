/**
 * A web page in the laptop's browser could write through the app listener: a "simple" cross-site
 * POST (text/plain, no CORS preflight) reached the route with the pod's credentials, and a
 * cross-site WebSocket opened through it. Now state-changing requests and upgrades from another
 * origin's page are refused (Sec-Fetch-Site, else Origin against Host); curl and apps send neither.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";
import { type AttacheErrorBody, eventually, openRaw, send } from "../harness/http.js";
import { startOrigin, type Origin } from "../harness/origin.js";

let origin: Origin;
let attache: AttacheUnderTest;

beforeAll(async () => {
  origin = await startOrigin();
  attache = await startAttache(`routes:
  - { prefix: /api, upstream: { http: { endpoints: ["${origin.url}"] } } }
`);
});

afterAll(async () => {
  await attache?.stop();
  await origin?.close();
});

const post = (headers: Record<string, string>) =>
  send<AttacheErrorBody>(attache.url, "/api/write", { method: "POST", body: "x", headers: { "content-type": "text/plain", ...headers } });

describe("requests from another origin's web page", () => {
  const fromPages: Array<Record<string, string>> = [
    { origin: "https://evil.example" },
    { origin: "null" },
    { "sec-fetch-site": "cross-site" },
    { "sec-fetch-site": "same-site", origin: "http://localhost:3000" },
  ];
  it.each(fromPages)("refuses a POST carrying %o with 403 origin_not_allowed, before the upstream", async (headers) => {
    const before = origin.requests;
    const answer = await post(headers);
    expect(answer.status).toBe(403);
    expect(answer.json.error.code).toBe("origin_not_allowed");
    expect(origin.requests).toBe(before);
  });

  it("serves the same POST from curl or an app (neither header), and from the same origin", async () => {
    expect((await post({})).status).toBe(200);
    const host = new URL(attache.url).host;
    expect((await post({ origin: `http://${host}`, host })).status).toBe(200);
    expect((await post({ "sec-fetch-site": "same-origin" })).status).toBe(200);
  });

  it("serves reads whatever their origin (a page cannot see the answer without CORS)", async () => {
    expect(
      (await send(attache.url, "/api/read", { headers: { origin: "https://evil.example", "sec-fetch-site": "cross-site" } })).status,
    ).toBe(200);
  });

  it("refuses a WebSocket upgrade opened by another origin's page", async () => {
    const conn = await openRaw(attache.url);
    conn.socket.write(
      "GET /api/ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://evil.example\r\n\r\n",
    );
    await eventually(() => conn.received().includes("\r\n\r\n"));
    conn.socket.destroy();
    expect(conn.received()).toMatch(/^HTTP\/1\.1 403 /);
    expect(conn.received()).toContain("x-attache-error: origin_not_allowed");
  });
});
