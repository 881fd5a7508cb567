/**
 * Every process the bench starts goes through `spawnTracked`: each child leads its own process
 * group (so nginx workers and tsx's inner node go with it), and every group still alive is
 * killed at the end, on error, and on Ctrl-C. Also: free ports, readiness probes, /proc readings.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { get } from "node:http";
import { createServer, connect } from "node:net";
import { execFileSync } from "node:child_process";

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code (or the signal's name) once the process has gone. */
  exited: Promise<number | string>;
  readonly alive: boolean;
  /** The last 8 KiB the process wrote to stderr (and stdout, when captured). */
  output(): string;
}

const live = new Set<Proc>();

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Keep stdout (else it goes to /dev/null: an access log must not back up into a pipe nobody reads). */
  captureStdout?: boolean;
  onStdout?: (chunk: string) => void;
}

export function spawnTracked(name: string, command: string, args: string[], options: SpawnOptions = {}): Proc {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ["ignore", options.captureStdout || options.onStdout ? "pipe" : "ignore", "pipe"],
  });
  let text = "";
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-8192);
  };
  child.stderr?.on("data", keep);
  child.stdout?.on("data", (chunk: Buffer) => {
    keep(chunk);
    options.onStdout?.(chunk.toString());
  });
  let alive = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => {
      alive = false;
      live.delete(proc);
      resolve(code ?? signal ?? "gone");
    });
    child.once("error", (err) => {
      text += `\n${err.message}`;
      alive = false;
      live.delete(proc);
      resolve("spawn-error");
    });
  });
  const proc: Proc = {
    name,
    pid: child.pid ?? -1,
    child,
    exited,
    get alive() {
      return alive;
    },
    output: () => text,
  };
  if (child.pid !== undefined) live.add(proc);
  return proc;
}

