/**
 * Load generators: wrk when installed (one thread: on 2 cores the generator must leave a core to
 * the proxy and the origin), else autocannon (npm) in its own process; redis-benchmark for RESP.
 * Each run returns the same `LoadResult`, latencies in milliseconds.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnTracked, stopProc } from "./procs.js";

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  /** Socket errors, timeouts and non-2xx/3xx answers. */
  errors: number;
}

export interface HttpLoad {
  /** Base URL (scheme, host, port); `paths` are cycled through, in order. */
  base: string;
  paths: string[];
  connections: number;
  seconds: number;
  /** Fixed total rate (requests/s) across all connections; open-ended when absent. */
  rate?: number;
  headers?: Record<string, string>;
}

export type HttpTool = "wrk" | "autocannon";

export function which(command: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function httpLoad(tool: HttpTool, load: HttpLoad, workDir: string): Promise<LoadResult> {
  return tool === "wrk" ? wrk(load, workDir) : autocannon(load);
}

let scripts = 0;

/**
 * wrk with a Lua script: `request` cycles the paths (only when there is more than one, so the
 * single-path case keeps wrk's pre-built request), `delay` paces each connection at rate/connections
 * with uniform jitter (so 16 connections do not fire in lockstep), `done` prints the summary as JSON.
 */
async function wrk(load: HttpLoad, workDir: string): Promise<LoadResult> {
  const script = join(workDir, `wrk-${++scripts}.lua`);
  const dynamic = load.paths.length > 1;
  const meanDelayMs = load.rate ? (load.connections * 1000) / load.rate : 0;
  writeFileSync(
    script,
    [
      dynamic ? `local paths = { ${load.paths.map((p) => JSON.stringify(p)).join(", ")} }` : "",
      dynamic ? "local n, i = #paths, 0" : "",
      dynamic ? "request = function() i = i + 1; if i > n then i = 1 end; return wrk.format(nil, paths[i]) end" : "",
      meanDelayMs ? `math.randomseed(os.time()); delay = function() return math.random(0, ${Math.round(2 * meanDelayMs)}) end` : "",
      "done = function(s, latency, requests)",
      "  local e = s.errors",
      '  io.write(string.format(\'WRK_JSON {"requests":%d,"us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%.1f,"p90":%.1f,"p99":%.1f}\\n\',',
      "    s.requests, s.duration, e.connect, e.read, e.write, e.status, e.timeout,",
      "    latency:percentile(50), latency:percentile(90), latency:percentile(99)))",
      "end",
      "",
    ].join("\n"),
  );
  const args = ["-t1", `-c${load.connections}`, `-d${load.seconds}s`, "--timeout", "5s", "-s", script];
  for (const [k, v] of Object.entries(load.headers ?? {})) args.push("-H", `${k}: ${v}`);
  args.push(load.base + load.paths[0]);
  const out = await runToEnd("wrk", "wrk", args, (load.seconds + 30) * 1000);
  const line = out.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk printed no summary: ${out.slice(-300)}`);
  const r = JSON.parse(line.slice(9)) as Record<string, number>;
  const num = (k: string) => r[k] ?? 0;
  const seconds = num("us") / 1e6;
  return {
    requests: num("requests"),
    seconds,
    rps: num("requests") / seconds,
    p50: num("p50") / 1000,
    p90: num("p90") / 1000,
    p99: num("p99") / 1000,
    errors: num("connect") + num("read") + num("write") + num("status") + num("timeout"),
  };
}

/** autocannon in a child process (test/bench/servers/autocannon-runner.ts), so it has its own event loop. */
async function autocannon(load: HttpLoad): Promise<LoadResult> {
  const out = await runToEnd(
    "autocannon",
    process.execPath,
    ["--import", "tsx", "test/bench/servers/autocannon-runner.ts", JSON.stringify(load)],
    (load.seconds + 30) * 1000,
  );
  const line = out.split("\n").find((l) => l.startsWith("AUTOCANNON_JSON "));
  if (!line) throw new Error(`autocannon printed no summary: ${out.slice(-300)}`);
  return JSON.parse(line.slice(16)) as LoadResult;
}

/** Run a command to its end (bounded), tracked like every other process; returns stdout + stderr. */
export async function runToEnd(name: string, command: string, args: string[], timeoutMs: number): Promise<string> {
  let out = "";
  const proc = spawnTracked(name, command, args, { onStdout: (chunk) => (out += chunk) });
  const timer = setTimeout(() => void stopProc(proc, 1000), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  if (code !== 0 && !out) throw new Error(`${name} exited ${code}: ${proc.output().slice(-300)}`);
  return out + proc.output();
}

// ---------------------------------------------------------------- redis-benchmark

export interface RedisLoad {
  port: number;
  clients: number;
  pipeline: number;
  requests: number;
  /** 3: redis-benchmark -3 (HELLO 3 on every connection). */
  protocol?: 2 | 3;
}

export type RedisResult = Record<"SET" | "GET", LoadResult>;

/** redis-benchmark -t set,get --csv: one run gives both commands. */
export async function redisBenchmark(load: RedisLoad): Promise<RedisResult> {
  const args = [
    "-h",
    "127.0.0.1",
    "-p",
    String(load.port),
    "-c",
    String(load.clients),
    "-n",
    String(load.requests),
    "-t",
    "set,get",
    "-P",
    String(load.pipeline),
    "--csv",
    ...(load.protocol === 3 ? ["-3"] : []),
  ];
  const out = await runToEnd("redis-benchmark", "redis-benchmark", args, 180_000);
  const rows = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    const cells = line.split(",").map((c) => c.replace(/^"|"$/g, ""));
    if (cells[0] === "SET" || cells[0] === "GET") rows.set(cells[0], cells);
  }
  const pick = (name: "SET" | "GET"): LoadResult => {
    const cells = rows.get(name);
    if (!cells) throw new Error(`redis-benchmark gave no ${name} line: ${out.slice(-300).trim()}`);
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    const rps = Number(cells[1]);
    return {
      requests: load.requests,
      seconds: load.requests / rps,
      rps,
      p50: Number(cells[4]),
      p90: Number(cells[5]),
      p99: Number(cells[6]),
      errors: 0,
    };
  };
  return { SET: pick("SET"), GET: pick("GET") };
}
