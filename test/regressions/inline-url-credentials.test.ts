/**
 * Credentials written into a URL (`http://alice:pw@host`, `redis://:pw@host`) used to be accepted,
 * ignored for http, and printed unredacted by `attache routes`. They are a validation problem now
 * ("use a *File key"), and no output of attache repeats them: CLI, logs, /config, /routes.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeConfig } from "../harness/attache.js";
import { eventually, send } from "../harness/http.js";
import { startOrigin } from "../harness/origin.js";
import { spawnAttache } from "../harness/spawn-attache.js";

const BIN = new URL("../../dist/main.js", import.meta.url).pathname;
const SECRET = "s3cr3t-Pw-in-url";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "attache-userinfo-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const teamFile = (originUrl: string) =>
  [
    "routes:",
    `  - { prefix: /a, upstream: { http: { endpoints: ["http://alice:${SECRET}@${new URL(originUrl).host}"] } } }`,
    `  - { prefix: /r, upstream: { redis: { url: "redis://:${SECRET}@127.0.0.1:6379/2" } } }`,
    `  - { prefix: /k, upstream: { kubernetes: { server: "https://admin:${SECRET}@127.0.0.1:6443" } } }`,
    "",
  ].join("\n");

describe("regression: credentials inline in a URL", () => {
  it("validate and routes refuse them with file:line:col and never print them", () => {
    const dir = tempDir();
    writeConfig(dir, `include: [team.yaml]\n`, { "team.yaml": teamFile("http://127.0.0.1:9000") });
    for (const verb of ["validate", "routes"]) {
      const r = spawnSync(process.execPath, [BIN, verb, "-c", dir], { encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      expect(r.stderr.trim().split("\n")).toEqual([
        `${dir}/team.yaml:2:51: routes[0].upstream.http.endpoints[0]: credentials in the URL are not allowed: use a *File key (auth.bearerTokenFile, or tls.certFile and tls.keyFile)`,
        `${dir}/team.yaml:3:45: routes[1].upstream.redis.url: credentials in the URL are not allowed: use a *File key (usernameFile, passwordFile)`,
        `${dir}/team.yaml:4:53: routes[2].upstream.kubernetes.server: credentials in the URL are not allowed: use a *File key (tokenFile, or kubeconfig)`,
      ]);
    }
  });

  it("a reload that meets them rejects the file; /config, /routes and the log do not show them", async () => {
    const origin = await startOrigin();
    cleanup.push(() => origin.close());
    const dir = tempDir();
    writeConfig(dir, `log: { level: debug, access: true }\ninclude: [team.yaml]\n`, {
      "team.yaml": `routes:\n  - { prefix: /a, upstream: { http: { endpoints: ["${origin.url}"] } } }\n`,
    });
    const attache = await spawnAttache(dir);
    cleanup.push(() => attache.kill());
    writeFileSync(join(dir, "team.yaml"), teamFile(origin.url));
    const config = await eventually(async () => {
      const answer = await send<{ lastError: { problems: string[] } | null }>(attache.adminUrl, "/config");
      return answer.json.lastError ? answer : undefined;
    }, 5000);
    expect(config!.json.lastError!.problems.join("\n")).toContain("credentials in the URL are not allowed");
    expect(config!.text).not.toContain(SECRET);
    expect((await send(attache.adminUrl, "/routes")).text).not.toContain(SECRET);
    expect((await send(attache.url, "/a/x")).status).toBe(200);
    expect(attache.stdout() + attache.stderr()).toContain("route file rejected");
    expect(attache.stdout() + attache.stderr()).not.toContain(SECRET);
  });
});
