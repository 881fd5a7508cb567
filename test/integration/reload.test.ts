/**
 * Hot reload: a kubelet-style ConfigMap folder swapped under load, per-file
 * failure isolation, and routes that did not change keeping their breaker and connections.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { start, type Running } from "../../src/lifecycle/start.js";
import { startAttache } from "../harness/attache.js";
import { eventually, metricValue, send } from "../harness/http.js";
import { KubeletVolume } from "../harness/kubelet-volume.js";
import { startOrigin, type Origin } from "../harness/origin.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function origin(): Promise<Origin> {
  const o = await startOrigin();
  cleanup.push(() => o.close());
  return o;
}

function routeFile(routes: Array<{ prefix: string; url: string; extra?: string }>): string {
  return `routes:\n${routes.map((r) => `  - prefix: ${r.prefix}\n    upstream: { http: { endpoints: [${r.url}] } }\n${r.extra ?? ""}`).join("")}`;
}

/** listen and admin on the same "127.0.0.1:0" are refused as a duplicate address by validation: admin moves aside. */
const ROOT = `listen: 127.0.0.1:0
admin: 127.0.0.1:0
log: { level: error, access: false }
include: [routes.d/*.yaml]
`;

async function startIn(dir: string): Promise<{ running: Running; url: string; admin: string }> {
  const running = await start({ configPath: dir });
  cleanup.push(() => running.close());
  return { running, url: `http://${running.listen}`, admin: `http://${running.admin}` };
}

interface ConfigView {
  generation: number;
  lastError: { problems: string[] } | null;
  sources: string[];
}

async function configView(admin: string): Promise<ConfigView> {
  return (await send<ConfigView>(admin, "/config")).json;
}

async function reloadMetric(admin: string, result: "success" | "error"): Promise<number> {
  return metricValue((await send(admin, "/metrics")).text, "attache_config_reloads_total", `result="${result}"`) ?? 0;
}

