/**
 * A real Sentinel setup for tests: one master, one replica and three sentinels (quorum 2) on free
 * loopback ports, with short down-after and failover timeouts so failovers take a few seconds.
 * Processes can be killed, frozen (SIGSTOP) and resumed; stop() kills only what this started.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, run } from "./redis-server.js";

export const MASTER_NAME = "cache";

export interface SentinelSetup {
  /** Data ports: [first master, first replica]. */
  servers: number[];
  sentinels: number[];
  /** Where the sentinels say the master is now (the first sentinel that answers). */
  master(): Promise<number>;
  replicaOf(port: number): number;
  signal(port: number, signal: "SIGKILL" | "SIGSTOP" | "SIGCONT"): void;
  /** Start a killed data server again, as a replica of `of`. */
  restartAsReplica(port: number, of: number): Promise<void>;
  /** Every sentinel names `master`, it has a replica in sync, and every sentinel sees that replica up. */
  settled(master?: number): Promise<void>;
  stop(): void;
}

/** redis-cli against one process (not attache); "" when it fails or hangs past a second. Never blocks the event loop (attache runs in it). */
export async function cli(port: number, ...args: string[]): Promise<string> {
  return (await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], undefined, 1_000).catch(() => "")).trim();
}

export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startSentinels(): Promise<SentinelSetup> {
  const dir = mkdtempSync(join(tmpdir(), "attache-sentinels-"));
  const processes = new Map<number, ChildProcess>();
  const servers = [await freePort(), await freePort()];
  const sentinels = [await freePort(), await freePort(), await freePort()];
  const common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];

  const startServer = (port: number, replicaOf?: number) => {
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        ...common,
        "--dbfilename",
        `dump-${port}.rdb`,
        ...(replicaOf ? ["--replicaof", "127.0.0.1", String(replicaOf)] : []),
      ],
      { cwd: dir, stdio: "ignore" },
    );
    processes.set(port, child);
  };
  startServer(servers[0]!);
  startServer(servers[1]!, servers[0]);
  await until(async () => /master_link_status:up/.test(await cli(servers[1]!, "INFO", "replication")), "the replica in sync");
  for (const port of sentinels) {
    const conf = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${servers[0]} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 500`,
        `sentinel failover-timeout ${MASTER_NAME} 2000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        "",
      ].join("\n"),
    );
    processes.set(port, spawn("redis-sentinel", [conf], { cwd: dir, stdio: "ignore" }));
  }

  const masterOf = async (sentinel: number): Promise<number> =>
    Number((await cli(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)).split("\n")[1]);
  const setup: SentinelSetup = {
    servers,
    sentinels,
    async master() {
      const named = await Promise.all(sentinels.map(masterOf));
      return named.find(Boolean) ?? 0;
    },
    replicaOf(port) {
      return servers.find((p) => p !== port)!;
    },
    signal(port, signal) {
      processes.get(port)?.kill(signal);
    },
    async restartAsReplica(port, of) {
      const old = processes.get(port);
      if (old && old.exitCode === null && old.signalCode === null) {
        old.kill("SIGKILL");
        await new Promise((r) => old.once("exit", r));
      }
      startServer(port, of);
    },
    async settled(expected?: number) {
      const master = expected ?? (await setup.master());
      const replica = setup.replicaOf(master);
      await until(async () => (await Promise.all(sentinels.map(masterOf))).every((p) => p === master), "every sentinel to name the master");
      await until(async () => /role:master/.test(await cli(master, "INFO", "replication")), "the master to be a master");
      await until(async () => /master_link_status:up/.test(await cli(replica, "INFO", "replication")), "the replica in sync");
      await until(async () => {
        const seen = await Promise.all(
          sentinels.map(async (s) => {
            const replicas = await cli(s, "SENTINEL", "REPLICAS", MASTER_NAME);
            const others = await cli(s, "SENTINEL", "SENTINELS", MASTER_NAME);
            return (
              replicas.includes(String(replica)) &&
              !/s_down|disconnected/.test(replicas) &&
              (others.match(/^name$/gm) ?? []).length === sentinels.length - 1 &&
              !/s_down/.test(others)
            );
          }),
        );
        return seen.every(Boolean);
      }, "the sentinels to see the replica and each other");
    },
    stop() {
      for (const child of processes.values()) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGCONT");
          child.kill("SIGKILL");
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await setup.settled(servers[0]);
  return setup;
}
