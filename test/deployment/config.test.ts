/**
 * The attache config inside the example ConfigMaps is valid, exactly as the pod would load it:
 * the projected volume written out the way the kubelet lays it out, the token, CA and password files
 * the pod mounts, and the container's environment. Validated in-process (loadConfig) and with the
 * built CLI (`attache validate`), as a team's CI would.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isLoopback, loadConfig, type Config } from "../../src/config/validate.js";
import { loadManifests, ROOT, type Manifest } from "./manifests.js";
import { materializeSidecar, podView } from "./pod.js";

const run = promisify(execFile);
const CLI = join(ROOT, "dist/main.js");

let manifests: Manifest[];
let root: string;
let configDir: string;
let env: Record<string, string>;
let config: Config;

beforeAll(async () => {
  manifests = loadManifests();
  root = mkdtempSync(join(tmpdir(), "attache-k8s-"));
  ({ env } = materializeSidecar(manifests, root));
  const { sidecar } = podView(manifests);
  const dashC = sidecar.args.indexOf("-c");
  configDir = join(root, sidecar.args[dashC + 1]);
  const loaded = await loadConfig({ configPath: configDir, env, cwd: root });
  expect(loaded.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`)).toEqual([]);
  config = loaded.config!;
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("the attache config in the example ConfigMaps", () => {
  it("is valid as the pod loads it: root file plus both teams' route files, through the projected volume's symlinks", () => {
    expect(config.rootFile).toBe(join(configDir, "attache.yaml"));
    expect(config.files.map((f) => f.slice(configDir.length + 1)).sort()).toEqual([
      "attache.yaml",
      "routes.d/platform.yaml",
      "routes.d/shop.yaml",
    ]);
    expect(config.routes.map((r) => [r.prefix, r.source.owner]).sort()).toEqual([
      ["/cache", "shop"],
      ["/k8s", "platform"],
      ["/orders", "shop"],
    ]);
  });

  it("keeps the data listener and the RESP listener on loopback; only admin binds beyond it, on the probed port", () => {
    expect(isLoopback(config.listen)).toBe(true);
    expect(config.listen).toBe("127.0.0.1:8001");
    for (const route of config.routes)
      if (route.upstream.redis?.listen) expect(isLoopback(route.upstream.redis.listen), route.prefix).toBe(true);
    const { sidecar } = podView(manifests);
    const adminPort = Number(config.admin.slice(config.admin.lastIndexOf(":") + 1));
    const declared = sidecar.ports.map((p: { containerPort: number }) => p.containerPort);
    expect(declared).toEqual([adminPort]);
    expect(declared).not.toContain(8001);
    for (const probe of [sidecar.startupProbe, sidecar.readinessProbe, sidecar.livenessProbe]) {
      const port = sidecar.ports.find((p: { name: string }) => p.name === probe.httpGet.port)?.containerPort ?? probe.httpGet.port;
      expect(port).toBe(adminPort);
      const host = probe.httpGet.httpHeaders?.find((h: { name: string }) => h.name.toLowerCase() === "host")?.value;
      expect(config.acceptHosts).toContain(host);
    }
  });

  it("drains within the pod's termination grace period", () => {
    const { pod } = podView(manifests);
    expect(config.shutdown.drainTimeout + config.shutdown.idleGrace).toBeLessThan(pod.terminationGracePeriodSeconds * 1000 - 10_000);
  });

  it("reads its credentials from files the pod mounts into the attache container only", () => {
    const k8s = config.routes.find((r) => r.prefix === "/k8s")!;
    expect(k8s.upstream.kubernetes?.tokenFile).toBe(join(root, "/var/run/secrets/attache/kubernetes/token"));
    expect(readFileSync(k8s.upstream.kubernetes!.tokenFile!, "utf8")).toMatch(/service-account/);
    const cache = config.routes.find((r) => r.prefix === "/cache")!;
    expect(readFileSync(cache.upstream.redis!.passwordFile!, "utf8")).toBe(
      manifests.find((m) => m.doc.kind === "Secret" && m.doc.metadata.name === "redis-auth")!.doc.stringData.password,
    );
  });

  it("fails validation when a team file breaks (so the check above can fail)", async () => {
    const shop = join(configDir, "routes.d/shop.yaml");
    const original = readFileSync(shop, "utf8");
    try {
      writeFileSync(shop, original.replace("keyPrefix:", "keyPrefx:"));
      const broken = await loadConfig({ configPath: configDir, env, cwd: root });
      expect(broken.problems.map((p) => p.message).join("\n")).toMatch(/keyPrefx/);
      // An environment variable the pod does not set is an error too.
      const { POD_NAMESPACE: _, ...withoutNamespace } = env;
      writeFileSync(shop, original);
      const noEnv = await loadConfig({ configPath: configDir, env: withoutNamespace, cwd: root });
      expect(noEnv.problems.map((p) => p.message).join("\n")).toMatch(/POD_NAMESPACE/);
    } finally {
      writeFileSync(shop, original);
    }
  });
});

describe("attache validate (the built CLI) on the example ConfigMaps", () => {
  const cliEnv = () => ({ PATH: process.env.PATH ?? "", HOME: root, ...env });

  it("exits 0 with a one-line summary", async () => {
    expect(existsSync(CLI), `${CLI} is missing: run npm run build`).toBe(true);
    const { stdout } = await run(process.execPath, [CLI, "validate", "-c", configDir], { env: cliEnv(), cwd: root, timeout: 15_000 });
    expect(stdout.trim().split("\n")).toHaveLength(1);
  });

  it("exits 1 naming file:line:col when a team file is wrong", async () => {
    expect(existsSync(CLI), `${CLI} is missing: run npm run build`).toBe(true);
    const shop = join(configDir, "routes.d/shop.yaml");
    const original = readFileSync(shop, "utf8");
    try {
      writeFileSync(shop, original.replace("prefix: /cache", "prefix: /k8s"));
      const failed = await run(process.execPath, [CLI, "validate", "-c", configDir], { env: cliEnv(), cwd: root, timeout: 15_000 }).then(
        () => undefined,
        (err: { code: number; stdout: string; stderr: string }) => err,
      );
      expect(failed?.code).toBe(1);
      expect(`${failed?.stdout}${failed?.stderr}`).toMatch(/shop\.yaml:\d+:\d+: .*\/k8s/);
    } finally {
      writeFileSync(shop, original);
    }
  });
});