describe("reload from a kubelet-style ConfigMap volume", () => {
  it("swaps the ..data symlink under steady load: the new route answers soon and no request fails", async () => {
    const o = await origin();
    const dir = mkdtempSync(join(tmpdir(), "attache-kubelet-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const volume = new KubeletVolume(dir);
    const keep = routeFile([{ prefix: "/keep", url: o.url }]);
    volume.write({ "attache.yaml": ROOT, "routes.d/alpha.yaml": routeFile([{ prefix: "/a", url: o.url }]), "routes.d/keep.yaml": keep });
    const { url, admin } = await startIn(dir);
    const successBefore = await reloadMetric(admin, "success");

    // 4 loops × 75 requests, ~40ms apart: ~3s of steady load on keep-alive connections.
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    cleanup.push(() => agent.destroy());
    const statuses: number[] = [];
    const failures: string[] = [];
    const loop = async (path: string) => {
      for (let i = 0; i < 75; i++) {
        try {
          const answer = await send(url, `${path}/${i}`, { agent });
          statuses.push(answer.status);
          if (answer.status !== 200) failures.push(`${path}/${i}: ${answer.status} ${answer.text}`);
        } catch (err) {
          failures.push(`${path}/${i}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 40));
      }
    };
    const load = Promise.all([loop("/a"), loop("/a"), loop("/keep"), loop("/keep")]);

    await new Promise((r) => setTimeout(r, 600));
    // /a changes (new timeout → a new upstream; the old one drains), /b appears.
    volume.write({
      "attache.yaml": ROOT,
      "routes.d/alpha.yaml": routeFile([
        { prefix: "/a", url: o.url, extra: "    timeout: 7s\n" },
        { prefix: "/b", url: o.url },
      ]),
      "routes.d/keep.yaml": keep,
    });
    await eventually(async () => (await send(url, "/b/x")).status === 200, 3000);
    await load;

    expect(failures).toEqual([]);
    expect(statuses).toHaveLength(300);
    const view = await configView(admin);
    expect(view.generation).toBe(2);
    expect(view.lastError).toBeNull();
    expect(await reloadMetric(admin, "success")).toBe(successBefore + 1);
    const routes = (await send<{ routes: Array<{ prefix: string; policies: { timeout: string } }> }>(admin, "/routes")).json.routes;
    expect(routes.find((r) => r.prefix === "/a")?.policies.timeout).toBe("7s");
  });

  it("rejects an invalid team file alone while another team's simultaneous change applies, and a colliding prefix too", async () => {
    const o = await origin();
    const dir = mkdtempSync(join(tmpdir(), "attache-kubelet-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const volume = new KubeletVolume(dir);
    const alpha = routeFile([{ prefix: "/a", url: o.url }]);
    volume.write({ "attache.yaml": ROOT, "routes.d/alpha.yaml": alpha, "routes.d/beta.yaml": routeFile([{ prefix: "/b", url: o.url }]) });
    const { running, url, admin } = await startIn(dir);
    const errorsBefore = await reloadMetric(admin, "error");

    // One swap: alpha breaks, beta adds /b2.
    volume.write({
      "attache.yaml": ROOT,
      "routes.d/alpha.yaml": routeFile([{ prefix: "/a", url: o.url, extra: "    timeout: soon\n" }]),
      "routes.d/beta.yaml": routeFile([
        { prefix: "/b", url: o.url },
        { prefix: "/b2", url: o.url },
      ]),
    });
    await eventually(async () => (await send(url, "/b2/x")).status === 200, 3000);
    expect((await send(url, "/a/x")).status).toBe(200);
    let view = await configView(admin);
    expect(view.lastError?.problems).toHaveLength(1);
    expect(view.lastError?.problems[0]).toMatch(/alpha\.yaml:4:\d+: routes\[0\]\.timeout: invalid duration "soon"/);
    expect(await reloadMetric(admin, "error")).toBe(errorsBefore + 1);

    // The same bad version seen again (SIGHUP) is not logged or counted twice.
    await running.reload("test", true);
    expect(await reloadMetric(admin, "error")).toBe(errorsBefore + 1);

    // alpha now claims beta's prefix: rejected in alpha, beta keeps /b, alpha keeps its last good /a.
    volume.write({
      "attache.yaml": ROOT,
      "routes.d/alpha.yaml": routeFile([{ prefix: "/b", url: o.url }]),
      "routes.d/beta.yaml": routeFile([
        { prefix: "/b", url: o.url },
        { prefix: "/b2", url: o.url },
      ]),
    });
    view = (await eventually(async (): Promise<ConfigView | undefined> => {
      const v = await configView(admin);
      return v.lastError?.problems[0]?.includes("already claimed") ? v : undefined;
    }, 3000))!;
    expect(view.lastError!.problems[0]).toMatch(/alpha\.yaml:2:\d+: routes\[0\]\.prefix: prefix \/b is already claimed by .*beta\.yaml/);
    expect((await send(url, "/a/x")).status).toBe(200);
    const routes = (await send<{ routes: Array<{ prefix: string; source: string }> }>(admin, "/routes")).json.routes;
    expect(routes.find((r) => r.prefix === "/b")?.source).toMatch(/beta\.yaml/);

    // Fixed: the problem disappears from /config.
    volume.write({ "attache.yaml": ROOT, "routes.d/alpha.yaml": alpha, "routes.d/beta.yaml": routeFile([{ prefix: "/b", url: o.url }]) });
    await eventually(async () => (await configView(admin)).lastError === null, 3000);
    expect((await send(url, "/b2/x")).status).toBe(404);
  });

  it("tells a bad push from a good one: attache_config_* gauges, /readyz?verbose and /config flip to failed and back", async () => {
    const o = await origin();
    const dir = mkdtempSync(join(tmpdir(), "attache-state-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const volume = new KubeletVolume(dir);
    const good = routeFile([{ prefix: "/a", url: o.url }]);
    volume.write({ "attache.yaml": ROOT, "routes.d/alpha.yaml": good });
    const { running, admin } = await startIn(dir);
    const gauges = async () => {
      const text = (await send(admin, "/metrics")).text;
      return {
        ok: metricValue(text, "attache_config_last_reload_successful"),
        rejected: metricValue(text, "attache_config_rejected_files"),
        generation: metricValue(text, "attache_config_generation"),
        at: metricValue(text, "attache_config_last_reload_success_timestamp_seconds")!,
      };
    };
    const before = await gauges();
    expect(before).toMatchObject({ ok: 1, rejected: 0, generation: 1 });
    expect(metricValue((await send(admin, "/metrics")).text, "attache_build_info", `node="${process.versions.node}"`)).toBe(1);

    volume.write({ "attache.yaml": ROOT, "routes.d/alpha.yaml": routeFile([{ prefix: "/a", url: o.url, extra: "    timeout: soon\n" }]) });
    await running.reload("test");
    expect(await gauges()).toMatchObject({ ok: 0, rejected: 1, generation: 1, at: before.at });
    const verbose = await send(admin, "/readyz?verbose");
    expect(verbose.status).toBe(200); // the last good config still serves: ready, but the push failed
    expect(verbose.json).toMatchObject({
      status: "ready",
      generation: 1,
      lastReloadSuccessful: false,
      rejectedFiles: [expect.stringMatching(/alpha\.yaml$/)],
    });
    expect((await configView(admin)) as unknown).toMatchObject({
      lastReloadSuccessful: false,
      rejectedFiles: [expect.stringMatching(/alpha\.yaml$/)],
    });
    expect((await send(admin, "/readyz")).text).toBe("ready\n");

    volume.write({ "attache.yaml": ROOT, "routes.d/alpha.yaml": routeFile([{ prefix: "/a", url: o.url, extra: "    timeout: 3s\n" }]) });
    await running.reload("test");
    const after = await gauges();
    expect(after).toMatchObject({ ok: 1, rejected: 0, generation: 2 });
    expect(after.at).toBeGreaterThanOrEqual(before.at);
    expect((await send(admin, "/readyz", { headers: { accept: "application/json" } })).json).toMatchObject({
      lastReloadSuccessful: true,
      rejectedFiles: [],
    });
  });

  it("an unforced recheck compares texts first: nothing changed is nothing to do; a new, changed or removed file is seen", async () => {
    const o = await origin();
    const dir = mkdtempSync(join(tmpdir(), "attache-recheck-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "attache.yaml"), ROOT);
    mkdirSync(join(dir, "routes.d"));
    writeFileSync(join(dir, "routes.d/a.yaml"), routeFile([{ prefix: "/a", url: o.url }]));
    const running = await start({ configPath: dir }, { watch: false });
    cleanup.push(() => running.close());
    const url = `http://${running.listen}`;

    expect(await running.reload("recheck", false)).toMatchObject({ applied: false, unchanged: true, generation: 1 });
    writeFileSync(join(dir, "routes.d/b.yaml"), routeFile([{ prefix: "/b", url: o.url }]));
    expect(await running.reload("recheck", false)).toMatchObject({ applied: true, generation: 2 });
    expect((await send(url, "/b/x")).status).toBe(200);
    expect(await running.reload("recheck", false)).toMatchObject({ applied: false, unchanged: true });
    writeFileSync(join(dir, "routes.d/b.yaml"), routeFile([{ prefix: "/b2", url: o.url }]));
    expect(await running.reload("recheck", false)).toMatchObject({ applied: true, generation: 3 });
    rmSync(join(dir, "routes.d/b.yaml"));
    expect(await running.reload("recheck", false)).toMatchObject({ applied: true, generation: 4 });
    expect((await send(url, "/b2/x")).status).toBe(404);
    writeFileSync(join(dir, "attache.yaml"), `${ROOT}routes: [{ prefix: /r, upstream: { http: { endpoints: [${o.url}] } } }]\n`);
    expect(await running.reload("recheck", false)).toMatchObject({ applied: true, generation: 5 });
    expect((await send(url, "/r/x")).status).toBe(200);
  });

  it("keeps serving the old config when the root file is invalid, and reports it until fixed", async () => {
    const o = await origin();
    const att = await startAttache({
      root: `admin: 127.0.0.1:0\nlog: { level: error, access: false }\ninclude: [routes.d/*.yaml]\n`,
      files: { "routes.d/a.yaml": routeFile([{ prefix: "/a", url: o.url }]) },
    });
    cleanup.push(() => att.stop());
    const errorsBefore = await reloadMetric(att.adminUrl, "error");

    // A typo in the root and a new team route at once: the whole update is rejected.
    writeFileSync(
      join(att.dir, "attache.yaml"),
      `listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nlog: { level: error, access: false }\ninclude: [routes.d/*.yaml]\nacceptHost: [localhost]\n`,
    );
    writeFileSync(join(att.dir, "routes.d/b.yaml"), routeFile([{ prefix: "/b", url: o.url }]));
    const view = (await eventually(async (): Promise<ConfigView | undefined> => {
      const v = await configView(att.adminUrl);
      return v.lastError ? v : undefined;
    }, 3000))!;
    expect(view.lastError!.problems.join("\n")).toMatch(
      /attache\.yaml:5:1: acceptHost: unknown key "acceptHost" \(did you mean "acceptHosts"\?\)/,
    );
    expect(view.generation).toBe(1);
    expect((await send(att.url, "/a/x")).status).toBe(200);
    expect((await send(att.url, "/b/x")).status).toBe(404);
    expect(await reloadMetric(att.adminUrl, "error")).toBe(errorsBefore + 1);

    // Fixed root: both the root and the waiting team change apply.
    writeFileSync(
      join(att.dir, "attache.yaml"),
      `listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nlog: { level: error, access: false }\ninclude: [routes.d/*.yaml]\n`,
    );
    await eventually(async () => (await send(att.url, "/b/x")).status === 200, 3000);
    const fixed = await configView(att.adminUrl);
    expect(fixed.lastError).toBeNull();
    expect(fixed.generation).toBe(2);
  });

  it("applies a root change and the team change it needs in one swap; refuses a root change that strands a team", async () => {
    const o = await origin();
    const dir = mkdtempSync(join(tmpdir(), "attache-kubelet-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const volume = new KubeletVolume(dir);
    const root = (owners: string) => `${ROOT}owners: ${owners}\n`;
    const team = (prefix: string) => `owner: pay\n${routeFile([{ prefix, url: o.url }])}`;
    const ops = `owner: ops\n${routeFile([{ prefix: "/ops", url: o.url }])}`;
    volume.write({ "attache.yaml": root("{ pay: [/pay], ops: [/ops] }"), "routes.d/pay.yaml": team("/pay"), "routes.d/ops.yaml": ops });
    const { url, admin } = await startIn(dir);

    // The grant moves from /pay to /billing and the team follows, in the same update.
    volume.write({
      "attache.yaml": root("{ pay: [/billing], ops: [/ops] }"),
      "routes.d/pay.yaml": team("/billing"),
      "routes.d/ops.yaml": ops,
    });
    await eventually(async () => (await send(url, "/billing/x")).status === 200, 3000);
    expect((await send(url, "/pay/x")).status).toBe(404);
    expect((await configView(admin)).lastError).toBeNull();

    // A root that takes ops' grant away while ops does not move: the whole update is refused.
    volume.write({
      "attache.yaml": root("{ pay: [/billing, /extra], ops: [/other] }"),
      "routes.d/pay.yaml": `${team("/billing")}  - prefix: /extra\n    upstream: { http: { endpoints: [${o.url}] } }\n`,
      "routes.d/ops.yaml": ops,
    });
    const view = (await eventually(async (): Promise<ConfigView | undefined> => {
      const v = await configView(admin);
      return v.lastError ? v : undefined;
    }, 3000))!;
    expect(view.lastError!.problems[0]).toMatch(/attache\.yaml: root file change rejected/);
    expect(view.lastError!.problems.join("\n")).toMatch(
      /ops\.yaml:\d+:\d+: routes\[0\]\.prefix: prefix \/ops is outside what owners grants ops/,
    );
    expect((await send(url, "/ops/x")).status).toBe(200);
    expect((await send(url, "/extra/x")).status).toBe(404);
  });

  it("a change to one route keeps the breaker state and upstream connections of the others", async () => {
    const flaky = (await origin()).route("/", (_req, res) => {
      res.statusCode = 500;
      res.end("no");
    });
    const stable = await origin();
    const other = await origin();
    const files = (otherExtra: string) => ({
      "routes.d/flaky.yaml": routeFile([
        {
          prefix: "/flaky",
          url: flaky.url,
          extra: "    circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: 60s }\n",
        },
      ]),
      "routes.d/stable.yaml": routeFile([{ prefix: "/stable", url: stable.url }]),
      "routes.d/other.yaml": routeFile([{ prefix: "/other", url: other.url, extra: otherExtra }]),
    });
    const att = await startAttache({
      root: `admin: 127.0.0.1:0\nlog: { level: error, access: false }\ninclude: [routes.d/*.yaml]\n`,
      files: files(""),
    });
    cleanup.push(() => att.stop());

    for (let i = 0; i < 4; i++) await send(att.url, "/flaky/x");
    const breakerOf = async (prefix: string) =>
      (await send<{ routes: Array<{ prefix: string; breaker: { state: string } }> }>(att.adminUrl, "/routes")).json.routes.find(
        (r) => r.prefix === prefix,
      )!.breaker.state;
    expect(await breakerOf("/flaky")).toBe("open");
    for (let i = 0; i < 3; i++) expect((await send(att.url, "/stable/x")).status).toBe(200);
    expect((await send(att.url, "/other/x")).status).toBe(200);
    const stableConnections = stable.connections;
    const otherConnections = other.connections;
    expect(stableConnections).toBe(1);

    writeFileSync(join(att.dir, "routes.d/other.yaml"), files("    timeout: 3s\n")["routes.d/other.yaml"]);
    await eventually(async () => (await configView(att.adminUrl)).generation === 2, 3000);

    expect(await breakerOf("/flaky")).toBe("open");
    expect((await send(att.url, "/flaky/x")).headers["x-attache-error"]).toBe("circuit_open");
    for (let i = 0; i < 3; i++) expect((await send(att.url, "/stable/x")).status).toBe(200);
    expect(stable.connections).toBe(stableConnections);
    // The changed route has a new upstream, but its pool settings are the same: it keeps the connection (resilience/shared-pools.ts).
    expect((await send(att.url, "/other/x")).status).toBe(200);
    expect(other.connections).toBe(otherConnections);
  });

  it("a changed route's old upstream finishes its requests on the old settings, then closes its pool", async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const o = (await origin()).route("/hold", (_req, res) => void released.then(() => res.end("old upstream answered")));
    const openConnections = () => new Promise<number>((resolve) => o.server.getConnections((_err, n) => resolve(n)));
    // Long idle timeouts on both sides (undici honours the origin's Keep-Alive hint): only close() can
    // explain the pool's keep-alive socket going away. The new settings are another pool's
    // (resilience/shared-pools.ts), so the old one is the old route's alone.
    o.server.keepAliveTimeout = 120_000;
    const file = (timeout: string, idle: string) =>
      routeFile([{ prefix: "/a", url: o.url, extra: `    timeout: ${timeout}\n    pool: { idleTimeout: ${idle} }\n` }]);
    const att = await startAttache({
      root: `admin: 127.0.0.1:0\nlog: { level: error, access: false }\ninclude: [routes.d/*.yaml]\n`,
      files: { "routes.d/a.yaml": file("9s", "60s") },
    });
    cleanup.push(() => att.stop());

    const held = send(att.url, "/a/hold");
    await eventually(() => o.requests === 1);
    writeFileSync(join(att.dir, "routes.d/a.yaml"), file("8s", "59s"));
    await eventually(async () => (await configView(att.adminUrl)).generation === 2, 3000);
    expect(await openConnections()).toBe(1);

    release();
    expect((await held).text).toBe("old upstream answered");
    await eventually(async () => (await openConnections()) === 0, 3000);
  });

  it("a removed route stops accepting but finishes its requests in flight", async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const slow = (await origin()).route("/", (_req, res) => {
      void released.then(() => res.end("late but whole"));
    });
    const keep = await origin();
    const att = await startAttache({
      root: `admin: 127.0.0.1:0\nlog: { level: error, access: false }\ninclude: [routes.d/*.yaml]\n`,
      files: {
        "routes.d/slow.yaml": routeFile([{ prefix: "/slow", url: slow.url }]),
        "routes.d/keep.yaml": routeFile([{ prefix: "/keep", url: keep.url }]),
      },
    });
    cleanup.push(() => att.stop());

    const inflight = send(att.url, "/slow/x");
    await eventually(() => slow.requests === 1);
    rmSync(join(att.dir, "routes.d/slow.yaml"));
    await eventually(async () => (await configView(att.adminUrl)).generation === 2, 3000);
    expect((await send(att.url, "/slow/y")).headers["x-attache-error"]).toBe("no_route");
    release();
    const answer = await inflight;
    expect(answer.status).toBe(200);
    expect(answer.text).toBe("late but whole");
    expect((await send(att.url, "/keep/x")).status).toBe(200);
  });
});
