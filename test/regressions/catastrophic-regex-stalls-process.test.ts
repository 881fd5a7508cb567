/**
 * A deny rule such as `^/(a+)+$` used to be run by V8's backtracking engine: one 35-byte path stalled
 * the whole process for 35 s, each extra character doubling it. Rules now run on RE2 (linear time):
 * the path below would take backtracking longer than any test timeout (2^64 steps), yet every request
 * is answered and /healthz keeps answering while they run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeConfig } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { type Echo, startOrigin } from "../harness/origin.js";
import { spawnAttache } from "../harness/spawn-attache.js";
import { RoutePolicy } from "../../src/routing/policy.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe("regression: a catastrophic deny regex", () => {
  it("policy: matching a long path against ^/(a+)+$ returns (allowed: no match), and a matching path is denied", () => {
    const policy = new RoutePolicy("/r", { deny: [{ path: "^/(a+)+$" }], allow: [{ path: "^/(a|aa)+!$" }] });
    expect(() => policy.check("GET", `/${"a".repeat(50_000)}!`)).not.toThrow();
    expect(() => policy.check("GET", `/${"a".repeat(50_000)}`)).toThrow(/denied by policy/);
    expect(() => policy.check("GET", `/${"a".repeat(50_000)}?`)).toThrow(/denied by policy/);
  });

  it("over sockets: requests with the crafted path are answered, and /healthz answers while they run", async () => {
    const origin = await startOrigin();
    cleanup.push(() => origin.close());
    const dir = mkdtempSync(join(tmpdir(), "attache-redos-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    writeConfig(
      dir,
      `log: { level: info, access: false }\nroutes:\n  - prefix: /r\n    deny: [{ path: "^/(a+)+$" }]\n    upstream: { http: { endpoints: ["${origin.url}"] } }\n`,
    );
    const attache = await spawnAttache(dir);
    cleanup.push(() => attache.kill());

    const crafted = `/r/${"a".repeat(64)}!`;
    const requests = Array.from({ length: 20 }, () => send<Echo>(attache.url, crafted));
    // Generous: the process must answer at all while the requests are matched; a backtracking engine never would.
    for (let i = 0; i < 10; i++) {
      const answer = await Promise.race([
        send(attache.adminUrl, "/healthz"),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000).unref()),
      ]);
      expect(answer?.status).toBe(200);
    }
    const answers = await Promise.all(requests);
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(answers[0]!.json.url).toBe(`/${"a".repeat(64)}!`);
    expect((await send(attache.url, `/r/${"a".repeat(64)}`)).status).toBe(403);
  });
});