/** SIGTERM the process group, then SIGKILL it after `graceMs`. */
export async function stopProc(proc: Proc | undefined, graceMs = 3000, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!proc?.alive) return;
  signalGroup(proc.pid, signal);
  const timer = new Promise<"late">((resolve) => setTimeout(() => resolve("late"), graceMs).unref());
  if ((await Promise.race([proc.exited, timer])) === "late") {
    signalGroup(proc.pid, "SIGKILL");
    await proc.exited;
  }
  // A group member that outlived its leader (a forked worker) goes too.
  signalGroup(proc.pid, "SIGKILL");
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => stopProc(p, 2000)));
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Kill what is left, synchronously: for `exit`, uncaught errors and signals. */
export function installCleanup(): void {
  const killAll = () => {
    for (const p of live) signalGroup(p.pid, "SIGKILL");
  };
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping everything it started\n`);
      killAll();
      process.exit(130);
    });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => req.destroy());
  });
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Poll until `probe` says yes; throws with the process's own words if it died or never got there. */
async function waitFor(proc: Proc, what: string, probe: () => Promise<boolean>, timeoutMs: number, everyMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (!proc.alive) throw new Error(lastWords(proc) || `${proc.name} exited before ${what}`);
    if (await probe()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`${proc.name}: no ${what} within ${timeoutMs} ms${lastWords(proc) ? `: ${lastWords(proc)}` : ""}`);
    await sleep(everyMs);
  }
}

export function waitHttp200(proc: Proc, url: string, timeoutMs = 15_000, everyMs = 20): Promise<number> {
  return waitFor(proc, `200 from ${url}`, async () => (await httpStatus(url)) === 200, timeoutMs, everyMs);
}

export function waitTcp(proc: Proc, port: number, timeoutMs = 15_000): Promise<number> {
  return waitFor(proc, `listener on ${port}`, () => tcpOpen(port), timeoutMs, 20);
}

/** The first line that says why a process failed (skips stack frames and JSON log noise). */
export function lastWords(proc: Proc): string {
  const lines = proc
    .output()
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("at ") && l !== "^" && !l.startsWith("Node.js v"));
  const line = lines.find((l) => /error|attache:|invalid|refus|unknown|not /i.test(l)) ?? lines[0] ?? "";
  let text = line;
  if (line.startsWith("{")) {
    try {
      const parsed = JSON.parse(line) as { msg?: string; err?: { message?: string } };
      text = [parsed.msg, parsed.err?.message].filter(Boolean).join(": ") || line;
    } catch {
      // not JSON after all
    }
  }
  return text.length > 140 ? `${text.slice(0, 137)}...` : text;
}

// ---------------------------------------------------------------- /proc

export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Stat {
  pgrp: number;
  ticks: number;
}

function readStat(pid: string): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    return { pgrp: Number(fields[2]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) used so far by every live process in the group `pgid` (its leader's pid). */
export function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(entry);
    if (stat && stat.pgrp === pgid) ticks += stat.ticks;
  }
  return ticks / CLOCK_TICKS;
}

/** CPU seconds of one process (all its threads). */
export function cpuSeconds(pid: number): number {
  return (readStat(String(pid))?.ticks ?? 0) / CLOCK_TICKS;
}

/** Resident set size and its peak (VmHWM) in MiB. */
export function memory(pid: number): { rssMiB: number; peakMiB: number } {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0);
    return { rssMiB: kb("VmRSS") / 1024, peakMiB: kb("VmHWM") / 1024 };
  } catch {
    return { rssMiB: 0, peakMiB: 0 };
  }
}

// ---------------------------------------------------------------- a shared machine

function cpuJiffies(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Cores busy across the whole machine during the next `windowMs` (the bench's own targets idle meanwhile). */
export async function busyCores(windowMs = 500): Promise<number> {
  const a = cpuJiffies();
  await sleep(windowMs);
  const b = cpuJiffies();
  const cores = Number(execFileSync("nproc", { encoding: "utf8" }).trim()) || 1;
  return b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * cores : 0;
}

/**
 * Wait (up to `maxMs`) until the machine is quiet: other work (a test run, a compiler) on these
 * few cores would take CPU from the load generator, the proxy and the origin alike, and ruin a cell.
 * Returns the background load seen last, in cores, and whether it was quiet.
 */
export async function waitQuiet(maxMs: number, threshold = 0.2): Promise<{ cores: number; quiet: boolean }> {
  const t0 = performance.now();
  for (;;) {
    const cores = await busyCores(500);
    if (cores <= threshold) return { cores, quiet: true };
    if (performance.now() - t0 >= maxMs) return { cores, quiet: false };
  }
}

/** Tracked process groups right now: the bench's own targets, origins and load generators. */
export function trackedGroups(): Set<number> {
  return new Set([...live].map((p) => p.pid));
}

/**
 * CPU used during a cell by processes that are not the bench's (another session's compiler or test
 * run on the same cores). Polls /proc every `everyMs`, so a process that starts and ends within the
 * cell is still counted, up to its last `everyMs`.
 */
export class BackgroundMeter {
  private readonly base = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;

  start(everyMs = 250): void {
    this.t0 = performance.now();
    this.snapshot(true);
    this.timer = setInterval(() => this.snapshot(false), everyMs);
  }

  /** Cores of other work, averaged over the cell. */
  stop(): number {
    clearInterval(this.timer);
    this.snapshot(false);
    let ticks = 0;
    for (const [pid, t] of this.last) ticks += t - (this.base.get(pid) ?? 0);
    const seconds = (performance.now() - this.t0) / 1000;
    return seconds > 0 ? ticks / CLOCK_TICKS / seconds : 0;
  }

  private snapshot(first: boolean): void {
    const mine = trackedGroups();
    mine.add(process.pid);
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = readStat(entry);
      const pid = Number(entry);
      if (!stat || mine.has(stat.pgrp) || pid === process.pid || pid === process.ppid) continue;
      if (first) this.base.set(pid, stat.ticks);
      this.last.set(pid, stat.ticks);
    }
  }
}
