/**
 * Lifecycle edges: SIGHUP reloads even when no watched file changed, POST
 * /quitquitquit starts the drain, a port in use at start is one line and exit 1, a config key the pool
 * does not enforce is said so.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { VERSION } from "../../src/version.js";
import { startAttache, writeConfig } from "../harness/attache.js";
import { eventually, metricValue, send } from "../harness/http.js";
import { closeServer, listenOn } from "../harness/listen.js";
import { startOrigin, type Echo, type Origin } from "../harness/origin.js";
import { runAttache, spawnAttache } from "../harness/spawn-attache.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function origin(): Promise<Origin> {
  const o = await startOrigin();
  cleanup.push(() => o.close());
  return o;
}

describe("lifecycle", () => {
  it("SIGHUP re-validates without any file change: a route whose token file appeared later is accepted", async () => {
    const o = await origin();
    const dir = tempDir("attache-hup-");
    // The secret lives outside the config folders: creating it is no config change for the watcher.
    const secrets = tempDir("attache-hup-secrets-");
    const token = join(secrets, "token");
    writeConfig(dir, `admin: 127.0.0.1:0\nlog: { level: info, access: false }\ninclude: [routes.d/*.yaml]\n`, {
      "routes.d/a.yaml": `routes:\n  - { prefix: /a, upstream: { http: { endpoints: ["${o.url}"] } } }\n`,
    });
    const attache = await spawnAttache(dir);
    cleanup.push(() => attache.kill());

    writeFileSync(
      join(dir, "routes.d/b.yaml"),
      `routes:\n  - { prefix: /b, upstream: { http: { endpoints: ["${o.url}"], auth: { bearerTokenFile: ${token} } } } }\n`,
    );
    const rejected = await eventually(async () => {
      const view = (await send(attache.adminUrl, "/config")).json as { lastError: { problems: string[] } | null };
      return view.lastError?.problems.join("\n");
    }, 3000);
    expect(rejected).toMatch(/b\.yaml:2:\d+: routes\[0\]\.upstream\.http\.auth\.bearerTokenFile: file .*token does not exist/);

    writeFileSync(token, "s3cret\n");
    expect((await send(attache.url, "/b/x")).status).toBe(404);
    const successBefore =
      metricValue((await send(attache.adminUrl, "/metrics")).text, "attache_config_reloads_total", 'result="success"') ?? 0;
    attache.child.kill("SIGHUP");
    const answer = (await eventually(async () => {
      const a = await send<Echo>(attache.url, "/b/x");
      return a.status === 200 ? a : undefined;
    }, 3000))!;
    expect(answer.json.headers.authorization).toBe("Bearer s3cret");
    expect((await send<{ lastError: unknown }>(attache.adminUrl, "/config")).json.lastError).toBeNull();
    expect(metricValue((await send(attache.adminUrl, "/metrics")).text, "attache_config_reloads_total", 'result="success"')).toBe(
      successBefore + 1,
    );
    expect(attache.stdout()).toContain('"reason":"SIGHUP"');
  });

  it("POST /quitquitquit starts the same drain: readiness off, still serving, then closed", async () => {
    const o = await origin();
    const att = await startAttache({
      root: `admin: 127.0.0.1:0\nlog: { level: error, access: false }\nshutdown: { idleGrace: 300ms, drainTimeout: 5s }\nroutes:\n  - { prefix: /a, upstream: { http: { endpoints: ["${o.url}"] } } }\n`,
    });
    cleanup.push(() => att.stop());
    const quit = await send(att.adminUrl, "/quitquitquit", { method: "POST" });
    expect(quit.status).toBe(200);
    expect(quit.json).toEqual({ draining: true });
    expect((await send(att.adminUrl, "/readyz")).status).toBe(503);
    expect((await send(att.url, "/a/x")).status).toBe(200);
    await att.running.closed;
    await expect(send(att.url, "/a/x")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("a listen port in use at start is one line on stderr and exit 1", async () => {
    const taken = createServer();
    const port = await listenOn(taken);
    cleanup.push(() => closeServer(taken));
    const dir = tempDir("attache-port-");
    writeConfig(dir, `listen: 127.0.0.1:${port}\nadmin: 127.0.0.1:0\n`);
    const run = await runAttache(dir);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual([`attache: cannot listen on 127.0.0.1:${port} (listen): address already in use`]);
  });

  it("a route that sets pool.maxFreeSockets serves, and the log says the undici pool does not enforce it", async () => {
    const o = await origin();
    const dir = tempDir("attache-free-sockets-");
    writeConfig(
      dir,
      `admin: 127.0.0.1:0\nlog: { level: info, access: false }\nroutes:\n  - { prefix: /p, pool: { maxFreeSockets: 4 }, upstream: { http: { endpoints: ["${o.url}"] } } }\n`,
    );
    const attache = await spawnAttache(dir);
    cleanup.push(() => attache.kill());
    expect((await send(attache.url, "/p/x")).status).toBe(200);
    const warnings = attache
      .stdout()
      .split("\n")
      .filter((line) => line.includes("maxFreeSockets"))
      .map((line) => JSON.parse(line) as { level: string; route: string; msg: string; time: string; version: string });
    expect(warnings).toEqual([
      expect.objectContaining({ level: "warn", route: "/p", msg: expect.stringMatching(/not enforced.*idleTimeout/) }),
    ]);
    // Every line says when (ISO-8601), how bad (a word) and which version wrote it.
    expect(warnings[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(warnings[0]!.version).toBe(VERSION);
  });
});
