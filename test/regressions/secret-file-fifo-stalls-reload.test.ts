/**
 * A team file naming a FIFO or /dev/zero as a secret file used to pass validation; the reload then
 * blocked the event loop on the FIFO (every route and /healthz hung) or read /dev/zero until the
 * process ran out of memory. Now the file is rejected alone, with its line, and nothing stalls.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeConfig } from "../harness/attache.js";
import { eventually, send } from "../harness/http.js";
import { type Echo, startOrigin } from "../harness/origin.js";
import { spawnAttache } from "../harness/spawn-attache.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** GET /healthz every 20 ms until stopped; resolves with every failure (no answer within 1 s, or not 200). */
function watchHealth(adminUrl: string): { stop(): Promise<string[]> } {
  let running = true;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      const answer = await Promise.race([
        send(adminUrl, "/healthz").then((a) => String(a.status)),
        new Promise<string>((r) => setTimeout(() => r("no answer within 1s"), 1000).unref()),
      ]).catch((err: Error) => err.message);
      if (answer !== "200") failures.push(answer);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return failures;
    },
  };
}

describe("regression: a FIFO or /dev/zero as a secret file", () => {
  it("is rejected on reload with file:line:col; /healthz and the team's last good route keep answering", async () => {
    const origin = await startOrigin();
    cleanup.push(() => origin.close());
    const dir = tempDir("attache-fifo-");
    const secrets = tempDir("attache-fifo-secrets-");
    const fifo = join(secrets, "token");
    execFileSync("mkfifo", [fifo]);
    const good = `routes:\n  - { prefix: /a, upstream: { http: { endpoints: ["${origin.url}"] } } }\n`;
    writeConfig(dir, `log: { level: info, access: false }\ninclude: [routes.d/*.yaml]\n`, { "routes.d/a.yaml": good });
    const attache = await spawnAttache(dir);
    cleanup.push(() => attache.kill());
    const health = watchHealth(attache.adminUrl);

    const lastError = async () =>
      ((await send(attache.adminUrl, "/config")).json as { lastError: { problems: string[] } | null }).lastError?.problems.join("\n");
    writeFileSync(
      join(dir, "routes.d/a.yaml"),
      `routes:\n  - { prefix: /a, upstream: { http: { endpoints: ["${origin.url}"], auth: { bearerTokenFile: ${fifo} } } } }\n`,
    );
    expect(await eventually(lastError, 5000)).toMatch(
      /a\.yaml:2:\d+: routes\[0\]\.upstream\.http\.auth\.bearerTokenFile: file .*token is a FIFO, not a regular file/,
    );
    expect((await send(attache.url, "/a/x")).status).toBe(200);

    writeFileSync(
      join(dir, "routes.d/a.yaml"),
      `routes:\n  - { prefix: /a, upstream: { redis: { url: "redis://127.0.0.1:1", passwordFile: /dev/zero } } }\n`,
    );
    expect(await eventually(async () => (await lastError())?.includes("/dev/zero") && (await lastError()), 5000)).toMatch(
      /a\.yaml:2:\d+: routes\[0\]\.upstream\.redis\.passwordFile: file \/dev\/zero is a character device, not a regular file/,
    );
    expect((await send<Echo>(attache.url, "/a/x")).json.url).toBe("/x");

    expect(await health.stop()).toEqual([]);
    expect(attache.child.exitCode).toBeNull();
  });
});
