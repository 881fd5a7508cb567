/**
 * `npm run demo`: attache in front of local upstreams it starts itself, then curl lines to try.
 * Everything it starts is stopped on Ctrl-C (or when attache exits); nothing is left behind.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const children: ChildProcess[] = [];
const servers: Server[] = [];
const dir = mkdtempSync(join(tmpdir(), "attache-demo-"));

async function main(): Promise<void> {
  const orders = await serve((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(
      `${JSON.stringify({
        service: "orders",
        path: req.url,
        requestId: req.headers["x-request-id"],
        forwardedFor: req.headers["x-forwarded-for"],
      })}\n`,
    );
  });
  let calls = 0;
  const flaky = await serve((_req, res) => {
    // Every other call fails: the route's retry hides it from the app.
    calls++;
    res.statusCode = calls % 2 === 0 ? 503 : 200;
    res.end(res.statusCode === 200 ? "flaky service: ok this time\n" : "flaky service: unavailable\n");
  });
  const events = await serve((_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    let n = 0;
    const timer = setInterval(() => res.write(`data: tick ${++n}\n\n`), 1000);
    res.on("close", () => clearInterval(timer));
  });

  const redis = await startRedis();
  const listen = await portOr(8001);
  const admin = await portOr(9901);
  const resp = redis ? await portOr(6380) : 0;
  const config = `# written by npm run demo
listen: 127.0.0.1:${listen}
admin: 127.0.0.1:${admin}
log: { level: info, access: true }
routes:
  - prefix: /orders
    upstream: { http: { endpoints: [http://127.0.0.1:${orders}] } }
    deny:
      - { path: "^/admin(/|$)" }
  - prefix: /flaky
    upstream: { http: { endpoints: [http://127.0.0.1:${flaky}] } }
    retry: { attempts: 3, on: [503], backoff: 10ms }
  - prefix: /events
    streaming: true
    upstream: { http: { endpoints: [http://127.0.0.1:${events}] } }
${
  redis
    ? `  - prefix: /cache
    upstream:
      redis:
        url: redis://127.0.0.1:${redis}
        keyPrefix: "demo:"
        listen: 127.0.0.1:${resp}
`
    : ""
}`;
  writeFileSync(join(dir, "attache.yaml"), config);

  // Its own process group: Ctrl-C reaches the demo alone, whose one SIGTERM starts attache's drain (a
  // second signal, the terminal's SIGINT as well, would make attache exit at once with status 1).
  const attache = spawn(process.execPath, ["dist/main.js", "run", "-c", dir], { stdio: ["ignore", "ignore", "inherit"], detached: true });
  children.push(attache);
  attache.once("exit", (code) => {
    process.stderr.write(`attache exited (${code})\n`);
    cleanup(code ?? 1);
  });
  await waitReady(`http://127.0.0.1:${admin}/readyz`);

  const base = `http://localhost:${listen}`;
  process.stdout.write(`
attache is running: app listener ${base}, admin http://127.0.0.1:${admin}
Config: ${join(dir, "attache.yaml")}

Try:
  curl -s ${base}/orders/42                      # routed to a local "orders" service
  curl -si ${base}/orders/admin/users            # 403 path_denied: a deny rule
  curl -si ${base}/orders/%2e%2e/admin           # 400 bad_request: no encoding tricks
  curl -si ${base}/nowhere                       # 404 no_route
  curl -si -H 'Host: evil.example' ${base}/orders/1   # 403 host_not_allowed (DNS-rebinding guard)
  curl -s ${base}/flaky/                         # fails every other call upstream; retry hides it
  curl -sN ${base}/events/                       # server-sent events, streamed past the timeout
${
  redis
    ? `  curl -s -X PUT --data hello ${base}/cache/greeting && curl -s ${base}/cache/greeting
  redis-cli -p ${resp} GET greeting               # the same key over RESP (stored as demo:greeting)
`
    : "  (install redis-server to see the Redis route too)\n"
}  curl -s http://127.0.0.1:${admin}/routes      # the route table, breaker state, endpoints
  curl -s http://127.0.0.1:${admin}/metrics | grep attache_

Ctrl-C stops attache and everything the demo started.
`);
}

function serve(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer(handler!);
  servers.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** The preferred port if free, else any free one. */
function portOr(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once("error", () => {
      const any = createNetServer();
      any.listen(0, "127.0.0.1", () => {
        const port = (any.address() as AddressInfo).port;
        any.close(() => resolve(port));
      });
    });
    probe.listen(preferred, "127.0.0.1", () => probe.close(() => resolve(preferred)));
  });
}

async function startRedis(): Promise<number | undefined> {
  if (spawnSync("sh", ["-c", "command -v redis-server"]).status !== 0) return undefined;
  const port = await portOr(6390);
  const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
    detached: true,
  });
  children.push(redis);
  for (let i = 0; i < 50; i++) {
    if (spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" }).stdout?.trim() === "PONG") return port;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("attache did not become ready");
}

let cleaning = false;
function cleanup(code: number): void {
  if (cleaning) return;
  cleaning = true;
  for (const server of servers) server.close();
  const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
  // attache drains on SIGTERM (idleGrace); wait for every child, and force it after 5 s.
  const force = setTimeout(() => {
    for (const c of alive) c.kill("SIGKILL");
  }, 5000);
  void Promise.all(alive.map((c) => new Promise((resolve) => c.once("exit", resolve)))).then(() => {
    clearTimeout(force);
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  });
  for (const child of alive) child.kill("SIGTERM");
}

process.on("SIGINT", () => cleanup(0));
process.on("SIGTERM", () => cleanup(0));
main().catch((err: unknown) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  cleanup(1);
});
