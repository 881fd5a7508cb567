/**
 * A redis route with `sentinels` + `name` against real processes: a master, a replica and a sentinel
 * (Debian's redis-server and redis-sentinel). Kill the master; the sentinel promotes the replica and
 * the route keeps working on the new master, with no change to the app or the config.
 * redis-server and redis-sentinel come from npm test's preflight (test/preflight.mjs).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAttache, type AttacheUnderTest } from "../harness/attache.js";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function cli(port: number, ...args: string[]): string {
  const out = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { encoding: "utf8", timeout: 5_000 });
  return (out.stdout ?? "").trim();
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a redis route with sentinels", () => {
  const dir = mkdtempSync(join(tmpdir(), "attache-sentinel-"));
  const processes: ChildProcess[] = [];
  let master = 0;
  let replica = 0;
  let sentinel = 0;
  let attache: AttacheUnderTest | undefined;

  function start(bin: string, args: string[]): ChildProcess {
    const child = spawn(bin, args, { cwd: dir, stdio: "ignore" });
    processes.push(child);
    return child;
  }

  let masterProcess: ChildProcess;

  beforeAll(async () => {
    [master, replica, sentinel] = [await freePort(), await freePort(), await freePort()];
    const common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
    masterProcess = start("redis-server", ["--port", String(master), ...common]);
    start("redis-server", ["--port", String(replica), ...common, "--replicaof", "127.0.0.1", String(master)]);
    await until(() => /master_link_status:up/.test(cli(replica, "INFO", "replication")), "the replica in sync");
    const conf = join(dir, "sentinel.conf");
    writeFileSync(
      conf,
      [
        `port ${sentinel}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor cache 127.0.0.1 ${master} 1`,
        "sentinel down-after-milliseconds cache 500",
        "sentinel failover-timeout cache 3000",
        "sentinel parallel-syncs cache 1",
        "",
      ].join("\n"),
    );
    start("redis-sentinel", [conf]);
    await until(() => cli(sentinel, "SENTINEL", "REPLICAS", "cache").includes(String(replica)), "the sentinel to know the replica");

    attache = await startAttache(`
routes:
  - prefix: /cache
    name: cache
    upstream:
      redis:
        sentinels: ["127.0.0.1:${sentinel}"]
        name: cache
`);
  }, 30_000);

  afterAll(async () => {
    await attache?.stop();
    for (const p of processes) p.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("follows a failover: the master dies, the replica is promoted, the route keeps working", async () => {
    const put = await fetch(`${attache!.url}/cache/greeting`, { method: "PUT", body: "hello" });
    expect(put.status).toBe(204);
    expect(cli(master, "GET", "greeting")).toBe("hello");
    await until(() => cli(replica, "GET", "greeting") === "hello", "replication of the key");

    masterProcess.kill("SIGKILL");
    await until(
      () => cli(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "cache").includes(String(replica)),
      "the sentinel to promote the replica",
      20_000,
    );

    // Requests made during the switch may fail fast (the route queues nothing offline); once ioredis
    // has asked the sentinel again, reads and writes go to the new master.
    let answer = "";
    await until(
      async () => {
        const res = await fetch(`${attache!.url}/cache/greeting`).catch(() => undefined);
        answer = res?.status === 200 ? await res.text() : "";
        return answer === "hello";
      },
      "the route to serve from the new master",
      20_000,
    );
    const write = await fetch(`${attache!.url}/cache/after`, { method: "PUT", body: "failover" });
    expect(write.status).toBe(204);
    expect(cli(replica, "GET", "after")).toBe("failover");
    // /routes names the master the route follows now, and since when.
    const routes = JSON.stringify(await (await fetch(`${attache!.adminUrl}/routes`)).json());
    expect(routes).toContain(`"master":"127.0.0.1:${replica}"`);
    expect(routes).toMatch(/"masterSince":"\d{4}-/);
  }, 60_000);
});
