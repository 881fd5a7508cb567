/**
 * A real Redis Cluster for tests: three masters and their replicas (`redis-server --cluster-enabled
 * yes`, joined with `redis-cli --cluster create`) on free loopback ports whose bus ports (+10000) are
 * free too, with a short cluster-node-timeout so a failover takes a couple of seconds.
 * stop() kills only what this started.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./redis-server.js";

export interface ClusterSetup {
  /** Every node's port, masters first as created. */
  ports: number[];
  /** The port of the master holding `key`, as the cluster says now. */
  masterOf(key: string): Promise<number>;
  kill(port: number): void;
  stop(): void;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
}

/** redis-cli; "" when it fails or hangs past `ms`. Never blocks the event loop (attache may run in it). */
export async function clusterCli(args: string[], ms = 2_000): Promise<string> {
  return (await run("redis-cli", args, undefined, ms).catch((err: Error) => err.message)).trim();
}

export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Three masters, each with `replicas` replicas (1 by default; 0 for a cluster that only spreads keys). */
export async function startCluster({ replicas = 1 }: { replicas?: 0 | 1 } = {}): Promise<ClusterSetup> {
  const dir = mkdtempSync(join(tmpdir(), "attache-cluster-"));
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let i = 0; i < 3 * (1 + replicas); i++) ports.push(await clusterPort(taken));
  const processes = new Map<number, ChildProcess>();
  for (const port of ports) {
    const args = [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      `nodes-${port}.conf`,
      "--cluster-node-timeout",
      "1000",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ];
    processes.set(port, spawn("redis-server", args, { cwd: dir, stdio: "ignore" }));
  }
  await until(
    async () => (await Promise.all(ports.map((p) => clusterCli(["-p", String(p), "PING"])))).every((r) => r === "PONG"),
    "the nodes to start",
  );
  const created = await clusterCli(
    ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", String(replicas), "--cluster-yes"],
    30_000,
  );
  if (!/All 16384 slots covered/.test(created)) throw new Error(`cluster create failed: ${created}`);
  await until(
    async () =>
      (await Promise.all(ports.map((p) => clusterCli(["-p", String(p), "CLUSTER", "INFO"])))).every((r) => /cluster_state:ok/.test(r)),
    "the cluster to be ok",
  );
  // Every replica in sync, so a failover loses nothing that was acknowledged a moment before.
  await until(async () => {
    const infos = await Promise.all(ports.map((p) => clusterCli(["-p", String(p), "INFO", "replication"])));
    return infos.filter((i) => /role:slave/.test(i) && /master_link_status:up/.test(i)).length === 3 * replicas;
  }, "the replicas in sync");
  return {
    ports,
    async masterOf(key) {
      for (const port of ports) {
        const role = await clusterCli(["-p", String(port), "ROLE"]);
        if (!role.startsWith("master")) continue;
        const slot = await clusterCli(["-p", String(port), "CLUSTER", "KEYSLOT", key]);
        const nodes = await clusterCli(["-p", String(port), "CLUSTER", "NODES"]);
        for (const line of nodes.split("\n")) {
          const [, address, flags, , , , , , ...slots] = line.split(" ");
          if (!flags?.includes("master") || flags.includes("fail")) continue;
          for (const range of slots) {
            const [from, to = from] = range.split("-").map(Number);
            if (Number(slot) >= from! && Number(slot) <= to!) return Number(address!.split("@")[0]!.split(":")[1]);
          }
        }
      }
      throw new Error(`no master found for ${key}`);
    },
    kill(port) {
      processes.get(port)?.kill("SIGKILL");
    },
    stop() {
      for (const child of processes.values()) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
