/** The built binary, spawned as a user runs it: exit codes 0 / 1 / 2 and what it prints. */
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { tempConfig } from "../harness/attache.js";
import { listenOn } from "../harness/listen.js";

const BIN = new URL("../../dist/main.js", import.meta.url).pathname;
const run = (args: string[], cwd?: string) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd, env: { ...process.env, ATTACHE_CONFIG: "" } });

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});
function config(root: string, files?: Record<string, string>) {
  const c = tempConfig(root, files);
  cleanups.push(c.remove);
  return c.dir;
}
const HTTP = "upstream: { http: { endpoints: [http://127.0.0.1:9000] } }";

describe("attache CLI", () => {
  it("--version and --help exit 0", () => {
    expect(run(["--version"])).toMatchObject({ status: 0, stdout: expect.stringMatching(/^attache \d+\.\d+\.\d+\n$/) });
    expect(run(["--help"])).toMatchObject({ status: 0, stdout: expect.stringContaining("attache validate [-c PATH]") });
  });

  it("usage errors exit 2", () => {
    expect(run(["frobnicate"]).status).toBe(2);
    expect(run(["--bogus"]).status).toBe(2);
    expect(run(["validate", "extra"]).status).toBe(2);
  });

  it("validate: exit 0 with a one-line summary", () => {
    const dir = config(`routes:\n  - prefix: /a\n    ${HTTP}\n`);
    const r = run(["validate", "-c", dir]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`ok: 1 route(s) from 1 file(s), root ${dir}/attache.yaml\n`);
  });

  it("validate: exit 1 with every problem as file:line:col: message", () => {
    const dir = config(`include: [routes.d/*.yaml]\nroutes:\n  - prefix: /a\n    timeout: soon\n    ${HTTP}\n`, {
      "routes.d/t.yaml": `routes:\n  - prefix: /b\n    upstream: { http: { endpoints: [http://x:1] } }\n    retyr: {}\n`,
    });
    const r = run(["validate", "-c", dir]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([
      `${dir}/attache.yaml:4:14: routes[0].timeout: invalid duration "soon" (use e.g. 250ms, 5s, 2m, or integer milliseconds)`,
      `${dir}/routes.d/t.yaml:4:5: routes[0].retyr: unknown key "retyr" (did you mean "retry"?)`,
    ]);
  });

  it("finds the config by cosmiconfig names in the cwd, then ./config", () => {
    const dir = config(`routes: []\n`);
    expect(run(["validate"], dir).status).toBe(0);
    const parent = config(`routes: []\n`, { "config/attache.yaml": "routes: []\n" });
    // attache.yaml in the cwd wins over ./config
    expect(run(["validate"], parent).stdout).toContain(`root ${parent}/attache.yaml`);
  });

  it("a missing config path is a one-line error, exit 1", () => {
    const r = run(["validate", "-c", "/nonexistent/attache"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("/nonexistent/attache: no such file or directory\n");
  });

  it("routes: prints the merged table with owner and source line", () => {
    const dir = config(`include: [routes.d/*.yaml]\nroutes:\n  - prefix: /a\n    ${HTTP}\n`, {
      "routes.d/t.yaml": `owner: team\nroutes:\n  - prefix: /b\n    retry: { attempts: 2 }\n    ${HTTP}\n`,
    });
    const r = run(["routes", "-c", dir]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^PREFIX\s+OWNER\s+SOURCE\s+UPSTREAM\s+TIMEOUT\s+RETRY\s+BREAKER\s+ADMITTED BY$/);
    expect(lines[1]).toMatch(
      /^\/a\s+-\s+\S*attache\.yaml:3\s+http http:\/\/127\.0\.0\.1:9000\s+15s\s+off\s+50%\/20 reset 10s\s+root file$/,
    );
    expect(lines[2]).toMatch(/^\/b\s+team\s+\S*routes\.d\/t\.yaml:3\s+http .*2x on connect-failure,reset,502,503,504\s+.*\s+no owners$/);
  });

  it("routes: ADMITTED BY names the grant and the entries of it that let each route in", () => {
    const dir = config(`include: [t.yaml]\nowners:\n  team: { prefixes: [/b], upstreams: [http], hosts: [127.0.0.1] }\n`, {
      "t.yaml": `owner: team\nroutes:\n  - prefix: /b/c\n    ${HTTP}\n`,
    });
    const r = run(["routes", "-c", dir]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")[1]).toMatch(/^\/b\/c\s+team\s+.*\s+owners\.team \(prefix \/b, upstream http, host 127\.0\.0\.1\)$/);
  });

  it("run: serves, answers /readyz, and exits 0 on SIGTERM", async () => {
    const dir = config(`listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nshutdown: { idleGrace: 50ms }\nroutes: []\n`);
    const child = spawn(process.execPath, [BIN, "run", "-c", dir], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const ready = await new Promise<{ admin: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready: ${out}`)), 10_000);
      child.stdout.on("data", () => {
        const line = out.split("\n").find((l) => l.includes('"attache ready"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { admin: string });
        }
      });
    });
    expect((await fetch(`http://${ready.admin}/readyz`)).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("run: a port in use is a one-line error, exit 1", async () => {
    const blocker = createServer();
    const port = await listenOn(blocker);
    try {
      const dir = config(`listen: 127.0.0.1:${port}\nadmin: 127.0.0.1:0\nroutes: []\n`);
      const r = run(["run", "-c", dir]);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`attache: cannot listen on 127.0.0.1:${port} (listen): address already in use\n`);
    } finally {
      blocker.close();
    }
  });

  it("run: invalid config is fatal at start, exit 1, nothing bound", () => {
    const dir = config(`listen: 127.0.0.1:0\nroutes:\n  - prefix: /a\n`);
    const r = run(["run", "-c", dir]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${dir}/attache.yaml:3:5: routes[0]`);
  });
});

describe("shipped configs", () => {
  const root = new URL("../..", import.meta.url).pathname;
  it.each(["config", "examples/team-routes", "examples/seed-kubectl-proxy"])("%s passes attache validate", (dir) => {
    const r = run(["validate", "-c", `${root}${dir}`]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
