import { afterEach, describe, expect, it } from "vitest";
import { join } from "node:path";
import { loadConfig } from "../../../src/config/validate.js";
import { formatProblem } from "../../../src/config/problems.js";
import { tempConfig } from "../../harness/attache.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** Problems as "file:line:col: path: message" with the temp folder replaced by "<dir>". */
async function problemsOf(root: string, files: Record<string, string> = {}, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const { dir, remove } = tempConfig(root, files);
  cleanups.push(remove);
  const result = await loadConfig({ configPath: dir, env });
  return result.problems.map((p) => formatProblem(p).replaceAll(dir, "<dir>"));
}

const HTTP = "upstream: { http: { endpoints: [http://127.0.0.1:9000] } }";

/** The routes of a valid root file, resolved (defaults applied). */
async function resolvedRoutes(root: string) {
  const { dir, remove } = tempConfig(root);
  cleanups.push(remove);
  const { config, problems } = await loadConfig({ configPath: dir, env: {} });
  expect(problems).toEqual([]);
  return config!.routes;
}

describe("config validation: one problem per mistake, with file:line:col", () => {
  it("accepts a valid root and team file, and applies defaults", async () => {
    const { dir, remove } = tempConfig(`include: [routes.d/*.yaml]\ndefaults: { timeout: 3s }\nroutes:\n  - prefix: /a\n    ${HTTP}\n`, {
      "routes.d/t.yaml": `owner: t\nroutes:\n  - prefix: /b\n    timeout: 250ms\n    ${HTTP}\n`,
    });
    cleanups.push(remove);
    const { config, problems } = await loadConfig({ configPath: dir, env: {} });
    expect(problems).toEqual([]);
    expect(config!.routes.map((r) => [r.prefix, r.timeout, r.source.owner, r.source.line])).toEqual([
      ["/a", 3000, undefined, 4],
      ["/b", 250, "t", 3],
    ]);
    expect(config!.routes[0]!.circuitBreaker.volumeThreshold).toBe(20);
    expect(config!.files).toEqual([join(dir, "attache.yaml"), join(dir, "routes.d/t.yaml")]);
    expect(Object.isFrozen(config!.routes[0])).toBe(true);
  });

  it("names an unknown key with a did-you-mean", async () => {
    expect(await problemsOf(`routes:\n  - prefix: /a\n    timout: 5s\n    ${HTTP}\n`)).toEqual([
      `<dir>/attache.yaml:3:5: routes[0].timout: unknown key "timout" (did you mean "timeout"?)`,
    ]);
  });

  it("refuses a port above 65535 where it is written, not when attache binds it", async () => {
    expect(
      await problemsOf(
        `listen: 127.0.0.1:80010\nroutes:\n  - prefix: /a\n    upstream: { redis: { sentinels: ["127.0.0.1:26379", "[::1]:99999"], name: m } }\n`,
      ),
    ).toEqual([
      "<dir>/attache.yaml:1:9: listen: port above 65535",
      "<dir>/attache.yaml:4:57: routes[0].upstream.redis.sentinels[1]: port above 65535",
    ]);
  });

  it("reports a wrong upstream kind with a suggestion", async () => {
    expect(await problemsOf(`routes:\n  - prefix: /a\n    upstream: { htp: { endpoints: [x] } }\n`)).toEqual([
      `<dir>/attache.yaml:3:15: routes[0].upstream: upstream needs exactly one of http, kubernetes, redis`,
      `<dir>/attache.yaml:3:17: routes[0].upstream.htp: unknown key "htp" (did you mean "http"?)`,
    ]);
  });

  it("rejects bad durations, sizes, types, URLs and regexes, all at once", async () => {
    const problems = await problemsOf(
      [
        "routes:",
        "  - prefix: /a",
        "    timeout: 5 parsecs",
        "    maxBodySize: lots",
        "    stripPrefix: yes please",
        "    upstream: { http: { endpoints: [ftp://x] } }",
        '    deny: [{ path: "(" }]',
        "",
      ].join("\n"),
    );
    expect(problems).toEqual([
      `<dir>/attache.yaml:3:14: routes[0].timeout: invalid duration "5 parsecs" (use e.g. 250ms, 5s, 2m, or integer milliseconds)`,
      `<dir>/attache.yaml:4:18: routes[0].maxBodySize: invalid size "lots" (use e.g. 512kb, 1mb, or integer bytes)`,
      `<dir>/attache.yaml:5:18: routes[0].stripPrefix: Invalid input: expected boolean, received string`,
      `<dir>/attache.yaml:6:37: routes[0].upstream.http.endpoints[0]: expected an http:// or https:// URL`,
      "<dir>/attache.yaml:7:20: routes[0].deny[0].path: invalid regular expression: missing closing ): `(`",
    ]);
  });

  it("a kubernetes route's built-in timeout is the API server's 60 s; defaults.timeout and its own still win", async () => {
    const routes =
      "routes:\n  - { prefix: /k, upstream: { kubernetes: {} } }\n  - { prefix: /own, timeout: 2s, upstream: { kubernetes: {} } }\n  - prefix: /h\n    " +
      HTTP +
      "\n";
    for (const [root, expected] of [
      [routes, [60_000, 2_000, 15_000]],
      [`defaults: { timeout: 3s }\n${routes}`, [3_000, 2_000, 3_000]],
    ] as const) {
      expect((await resolvedRoutes(root)).map((r) => r.timeout)).toEqual(expected);
    }
  });

  it("a kubernetes route keeps an idle connection 90 s, as client-go; defaults.pool and its own pool still win", async () => {
    const routes =
      "routes:\n  - { prefix: /k, upstream: { kubernetes: {} } }\n  - { prefix: /own, pool: { idleTimeout: 2s }, upstream: { kubernetes: {} } }\n  - prefix: /h\n    " +
      HTTP +
      "\n";
    for (const [root, expected] of [
      [routes, [90_000, 2_000, 4_000]],
      [`defaults: { pool: { idleTimeout: 3s } }\n${routes}`, [3_000, 2_000, 3_000]],
    ] as const) {
      expect((await resolvedRoutes(root)).map((r) => r.pool.idleTimeout)).toEqual(expected);
    }
  });

  it("headers.remove takes names and prefixes ending in *, nothing else", async () => {
    expect(
      await problemsOf(`routes:\n  - prefix: /a\n    headers: { remove: [X-Debug-*, Impersonate-User, "X-*-Id", "a b"] }\n    ${HTTP}\n`),
    ).toEqual([
      "<dir>/attache.yaml:3:54: routes[0].headers.remove[2]: expected a header name, or a prefix ending in * (e.g. Impersonate-*)",
      "<dir>/attache.yaml:3:64: routes[0].headers.remove[3]: expected a header name, or a prefix ending in * (e.g. Impersonate-*)",
    ]);
  });

  it("a kubernetes route cannot set an identity header unless it opts in", async () => {
    const problems = await problemsOf(
      `routes:\n  - prefix: /k\n    headers: { set: { Impersonate-User: system:admin, x-remote-group: system:masters, X-Team: a } }\n    upstream: { kubernetes: {} }\n`,
    );
    expect(problems.map((p) => p.replace(/:\d+:\d+:/, ":L:C:"))).toEqual([
      "<dir>/attache.yaml:L:C: routes[0].headers.set.Impersonate-User: Impersonate-User is an identity header: a kubernetes route sets it only with upstream.kubernetes.identityHeaders: pass",
      "<dir>/attache.yaml:L:C: routes[0].headers.set.x-remote-group: x-remote-group is an identity header: a kubernetes route sets it only with upstream.kubernetes.identityHeaders: pass",
    ]);
    expect(
      await problemsOf(
        `routes:\n  - prefix: /k\n    headers: { set: { Impersonate-User: bob } }\n    upstream: { kubernetes: { identityHeaders: pass } }\n`,
      ),
    ).toEqual([]);
    expect(await problemsOf(`routes:\n  - prefix: /h\n    headers: { set: { Impersonate-User: bob } }\n    ${HTTP}\n`)).toEqual([]);
  });

  it("a kubernetes route's identityHeaders is remove or pass", async () => {
    expect(await problemsOf(`routes:\n  - prefix: /k\n    upstream: { kubernetes: { identityHeaders: keep } }\n`)).toHaveLength(1);
    expect(await problemsOf(`routes:\n  - prefix: /k\n    upstream: { kubernetes: { identityHeaders: pass } }\n`)).toEqual([]);
  });

  it("reports a YAML syntax error with its position", async () => {
    const problems = await problemsOf("routes:\n  - prefix: /a\n   bad: [\n");
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).toMatch(/^<dir>\/attache\.yaml:[34]:\d+: /);
  });

  it(`expands \${VAR} and \${VAR:-default}, and names an unset variable`, async () => {
    const root = `routes:\n  - prefix: /a\n    upstream: { http: { endpoints: ["\${ORIGIN}"] } }\n    timeout: "\${T:-2s}"\n`;
    expect(await problemsOf(root, {}, {})).toEqual([
      `<dir>/attache.yaml:3:37: routes[0].upstream.http.endpoints[0]: environment variable ORIGIN is not set (write \${ORIGIN:-default} for a default)`,
    ]);
    const { dir, remove } = tempConfig(root);
    cleanups.push(remove);
    const { config } = await loadConfig({ configPath: dir, env: { ORIGIN: "http://127.0.0.1:1234" } });
    expect(config!.routes[0]!.upstream.http!.endpoints).toEqual(["http://127.0.0.1:1234"]);
    expect(config!.routes[0]!.timeout).toBe(2000);
  });

  it(`expands a \${VAR} written with a double-quoted escape (\\x24{VAR}) too`, async () => {
    const root = `routes:\n  - prefix: /a\n    upstream: { http: { endpoints: ["\\x24{ORIGIN}"] } }\n`;
    expect(await problemsOf(root, {}, {})).toEqual([
      `<dir>/attache.yaml:3:37: routes[0].upstream.http.endpoints[0]: environment variable ORIGIN is not set (write \${ORIGIN:-default} for a default)`,
    ]);
  });

  it("requires *File secrets to exist, without printing their contents", async () => {
    const problems = await problemsOf(
      `routes:\n  - prefix: /a\n    upstream: { http: { endpoints: [http://a:1], auth: { bearerTokenFile: ./missing-token } } }\n`,
    );
    expect(problems).toEqual([
      `<dir>/attache.yaml:3:75: routes[0].upstream.http.auth.bearerTokenFile: file ./missing-token does not exist`,
    ]);
  });

  it("names both places of a prefix claimed twice", async () => {
    const problems = await problemsOf(`include: [routes.d/*.yaml]\nroutes:\n  - prefix: /a\n    ${HTTP}\n`, {
      "routes.d/t.yaml": `routes:\n  - prefix: /a\n    ${HTTP}\n`,
    });
    expect(problems).toEqual([`<dir>/routes.d/t.yaml:2:13: routes[0].prefix: prefix /a is already claimed by <dir>/attache.yaml:3:13`]);
  });

  it("enforces owners: missing owner, unknown owner, prefix outside the grant (segment boundary)", async () => {
    const root = `include: [routes.d/*.yaml]\nowners:\n  pay: [/pay]\n`;
    const problems = await problemsOf(root, {
      "routes.d/a.yaml": `routes:\n  - prefix: /pay/x\n    ${HTTP}\n`,
      "routes.d/b.yaml": `owner: nobody\nroutes: []\n`,
      "routes.d/c.yaml": `owner: pay\nroutes:\n  - prefix: /payments\n    ${HTTP}\n  - prefix: /pay/ok\n    ${HTTP}\n`,
    });
    expect(problems).toEqual([
      "<dir>/routes.d/a.yaml:1:1: owner is missing: the root file sets owners, so every route file must name its owner",
      `<dir>/routes.d/b.yaml:1:8: owner: owner "nobody" is not listed in the root file's owners (pay)`,
      "<dir>/routes.d/c.yaml:3:13: routes[0].prefix: prefix /payments is outside what owners grants pay (/pay)",
    ]);
  });

  it("refuses a non-loopback listener unless allowNonLoopback is set", async () => {
    expect(await problemsOf(`listen: 0.0.0.0:8001\n`)).toEqual([
      "<dir>/attache.yaml:1:9: listen: 0.0.0.0:8001 is not a loopback address; set allowNonLoopback: true in the root file to expose attache beyond this machine",
    ]);
    expect(await problemsOf(`listen: 0.0.0.0:8001\nallowNonLoopback: true\n`)).toEqual([]);
  });

  it("lets the probe listener (health only) bind beyond loopback on its own, but not on a port already used", async () => {
    expect(await problemsOf(`probe: 0.0.0.0:9902\n`)).toEqual([]);
    expect(await problemsOf(`admin: 127.0.0.1:9901\nprobe: 127.0.0.1:9901\n`)).toEqual([
      "<dir>/attache.yaml:2:8: probe: 127.0.0.1:9901 is already used by admin in <dir>/attache.yaml",
    ]);
  });

  it("reports problems in several files at once, even when the root file is wrong", async () => {
    const problems = await problemsOf(`include: [routes.d/*.yaml]\nlisten: nope\n`, {
      "routes.d/t.yaml": "routes:\n  - prefix: no-slash\n    upstream: {}\n",
    });
    expect(problems.map((p) => p.split(": ")[0])).toEqual([
      "<dir>/attache.yaml:2:9",
      "<dir>/routes.d/t.yaml:2:13",
      "<dir>/routes.d/t.yaml:3:15",
    ]);
  });
});
