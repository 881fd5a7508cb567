/**
 * The bundle `npm run build` makes (dist/, esbuild) is what the image and the package's bin run:
 * it starts and serves a route over real sockets, and what main.ts loads lazily stays in chunks of
 * its own, so `validate` and a plain HTTP route do not load Redis, Kubernetes or OpenTelemetry code.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeConfig } from "../harness/attache.js";
import { send } from "../harness/http.js";
import { startOrigin } from "../harness/origin.js";
import { spawnAttache } from "../harness/spawn-attache.js";
import { ROOT } from "./manifests.js";

const DIST = join(ROOT, "dist");
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The files `file` imports statically (`import … from "./x.js"`, `import "./x.js"`), transitively. */
function staticClosure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(join(DIST, file), "utf8");
  for (const m of text.matchAll(/^\s*(?:import|export)\s*(?:[^;'"]*?\bfrom\s*)?["'](\.\/[^"']+)["']/gm))
    staticClosure(m[1]!.slice(2), seen);
  return seen;
}

describe("dist/ bundle", () => {
  it("starts and proxies one HTTP route over real sockets, then drains on SIGTERM", async () => {
    const origin = await startOrigin();
    cleanup.push(() => origin.close());
    const dir = mkdtempSync(join(tmpdir(), "attache-bundle-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    writeConfig(
      dir,
      `log: { level: info, access: false }\nroutes:\n  - { prefix: /svc, upstream: { http: { endpoints: ["${origin.url}"] } } }\n`,
    );
    const attache = await spawnAttache(dir);
    cleanup.push(() => attache.kill());
    const answer = await send(attache.url, "/svc/hello?x=1");
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ method: "GET", url: "/hello?x=1" });
    expect(origin.requests).toBe(1);
    attache.child.kill("SIGTERM");
    expect(await attache.exited).toEqual({ code: 0, signal: null });
  });

  it("keeps the lazily loaded modules in chunks that main.js does not import statically", () => {
    expect(existsSync(join(DIST, "main.js")), "npm run build wrote dist/main.js").toBe(true);
    const files = readdirSync(DIST).filter((f) => f.endsWith(".js"));
    const eager = staticClosure("main.js");
    for (const lazy of ["run", "validate", "routes", "redis-upstream", "kubernetes-upstream", "otel", "create-source"]) {
      const chunk = files.find((f) => f.startsWith(`${lazy}-`));
      expect(chunk, `a chunk of its own for ${lazy}`).toBeDefined();
      expect(eager.has(chunk!), `main.js loads ${chunk} only on import()`).toBe(false);
    }
    // From `run`, the upstream kinds, tracing and express (the admin listener answers probes without it)
    // stay behind their own import().
    const running = staticClosure(files.find((f) => f.startsWith("run-"))!);
    for (const lazy of ["redis-upstream", "kubernetes-upstream", "otel", "create-source", "express"])
      expect(
        [...running].some((f) => f.startsWith(`${lazy}-`)),
        lazy,
      ).toBe(false);
  });
});
