/**
 * Deny-rule bypass attempts: encodings, case, slashes, dot segments, trailing dots and
 * slashes, `;` parameters, NUL bytes. Each attempt must be refused, or be forwarded on a path that no
 * lenient reading turns back into the denied one. The origin's own log of what it received is the
 * judge, not attache's answer alone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache as startWithConfig, type AttacheUnderTest } from "../harness/attache.js";
import { send, sendRaw } from "../harness/http.js";
import { startOrigin, type Origin } from "../harness/origin.js";

const startAttache = (yaml: string) => startWithConfig(`admin: 127.0.0.1:0\nlog: { level: error, access: false }\n${yaml}`);

let origin: Origin;
let attache: AttacheUnderTest;
const received: string[] = [];

beforeAll(async () => {
  origin = await startOrigin();
  origin.server.prependListener("request", (req) => received.push(req.url ?? ""));
  attache = await startAttache(`
routes:
  - prefix: /api
    deny:
      - { path: "^/admin(/|$)" }
      - { path: "^/pods/[^/]+/exec$", methods: [GET, POST] }
    upstream: { http: { endpoints: ["${origin.url}"] } }
  - prefix: /other
    upstream: { http: { endpoints: ["${origin.url}/elsewhere"] } }
`);
});

afterAll(async () => {
  await attache?.stop();
  await origin?.close();
});

/**
 * How the most lenient upstream could read a path it received, written independently of attache's
 * code: decode until stable, "\" as "/", cut at NUL/?/#, drop ;params and trailing dots and spaces,
 * resolve dot segments the WHATWG way, ignore case.
 */
function leniently(url: string): string {
  let s = url;
  for (let i = 0; i < 10; i++) {
    const next = s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    if (next === s) break;
    s = next;
  }
  s = s.replace(/\\/g, "/").split(/[\0?#]/)[0]!;
  s = s
    .split("/")
    .map((seg) => seg.split(";")[0]!.replace(/[. ]+$/, (m) => (seg === "." || seg === ".." ? m : "")))
    .join("/");
  return new URL(`http://upstream${s.startsWith("/") ? s : `/${s}`}`).pathname.toLowerCase().replace(/\/+$/, "") || "/";
}

const denied = (url: string) => /^\/admin(\/|$)/.test(leniently(url)) || /^\/pods\/[^/]+\/exec$/.test(leniently(url));

const attempts = [
  "/api/admin",
  "/api/admin/users",
  "/api/ADMIN",
  "/api/Admin/users",
  "/api/%61dmin",
  "/api/%41DMIN",
  "/api/adm%69n",
  "/api/ad%6din",
  "/api/%2561dmin",
  "/api//admin",
  "/api///admin/",
  "/api/./admin",
  "/api/x/../admin",
  "/api/x/..//admin",
  "/api/x/y/../../admin",
  "/api/%2e/admin",
  "/api/x/%2e%2e/admin",
  "/api/x/%2E%2E/admin",
  "/api/x/.%2e/admin",
  "/api/x%2F..%2Fadmin",
  "/api/x%2f..%2fadmin",
  "/api/x%5C..%5Cadmin",
  "/api/x%252F..%252Fadmin",
  "/api/x%25252F..%25252Fadmin",
  "/api/%252e%252e/admin",
  "/api/x/%252e%252e/admin",
  "/api/admin.",
  "/api/admin..",
  "/api/admin./x",
  "/api/admin/",
  "/api/admin//",
  "/api/admin;x=1",
  "/api/admin;/users",
  "/api/x/..;/admin",
  "/api/x/.;/admin",
  "/api/x/..%3B/admin",
  "/api/admin%00",
  "/api/admin%2500",
  "/api/admin%00.json",
  "/api/admin%20",
  "/api/admin%2520",
  "/api/admin%09",
  "/api/admin%3Fx",
  "/api/admin%253Fx",
  "/api/admin%23x",
  "/api/admin?x=1",
  "/api\\admin",
  "/api/x/..\\admin",
  "/api/%c0%afadmin",
  "/API/admin",
  "/other/../api/admin",
  "/other/..%2Fapi/admin",
  "/other/%2e%2e/api/admin",
  "/api/pods/p1/exec",
  "/api/pods/p1/EXEC",
  "/api/pods/p1/exec/",
  "/api/pods/p1/exec.",
  "/api/pods/p1/exec;x",
  "/api/pods/p1%2Fexec",
  "/api/pods/p1/ex%65c",
  "/api/pods/p1/x/../exec",
  "/api/pods//p1//exec",
];

describe("deny-rule bypass attempts", () => {
  it.each(attempts)("%s is refused or never reaches the denied path", async (target) => {
    const before = received.length;
    const answer = await send(attache.url, target, { method: target.includes("/pods/") ? "POST" : "GET" });
    const got = received.slice(before);
    if (answer.status === 200) {
      expect(got).toHaveLength(1);
      expect(denied(got[0]!), `${target} reached the origin as ${got[0]}`).toBe(false);
    } else {
      expect([400, 403, 404]).toContain(answer.status);
      expect(answer.headers["x-attache-error"]).toMatch(/^(bad_request|path_denied|no_route)$/);
      expect(got).toEqual([]);
    }
  });

  it.each([
    ["NUL byte", "GET /api/admin\0 HTTP/1.1\r\nHost: localhost\r\n\r\n"],
    ["raw space", "GET /api/admin /x HTTP/1.1\r\nHost: localhost\r\n\r\n"],
    ["absolute-form target", "GET http://localhost/api/admin HTTP/1.1\r\nHost: localhost\r\n\r\n"],
    ["asterisk-form target", "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n"],
    ["raw fragment", "GET /api/admin#x HTTP/1.1\r\nHost: localhost\r\n\r\n"],
    ["tab in the path", "GET /api/adm\tin HTTP/1.1\r\nHost: localhost\r\n\r\n"],
  ])("%s on the wire is refused", async (_name, bytes) => {
    const before = received.length;
    const raw = await sendRaw(attache.url, bytes, 500);
    expect(raw).toMatch(/^HTTP\/1\.1 40[034]/);
    expect(received.slice(before)).toEqual([]);
  });

  it("a lenient reading of everything the origin received never lands on a denied path", () => {
    expect(received.length).toBeGreaterThan(0);
    for (const url of received) expect(denied(url), url).toBe(false);
  });

  it("the legitimate neighbours still pass", async () => {
    for (const target of ["/api/administrator", "/api/x/admin", "/api/pods/p1/exec-log", "/api/pods/p1/logs", "/api/adminx/y"]) {
      const answer = await send(attache.url, target, { method: "POST" });
      expect(answer.status, target).toBe(200);
    }
  });
});
