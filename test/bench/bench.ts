/**
 * npm run bench [-- --quick] [--rounds N] [--seconds S] [--only http,kube,redis,op,scale,start] [--profile]
 *                 [--attache PATH/main.js] [--baseline PATH/main.js] [--node PATH] [--quiet-wait S] [--retries N]
 *
 * attache side by side with what users would deploy instead, in one run on this machine
 * (test/bench/README.md). Everything is started here on loopback and stopped at the end, on error
 * and on Ctrl-C. Each section keeps its targets running and measures them in interleaved rounds
 * (the order rotates each round); the table shows medians with min–max. Not part of `npm test`.
 *
 * Sections: HTTP (100 B and 64 KiB, against node:http + undici and the http.request floor; tracing),
 * Kubernetes (HTTP/2 and HTTP/1.1 against kubectl proxy at 1, 24, 32 connections), Redis (RESP2 and
 * RESP3 against twemproxy, and the HTTP API), the sidecar operating point (1,000 req/s), scale (1 vs
 * 1,000 routes), start (validate and start → ready; --baseline adds another build in paired rounds),
 * and with --profile a V8 CPU profile of attache under the HTTP load. The last table has one row per
 * performance target: reference, goal, measured, ✔ / ✘.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { connect } from "node:net";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { httpLoad, redisBenchmark, which, type HttpTool, type LoadResult } from "./load.js";
import {
  attacheArgs,
  attacheMain,
  attacheNode,
  attacheConfig,
  httpRoutes,
  ROOT,
  startAttache,
  startFakeKube,
  type FakeKube,
  startHttpPipe,
  startUndiciPipe,
  startOtlpSink,
  startKubectlProxy,
  startNginx,
  startOrigin,
  startRedis,
  startTcpPipe,
  startTwemproxy,
  tempDir,
  unavailable,
  type AttacheTarget,
  type Target,
} from "./peers.js";
import { renderProfile, summarizeProfile, type ProfileSummary } from "./profile.js";
import {
  cpuSeconds,
  freePort,
  groupCpuSeconds,
  installCleanup,
  memory,
  spawnTracked,
  stopAll,
  stopProc,
  waitQuiet,
  BackgroundMeter,
  type Proc,
} from "./procs.js";
import {
  ms,
  num,
  renderTable,
  renderTargets,
  renderTargetsMarkdown,
  spread,
  summarize,
  type Summary,
  type TableSection,
  type TargetCheck,
} from "./report.js";

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = flag("quick");
// Which build of attache to measure (default dist/main.js).
if (option("attache")) process.env.ATTACHE_BENCH_MAIN = option("attache");
// Which node runs attache (default this one): the image runs a newer line than CI may have.
if (option("node")) process.env.ATTACHE_BENCH_NODE = option("node");
/** Another build to start beside this one in the start-up section (paired rounds), e.g. a copy of dist/ from before a change. */
const baselineMain = option("baseline") ? resolve(option("baseline")!) : undefined;
const ALL = ["http", "kube", "redis", "op", "scale", "start"];
const only = option("only")?.split(",") ?? [...ALL, ...(flag("profile") ? ["profile"] : [])];
const settings = {
  quick,
  rounds: Number(option("rounds") ?? (quick ? 2 : 3)),
  /** Seconds per measured cell (HTTP). */
  seconds: Number(option("seconds") ?? (quick ? 3 : 5)),
  warmupSeconds: quick ? 1 : 2,
  /** Seconds per cell at the fixed-rate operating point. */
  opSeconds: quick ? 5 : 10,
  /** Seconds per redis-benchmark test (SET, then GET), sized from a calibration run. */
  redisSeconds: quick ? 1.5 : 3,
  /** Repetitions of `validate` and of start-to-ready. */
  startRuns: Number(option("start-runs") ?? (quick ? 3 : 7)),
  connections: 32,
  opRate: 1000,
  opConnections: 64,
  redisClients: 50,
  /** How long a cell may wait for other work on the machine to stop (see waitQuiet). */
  quietWaitMs: Number(option("quiet-wait") ?? (quick ? 3 : 10)) * 1000,
  /** Other processes' CPU (cores) above which a cell counts as noisy and is run again. */
  noisyCores: 0.25,
  retries: Number(option("retries") ?? (quick ? 0 : 1)),
};
const tool: HttpTool = which("wrk") ? "wrk" : "autocannon";
const work = tempDir("run");

// ---------------------------------------------------------------- results

interface Sample extends LoadResult {
  /** CPU time of the target's process group per request, µs (the proxy's cost; absent for direct). */
  cpuUs?: number;
  rssMiB?: number;
  /** Cores busy with other work on the machine just before the cell (see waitQuiet). */
  background?: number;
  /** Other work above `noisyCores` shared the machine during the cell (after `retries`). */
  noisy?: boolean;
  /** How many times the cell was run to get a quiet one. */
  attempts?: number;
}

interface Row {
  target: string;
  unavailable?: string;
  failures: string[];
  samples: Sample[];
  rps?: Summary;
  p50?: Summary;
  p90?: Summary;
  p99?: Summary;
  cpuUs?: Summary;
  errors: number;
  ratio?: number;
  /** Against a second reference (the HTTP tables: the http.request floor beside undici). */
  ratio2?: number;
}

interface SectionResult {
  id: string;
  title: string;
  ratioTo?: string;
  rows: Row[];
  extra?: Record<string, unknown>;
}

const sections: SectionResult[] = [];
const tables: TableSection[] = [];
const checks: TargetCheck[] = [];
let profileSummary: ProfileSummary | undefined;

function makeRow(target: string, samples: Sample[], failures: string[] = [], why?: string): Row {
  const pick = (f: (s: Sample) => number | undefined) => summarize(samples.map(f).filter((v): v is number => v !== undefined));
  return {
    target,
    ...(why ? { unavailable: why } : {}),
    failures,
    samples,
    rps: pick((s) => s.rps),
    p50: pick((s) => s.p50),
    p90: pick((s) => s.p90),
    p99: pick((s) => s.p99),
    cpuUs: pick((s) => s.cpuUs),
    errors: samples.reduce((a, s) => a + s.errors, 0),
  };
}

/**
 * Ratio a/b per round (the cells of one round ran back to back), then the median: steadier than a
 * ratio of medians when other work comes and goes on the machine. Undefined unless every round has both.
 */
function pairedRatio(a: Row | undefined, b: Row | undefined): Summary | undefined {
  if (!a || !b || a.samples.length !== b.samples.length || a.failures.length || b.failures.length) return undefined;
  return summarize(a.samples.map((s, i) => s.rps / b.samples[i]!.rps));
}

function pairedNote(s: Summary | undefined): string {
  return s ? `; per-round ${s.median.toFixed(2)} × (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : "";
}

function whyNot(row: Row): string {
  return row.unavailable ?? (row.failures[0] ? `failed: ${row.failures[0]}` : "no samples");
}

/** Standard HTTP-style rows: req/s, p50, p99, ratio, proxy CPU per request, errors. */
/** How much other work shared the machine during these rows' cells. */
function noiseNote(rows: Row[]): string {
  const all = rows.flatMap((r) => r.samples);
  const bg = summarize(all.map((s) => s.background ?? 0));
  const noisy = all.filter((s) => s.noisy).length;
  const reruns = all.reduce((a, s) => a + (s.attempts ? s.attempts - 1 : 0), 0);
  return `other processes' CPU during cells: median ${bg ? bg.median.toFixed(2) : "-"} cores (max ${bg ? bg.max.toFixed(2) : "-"}); ${noisy} of ${all.length} cells shared the machine (> ${settings.noisyCores} cores)${reruns ? `, ${reruns} re-run` : ""}`;
}

function httpTable(title: string, rows: Row[], ratioLabel: string, notes: string[] = [], ratio2Label?: string): TableSection {
  notes = [...notes, noiseNote(rows)];
  const r2 = (r: Row) => (ratio2Label ? [r.ratio2 === undefined ? "-" : r.ratio2.toFixed(2)] : []);
  return {
    title,
    header: [
      "target",
      "req/s median (min–max)",
      "p50 ms",
      "p99 ms",
      ratioLabel,
      ...(ratio2Label ? [ratio2Label] : []),
      "CPU µs/req",
      "errors",
    ],
    rows: rows.map((r) =>
      r.rps
        ? [
            r.target,
            spread(r.rps),
            ms(r.p50?.median),
            ms(r.p99?.median),
            r.ratio === undefined ? "-" : r.ratio.toFixed(2),
            ...r2(r),
            r.cpuUs ? num(r.cpuUs.median) : "-",
            String(r.errors),
          ]
        : [r.target, whyNot(r)],
    ),
    notes,
  };
}

// ---------------------------------------------------------------- measuring

/**
 * One cell, measured while the machine is otherwise quiet as far as we can tell: wait for quiet,
 * measure, and count other processes' CPU during the cell; a cell that shared the cores with more
 * than `noisyCores` of other work is run again (up to `retries` times) and the quietest attempt kept.
 */
async function quietCell(measure: () => Promise<Sample>): Promise<Sample> {
  let best: Sample | undefined;
  for (let attempt = 0; attempt <= settings.retries; attempt++) {
    await waitQuiet(settings.quietWaitMs, settings.noisyCores);
    const meter = new BackgroundMeter();
    meter.start();
    let sample: Sample;
    try {
      sample = await measure();
    } catch (err) {
      meter.stop();
      throw err;
    }
    sample.background = meter.stop();
    sample.noisy = sample.background > settings.noisyCores;
    if (attempt > 0) sample.attempts = attempt + 1;
    if (!best || sample.background < best.background!) best = sample;
    if (!sample.noisy) break;
  }
  return best!;
}

/** Run `measure` on every available target, `rounds` times, rotating the order each round. */
async function interleave(
  targets: Target[],
  rounds: number,
  measure: (t: Target) => Promise<Sample>,
): Promise<Map<string, { samples: Sample[]; failures: string[] }>> {
  const out = new Map(targets.map((t) => [t.name, { samples: [] as Sample[], failures: [] as string[] }]));
  const live = targets.filter((t) => !t.unavailable);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < live.length; k++) {
      const t = live[(r + k) % live.length]!;
      const slot = out.get(t.name)!;
      if (t.proc && !t.proc.alive) {
        if (!slot.failures.length) slot.failures.push(`exited: ${t.proc.output().trim().split("\n").pop() ?? ""}`);
        continue;
      }
      try {
        slot.samples.push(await quietCell(() => measure(t)));
      } catch (err) {
        slot.failures.push((err as Error).message);
      }
    }
  }
  return out;
}

interface HttpCell {
  paths: string[];
  seconds: number;
  connections?: number;
  rate?: number;
  /** Count the target's CPU (false for the origin itself). */
  cpu?: boolean;
}

async function measureHttp(t: Target, cell: HttpCell): Promise<Sample> {
  const counted = cell.cpu !== false && t.proc ? t.proc : undefined;
  const cpu0 = counted ? groupCpuSeconds(counted.pid) : 0;
  const r = await httpLoad(
    tool,
    {
      base: t.base!,
      paths: cell.paths.map((p) => (t.prefix ?? "") + p),
      connections: cell.connections ?? settings.connections,
      seconds: cell.seconds,
      ...(cell.rate ? { rate: cell.rate } : {}),
      ...(t.headers ? { headers: t.headers } : {}),
    },
    work,
  );
  const sample: Sample = { ...r };
  if (counted) sample.cpuUs = ((groupCpuSeconds(counted.pid) - cpu0) * 1e6) / Math.max(1, r.requests);
  return sample;
}

/** One GET before measuring: a target that answers 404 fast must not look fast. */
function probe(
  url: string,
  headers: Record<string, string> = {},
  insecure = false,
): Promise<{ status: number; bytes: number; text: string }> {
  return new Promise((resolve) => {
    const done = (status: number, bytes: number, text: string) => resolve({ status, bytes, text });
    const onRes = (res: import("node:http").IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        done(res.statusCode ?? 0, body.length, body.subarray(0, 200).toString());
      });
    };
    if (url.startsWith("https:")) {
      void import("node:https").then(({ get: getS }) => {
        const req = getS(url, { headers, rejectUnauthorized: !insecure, agent: false }, onRes);
        req.on("error", (e) => done(0, 0, e.message));
      });
    } else {
      const req = get(url, { headers, agent: false }, onRes);
      req.on("error", (e) => done(0, 0, e.message));
    }
  });
}

async function checkAnswers(t: Target, path: string, expectBytes?: number): Promise<Target> {
  if (t.unavailable) return t;
  const r = await probe(t.base! + (t.prefix ?? "") + path, t.headers, true);
  if (r.status !== 200)
    return {
      ...unavailable(t.name, `answered ${r.status || "nothing"}: ${r.text.replace(/\s+/g, " ").slice(0, 100)}`),
      ...(t.proc ? { proc: t.proc } : {}),
    };
  if (expectBytes !== undefined && r.bytes !== expectBytes)
    return { ...unavailable(t.name, `answered ${r.bytes} bytes, not ${expectBytes}`), ...(t.proc ? { proc: t.proc } : {}) };
  return t;
}

async function warm(targets: Target[], cell: HttpCell): Promise<void> {
  for (const t of targets) if (!t.unavailable) await measureHttp(t, { ...cell, seconds: settings.warmupSeconds }).catch(() => undefined);
}

function rowsFrom(targets: Target[], results: Map<string, { samples: Sample[]; failures: string[] }>, ratioTo?: string): Row[] {
  const rows = targets.map((t) => makeRow(t.name, results.get(t.name)?.samples ?? [], results.get(t.name)?.failures ?? [], t.unavailable));
  const ref = rows.find((r) => r.target === ratioTo)?.rps?.median;
  if (ref) for (const r of rows) if (r.rps) r.ratio = r.rps.median / ref;
  return rows;
}

// ---------------------------------------------------------------- sections

const SMALL = 100;
const BIG = 64 * 1024;

async function httpSection(origin: Target & { proc: Proc; base: string }, originPort: number): Promise<void> {
  const routes = httpRoutes(originPort, ["/svc"]);
  let attache: Target = await startAttache("attache", { routes }, "/svc");
  let logged: Target = await startAttache("attache, access log on", { routes, access: true }, "/svc");
  // Every request sampled: the most tracing can cost (a sampler keeps a share in production).
  const sink = await startOtlpSink();
  let traced: Target = await startAttache(
    "attache, tracing on (100 %)",
    { routes, env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.base, OTEL_TRACES_SAMPLER: "always_on" } },
    "/svc",
  );
  // Tracing configured but nothing sampled: what having it on costs the requests it does not trace.
  let unsampled: Target = await startAttache(
    "attache, tracing on (0 % sampled)",
    { routes, env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.base, OTEL_TRACES_SAMPLER: "always_off" } },
    "/svc",
  );
  let nginx = await startNginx(originPort);
  let floor = await startHttpPipe(originPort);
  let undiciFloor = await startUndiciPipe(originPort);
  const direct: Target = { ...origin, name: "origin direct" };
  for (const [label, path, bytes] of [
    ["~100 B", "/small", SMALL],
    ["64 KiB", "/big", BIG],
  ] as const) {
    attache = await checkAnswers(attache, path, bytes);
    logged = await checkAnswers(logged, path, bytes);
    traced = await checkAnswers(traced, path, bytes);
    unsampled = await checkAnswers(unsampled, path, bytes);
    nginx = await checkAnswers(nginx, path, bytes);
    floor = await checkAnswers(floor, path, bytes);
    undiciFloor = await checkAnswers(undiciFloor, path, bytes);
    const targets =
      bytes === SMALL
        ? [direct, attache, logged, traced, unsampled, nginx, undiciFloor, floor]
        : [direct, attache, nginx, undiciFloor, floor];
    const cell = { paths: [path], seconds: settings.seconds };
    await warm(targets, cell);
    const results = await interleave(targets, settings.rounds, (t) => measureHttp(t, { ...cell, cpu: t !== direct }));
    const rows = rowsFrom(targets, results, undiciFloor.name);
    const f = rows.find((r) => r.target === floor.name);
    for (const r of rows) if (r.rps && f?.rps) r.ratio2 = r.rps.median / f.rps.median;
    const title = `HTTP route, ${label} responses, ${settings.connections} connections (${tool === "wrk" ? "wrk -t1" : "autocannon"})`;
    sections.push({ id: `http-${bytes === SMALL ? "small" : "64k"}`, title, ratioTo: undiciFloor.name, rows });
    tables.push(
      httpTable(
        title,
        rows,
        "× undici",
        bytes === SMALL
          ? [
              "CPU µs/req: user+system time of the proxy's processes (/proc) per request served; the load generator and origin share the same 2 cores",
            ]
          : [],
        "× floor",
      ),
    );
    const a = rows.find((r) => r.target === "attache");
    const u = rows.find((r) => r.target === undiciFloor.name);
    const cpuRatio = (x: Row | undefined, y: Row | undefined) =>
      x?.cpuUs && y?.cpuUs ? (x.cpuUs.median / y.cpuUs.median).toFixed(2) : "-";
    for (const [ref, refName] of [
      [u, "node:http + undici (no policy)"],
      [f, "node:http + http.request (floor)"],
    ] as const) {
      const paired = pairedRatio(a, ref);
      checks.push({
        name: `HTTP, ${label}, ${settings.connections} conns`,
        reference: refName,
        goal: "≥ 0.90 ×",
        measured: paired
          ? `${paired.median.toFixed(2)} × (${paired.min.toFixed(2)}–${paired.max.toFixed(2)}); ${num(a?.rps?.median)} vs ${num(ref?.rps?.median)} req/s; CPU/req ${cpuRatio(a, ref)} ×`
          : whyNot(a?.rps ? (ref ?? makeRow(refName, [])) : (a ?? makeRow("attache", []))),
        met: paired ? paired.median >= 0.9 : undefined,
      });
    }
    if (bytes === SMALL) {
      for (const [row, goal, min] of [
        [rows.find((r) => r.target === unsampled.name), "< 2 % (≥ 0.98 ×)", 0.98],
        [rows.find((r) => r.target === traced.name), "< 15 % (≥ 0.85 ×)", 0.85],
      ] as const) {
        const onOff = pairedRatio(row, a);
        checks.push({
          name: row?.target === traced.name ? "Tracing on, 100 % sampled" : "Tracing on, 0 % sampled",
          reference: "attache, tracing off",
          goal,
          measured: onOff
            ? `${onOff.median.toFixed(3)} × (${onOff.min.toFixed(2)}–${onOff.max.toFixed(2)}); CPU/req ${cpuRatio(row, a)} ×`
            : whyNot(row ?? makeRow("tracing", [])),
          met: onOff ? onOff.median >= min : undefined,
        });
      }
    }
  }
  await Promise.all([attache, logged, traced, unsampled, nginx, floor, undiciFloor, sink].map((t) => stopProc(t.proc)));
}

const POD_PATH = "/api/v1/namespaces/default/pods/web-1";

/** GET on the fake API server with certificate checks off (the bench's own look at it). */
function fetchInsecure(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    void import("node:https").then(({ get: getS }) => {
      const req = getS(url, { rejectUnauthorized: false, agent: false }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve(text));
      });
      req.on("error", reject);
    });
  });
}

/** Which protocol each of `procs` chose toward the fake API server, and how many connections it holds (fake's list + ss -p). */
async function kubeConnections(
  fakeUrl: string,
  fakePort: number,
  procs: Array<{ name: string; pid: number }>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  try {
    const list = JSON.parse(await fetchInsecure(`${fakeUrl}/bench/connections`)) as Array<{ port: number; alpn: string; requests: number }>;
    const ss = execFileSync("ss", ["-Htnp", "state", "established", `( dport = :${fakePort} )`], { encoding: "utf8" });
    for (const p of procs) {
      const ports = new Set(
        ss
          .split("\n")
          .filter((l) => l.includes(`pid=${p.pid},`))
          .map((l) => Number(/:(\d+)\s/.exec(l.trim().split(/\s+/).slice(2).join(" "))?.[1])),
      );
      const mine = list.filter((c) => ports.has(c.port));
      const by = new Map<string, number>();
      for (const c of mine) by.set(c.alpn, (by.get(c.alpn) ?? 0) + 1);
      out[p.name] = mine.length ? [...by].map(([alpn, n]) => `${n} × ${alpn}`).join(", ") : "no open connection";
    }
  } catch (err) {
    for (const p of procs) out[p.name] = `unknown (${(err as Error).message})`;
  }
  return out;
}

async function kubeSection(): Promise<void> {
  const connectionCounts = [1, 24, 32];
  for (const http1 of [false, true]) {
    const protocol = http1 ? "HTTP/1.1" : "HTTP/2";
    const offer = http1 ? "HTTP/1.1 only" : "h2 and http/1.1 by ALPN";
    const baseTitle = `Kubernetes route, ${protocol}: GET ${POD_PATH} on the fake API server (HTTPS, bearer token, offers ${offer})`;
    let fake: FakeKube;
    try {
      fake = await startFakeKube({ http1 });
    } catch (err) {
      const rows = [makeRow("attache", [], [], `fake API: ${(err as Error).message}`)];
      sections.push({ id: `kube-${http1 ? "http1" : "h2"}`, title: baseTitle, rows });
      tables.push(httpTable(baseTitle, rows, "× kubectl"));
      continue;
    }
    const direct: Target = {
      name: "fake API direct (HTTP/1.1)",
      base: fake.url,
      prefix: "",
      headers: { authorization: `Bearer ${fake.token}` },
    };
    const routes = `  - prefix: /k8s\n    upstream: { kubernetes: { server: "${fake.url}", tokenFile: "${fake.tokenFile}", caFile: "${fake.caFile}" } }`;
    let attache: Target = await startAttache("attache", { routes }, "/k8s");
    let kubectl = await startKubectlProxy(fake.kubeconfig);
    attache = await checkAnswers(attache, POD_PATH);
    kubectl = await checkAnswers(kubectl, POD_PATH);
    const checked = await checkAnswers(direct, POD_PATH);
    for (const connections of connectionCounts) {
      const title = `${baseTitle}, ${connections} connection${connections === 1 ? "" : "s"}`;
      const targets = connections === Math.max(...connectionCounts) ? [attache, kubectl, checked] : [attache, kubectl];
      const cell = { paths: [POD_PATH], seconds: settings.seconds, connections };
      await warm(targets, cell);
      // Looked at halfway through each proxy's cell: idle connections may have closed by its end.
      const seen: Record<string, string> = {};
      const results = await interleave(targets, settings.rounds, async (t) => {
        const look =
          t.proc && t !== checked
            ? setTimeout(
                () => void kubeConnections(fake.url, fake.port, [{ name: t.name, pid: t.proc!.pid }]).then((r) => Object.assign(seen, r)),
                settings.seconds * 500,
              )
            : undefined;
        try {
          return await measureHttp(t, { ...cell, cpu: t !== checked });
        } finally {
          clearTimeout(look);
        }
      });
      const rows = rowsFrom(targets, results, kubectl.name);
      const a = rows.find((r) => r.target === "attache");
      const k = rows.find((r) => r.target === kubectl.name);
      const notes = [
        `connections to the fake halfway through a cell: ${Object.entries(seen)
          .map(([n, v]) => `${n} ${v}`)
          .join("; ")}`,
      ];
      sections.push({
        id: `kube-${http1 ? "http1" : "h2"}-${connections}`,
        title,
        ratioTo: kubectl.name,
        rows,
        extra: { protocol, connections, upstreamConnections: seen },
      });
      tables.push(httpTable(title, rows, "× kubectl", notes));
      const paired = pairedRatio(a, k);
      const cpu = a?.cpuUs && k?.cpuUs ? a.cpuUs.median / k.cpuUs.median : undefined;
      const p99ok = a?.p99 && k?.p99 ? a.p99.median <= k.p99.median : undefined;
      checks.push({
        name: `Kubernetes ${protocol}, ${connections} conn${connections === 1 ? "" : "s"}`,
        reference: "kubectl proxy",
        goal: "≥ 1.0 ×, p99 ≤, CPU ≤ 0.7 ×",
        measured: paired
          ? `${paired.median.toFixed(2)} × (${paired.min.toFixed(2)}–${paired.max.toFixed(2)}), p99 ${ms(a?.p99?.median)} vs ${ms(k?.p99?.median)} ms, CPU ${cpu !== undefined ? cpu.toFixed(2) : "-"} ×; attache upstream ${seen.attache ?? "?"}`
          : a?.rps
            ? `kubectl proxy: ${whyNot(k ?? makeRow(kubectl.name, []))}`
            : whyNot(a ?? makeRow("attache", [])),
        met: paired && p99ok !== undefined && cpu !== undefined ? paired.median >= 1 && p99ok && cpu <= 0.7 : undefined,
      });
    }
    await Promise.all([attache, kubectl].map((t) => stopProc(t.proc)));
    await stopProc(fake.proc);
  }
}

/** SET a key over RESP (for the HTTP API's GET). */
function respSet(port: number, key: string, value: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const frame = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
    socket.once("connect", () => socket.write(`*3\r\n${frame("SET")}${frame(key)}${frame(value)}`));
    socket.once("data", (d) => {
      socket.destroy();
      resolve(d.toString().trim());
    });
    socket.once("error", reject);
    setTimeout(() => {
      socket.destroy();
      reject(new Error("no reply to SET"));
    }, 3000).unref();
  });
}

async function redisSection(): Promise<void> {
  const title = `Redis: redis-benchmark -c ${settings.redisClients} -t set,get, without and with -P 16`;
  const redis = await startRedis();
  if (redis.unavailable || !which("redis-benchmark")) {
    const why = redis.unavailable ? `redis-server ${redis.unavailable}` : "redis-benchmark not installed";
    const rows = [
      "redis direct",
      "attache RESP listener",
      "attache RESP listener, RESP3",
      "node TCP pipe (floor)",
      "twemproxy (nutcracker)",
    ].map((t) => makeRow(t, [], [], why));
    sections.push({ id: "redis", title, rows });
    tables.push(httpTable(title, rows, "× pipe"));
    await stopProc(redis.proc);
    return;
  }
  const redisPort = redis.port!;
  const listenPort = await freePort();
  const routes = `  - prefix: /cache\n    upstream: { redis: { url: "redis://127.0.0.1:${redisPort}", listen: "127.0.0.1:${listenPort}", commands: ["*"] } }`;
  const attacheHttp = await startAttache("attache HTTP API", { routes }, "/cache");
  let attache: Target = attacheHttp.unavailable
    ? { ...attacheHttp, name: "attache RESP listener" }
    : { name: "attache RESP listener", port: listenPort, ...(attacheHttp.proc ? { proc: attacheHttp.proc } : {}) };
  if (!attache.unavailable) {
    try {
      const reply = await respSet(listenPort, "bench:probe", "1");
      if (reply !== "+OK") attache = unavailable(attache.name, `attache: SET over RESP answered ${JSON.stringify(reply.slice(0, 60))}`);
    } catch (err) {
      attache = unavailable(attache.name, `attache: RESP listener: ${(err as Error).message}`);
    }
  }
  const pipe = await startTcpPipe(redisPort);
  const twem = await startTwemproxy(redisPort);
  // The same listener, its clients saying HELLO 3 (redis-benchmark -3): RESP3 replies, measured beside RESP2.
  const attache3: Target = { ...attache, name: "attache RESP listener, RESP3" };
  const targets = [redis, attache, attache3, pipe, twem];
  const protocol = (t: Target) => (t === attache3 ? 3 : 2);
  const rowsOut: Row[] = [];
  const table: TableSection = {
    title,
    header: ["target", "mode", "SET req/s (min–max)", "GET req/s (min–max)", "GET p50", "GET p99", "× pipe SET/GET", "CPU µs/cmd"],
    rows: [],
    notes: ["latency in ms from redis-benchmark; CPU µs/cmd: the proxy's CPU per command"],
  };
  const modeData: Record<string, unknown> = {};
  const cellRows: Row[] = [];
  for (const pipeline of [1, 16]) {
    const mode = pipeline === 1 ? "no pipeline" : "-P 16";
    // Calibrate: size -n so each test lasts about redisSeconds on each target.
    const sizes = new Map<string, number>();
    for (const t of targets) {
      if (t.unavailable) continue;
      try {
        const r = await redisBenchmark({
          port: t.port!,
          clients: settings.redisClients,
          pipeline,
          requests: pipeline === 1 ? 20_000 : 100_000,
          protocol: protocol(t),
        });
        sizes.set(t.name, Math.min(5_000_000, Math.max(10_000, Math.round(Math.min(r.SET.rps, r.GET.rps) * settings.redisSeconds))));
      } catch (err) {
        sizes.set(t.name, 0);
        modeData[`${t.name} ${mode} calibration`] = (err as Error).message;
      }
    }
    const perCommand = new Map<string, { SET: Sample[]; GET: Sample[]; failures: string[] }>(
      targets.map((t) => [t.name, { SET: [], GET: [], failures: [] }]),
    );
    const results = await interleave(targets, settings.rounds, async (t) => {
      const n = sizes.get(t.name) ?? 0;
      if (!n) throw new Error("calibration failed");
      const cpu0 = t.proc && t !== redis ? groupCpuSeconds(t.proc.pid) : undefined;
      const r = await redisBenchmark({ port: t.port!, clients: settings.redisClients, pipeline, requests: n, protocol: protocol(t) });
      const cpuUs = cpu0 !== undefined ? ((groupCpuSeconds(t.proc!.pid) - cpu0) * 1e6) / (2 * n) : undefined;
      const slot = perCommand.get(t.name)!;
      slot.SET.push({ ...r.SET, ...(cpuUs !== undefined ? { cpuUs } : {}) });
      slot.GET.push({ ...r.GET, ...(cpuUs !== undefined ? { cpuUs } : {}) });
      return r.GET;
    });
    for (const t of targets) cellRows.push(makeRow(t.name, results.get(t.name)?.samples ?? []));
    const byTarget = new Map<string, { set: Row; getRow: Row }>();
    for (const t of targets) {
      const slot = perCommand.get(t.name)!;
      const failures = results.get(t.name)?.failures ?? [];
      byTarget.set(t.name, {
        set: makeRow(`${t.name} SET ${mode}`, slot.SET, failures, t.unavailable),
        getRow: makeRow(`${t.name} GET ${mode}`, slot.GET, failures, t.unavailable),
      });
    }
    const ref = byTarget.get(pipe.name);
    for (const t of targets) {
      const { set, getRow } = byTarget.get(t.name)!;
      if (ref?.set.rps && set.rps) set.ratio = set.rps.median / ref.set.rps.median;
      if (ref?.getRow.rps && getRow.rps) getRow.ratio = getRow.rps.median / ref.getRow.rps.median;
      rowsOut.push(set, getRow);
      table.rows.push(
        set.rps && getRow.rps
          ? [
              t.name,
              mode,
              spread(set.rps),
              spread(getRow.rps),
              ms(getRow.p50?.median),
              ms(getRow.p99?.median),
              set.ratio !== undefined ? `${set.ratio.toFixed(2)} / ${getRow.ratio?.toFixed(2)}` : "-",
              getRow.cpuUs ? num(getRow.cpuUs.median) : "-",
            ]
          : [t.name, `${mode}: ${whyNot(set)}`],
      );
    }
    // SET and GET, each per round against the reference's same round; the worse of the two counts.
    const worstPaired = (x: { set: Row; getRow: Row } | undefined, y: { set: Row; getRow: Row } | undefined) => {
      const ps = pairedRatio(x?.set, y?.set);
      const pg = pairedRatio(x?.getRow, y?.getRow);
      return ps && pg ? { set: ps.median, get: pg.median, worst: Math.min(ps.median, pg.median) } : undefined;
    };
    const tw = byTarget.get(twem.name);
    const goal = pipeline === 1 ? 0.5 : 1.0;
    for (const t of [attache, attache3]) {
      const r = worstPaired(byTarget.get(t.name), tw);
      checks.push({
        name: `Redis ${t === attache3 ? "RESP3" : "RESP2"} ${mode} SET/GET`,
        reference: "twemproxy (RESP2)",
        goal: `≥ ${goal.toFixed(1)} ×`,
        measured: r
          ? `SET ${r.set.toFixed(2)} ×, GET ${r.get.toFixed(2)} ×`
          : whyNot(
              tw?.set.rps
                ? (byTarget.get(t.name)?.set ?? makeRow(t.name, [], [], t.unavailable))
                : (tw?.set ?? makeRow(twem.name, [], [], twem.unavailable)),
            ),
        met: r ? r.worst >= goal : undefined,
      });
    }
    const r3 = worstPaired(byTarget.get(attache3.name), byTarget.get(attache.name));
    checks.push({
      name: `Redis RESP3 vs RESP2 ${mode} SET/GET`,
      reference: "attache RESP2",
      goal: "≥ 0.9 ×",
      measured: r3
        ? `SET ${r3.set.toFixed(2)} ×, GET ${r3.get.toFixed(2)} ×`
        : whyNot(byTarget.get(attache3.name)?.set ?? makeRow(attache3.name, [], [], attache3.unavailable)),
      met: r3 ? r3.worst >= 0.9 : undefined,
    });
  }
  table.notes!.push(noiseNote(cellRows));
  sections.push({ id: "redis", title, ratioTo: pipe.name, rows: rowsOut, extra: modeData });
  tables.push(table);

  // The HTTP API at the prefix, with the HTTP load tool.
  const value = "v".repeat(100);
  let api: Target = attacheHttp.unavailable ? { ...attacheHttp, name: "attache HTTP API" } : attacheHttp;
  if (!api.unavailable) {
    await respSet(redisPort, "bench-key", value).catch(() => "");
    api = await checkAnswers(api, "/bench-key", value.length);
  }
  const apiTitle = `Redis HTTP API: GET {prefix}/bench-key (100 B value), ${settings.connections} connections`;
  await warm([api], { paths: ["/bench-key"], seconds: settings.warmupSeconds });
  const apiResults = await interleave([api], settings.rounds, (t) => measureHttp(t, { paths: ["/bench-key"], seconds: settings.seconds }));
  const apiRows = rowsFrom([api], apiResults);
  sections.push({ id: "redis-http", title: apiTitle, rows: apiRows });
  tables.push(httpTable(apiTitle, apiRows, "ratio"));
  await Promise.all([attacheHttp, pipe, twem].map((t) => stopProc(t.proc)));
  await stopProc(redis.proc);
}

async function operatingPointSection(origin: Target & { proc: Proc; base: string }, originPort: number): Promise<void> {
  const title = `Sidecar operating point: ${settings.opRate} req/s fixed rate, ${settings.opConnections} connections, ~100 B, ${settings.opSeconds} s per cell`;
  const attache: AttacheTarget = await checkAnswers(
    await startAttache("attache", { routes: httpRoutes(originPort, ["/svc"]) }, "/svc"),
    "/small",
    SMALL,
  );
  const direct: Target = { ...origin, name: "origin direct" };
  // The Node floor at the same rate: what the least a Node proxy does costs per request.
  const floor = await checkAnswers(await startHttpPipe(originPort), "/small", SMALL);
  // attache's design at this rate, without attache: how much of the gap to the floor is undici's.
  const undiciPipe = await checkAnswers(await startUndiciPipe(originPort), "/small", SMALL);
  const cell: HttpCell = { paths: ["/small"], seconds: settings.opSeconds, connections: settings.opConnections, rate: settings.opRate };
  const targets = [direct, attache, floor, undiciPipe];
  await warm(targets, cell);
  const results = await interleave(targets, settings.rounds, async (t) => {
    if (t === direct) return measureHttp(t, { ...cell, cpu: false });
    const pid = t.proc!.pid;
    const cpu0 = cpuSeconds(pid);
    const s = await measureHttp(t, { ...cell, cpu: false });
    return { ...s, cpuUs: ((cpuSeconds(pid) - cpu0) * 1e6) / Math.max(1, s.requests), rssMiB: memory(pid).rssMiB };
  });
  const rows = rowsFrom(targets, results);
  const d = rows[0]!;
  const a = rows[1]!;
  const added = (k: "p50" | "p90" | "p99") => (a[k] && d[k] ? a[k].median - d[k].median : undefined);
  const cpuPer1000 = a.cpuUs ? a.cpuUs.median / 1000 : undefined; // µs/req → s per 1000 req
  const rss = summarize(a.samples.map((s) => s.rssMiB ?? 0));
  const peak = attache.proc ? memory(attache.proc.pid).peakMiB : undefined;
  const table: TableSection = {
    title,
    header: ["target", "req/s achieved", "p50 ms", "p90 ms", "p99 ms", "CPU s / 1000 req", "RSS MiB", "errors"],
    rows: rows.map((r) =>
      r.rps
        ? [
            r.target,
            spread(r.rps),
            spread(r.p50),
            spread(r.p90),
            spread(r.p99),
            r.cpuUs ? `${(r.cpuUs.median / 1000).toFixed(3)} (${(r.cpuUs.min / 1000).toFixed(3)}–${(r.cpuUs.max / 1000).toFixed(3)})` : "-",
            r.samples.some((x) => x.rssMiB)
              ? `${summarize(r.samples.map((x) => x.rssMiB ?? 0))!.median.toFixed(0)}${r === a ? ` (peak ${peak?.toFixed(0) ?? "?"})` : ""}`
              : "-",
            String(r.errors),
          ]
        : [r.target, whyNot(r)],
    ),
    notes: [
      `added latency over direct (medians): p50 ${fmtAdded(added("p50"))}, p90 ${fmtAdded(added("p90"))}, p99 ${fmtAdded(added("p99"))}`,
      "CPU from /proc/PID/stat utime+stime of the attache process; RSS = VmRSS after each cell (peak = VmHWM)",
      noiseNote(rows),
    ],
  };
  const f = rows[2];
  const floorCpu = f?.cpuUs ? f.cpuUs.median / 1000 : undefined;
  const undiciCpu = rows[3]?.cpuUs ? rows[3].cpuUs.median / 1000 : undefined;
  if (floorCpu !== undefined && cpuPer1000 !== undefined)
    table.notes!.splice(
      1,
      0,
      `attache uses ${(cpuPer1000 / floorCpu).toFixed(2)} × the node:http floor's CPU per request at this rate` +
        (undiciCpu !== undefined ? `; node:http + undici (no policy) ${(undiciCpu / floorCpu).toFixed(2)} ×` : ""),
    );
  sections.push({
    id: "operating-point",
    title,
    rows,
    extra: {
      addedMs: { p50: added("p50"), p90: added("p90"), p99: added("p99") },
      cpuSecondsPer1000: cpuPer1000,
      floorCpuSecondsPer1000: floorCpu,
      undiciPipeCpuSecondsPer1000: undiciCpu,
      rssMiB: rss,
      peakRssMiB: peak,
    },
  });
  tables.push(table);
  const fAdded = f?.p99 && d.p99 ? f.p99.median - d.p99.median : undefined;
  const over = added("p99") !== undefined && fAdded !== undefined ? added("p99")! - fAdded : undefined;
  checks.push({
    name: "Operating point: CPU per 1,000 requests",
    reference: "node:http + http.request (floor)",
    goal: "≤ 1.0 ×",
    measured:
      cpuPer1000 !== undefined && floorCpu
        ? `${(cpuPer1000 / floorCpu).toFixed(2)} × (${cpuPer1000.toFixed(3)} vs ${floorCpu.toFixed(3)} s)`
        : whyNot(a),
    met: cpuPer1000 !== undefined && floorCpu ? cpuPer1000 / floorCpu <= 1 : undefined,
  });
  checks.push({
    name: "Operating point: added p99 latency",
    reference: "floor's added p99",
    goal: "≤ +0.5 ms",
    measured:
      over !== undefined ? `${fmtAdded(over)} (attache ${fmtAdded(added("p99"))}, floor ${fmtAdded(fAdded)} over direct)` : whyNot(a),
    met: over !== undefined ? over <= 0.5 : undefined,
  });
  checks.push({
    name: "Operating point: RSS",
    reference: "-",
    goal: "≤ 80 MiB",
    measured: rss ? `${rss.median.toFixed(0)} MiB (peak ${peak !== undefined ? peak.toFixed(0) : "?"} MiB)` : whyNot(a),
    met: rss ? rss.median <= 80 : undefined,
  });
  await Promise.all([attache, floor, undiciPipe].map((t) => stopProc(t.proc)));
}

/** Established TCP connections from process `pid` to the origin's port (ss -p). */
function upstreamConnections(port: number, pid: number): number {
  try {
    const out = execFileSync("ss", ["-Htnp", "state", "established", `( dport = :${port} )`], { encoding: "utf8" });
    return out.split("\n").filter((l) => l.includes(`pid=${pid},`)).length;
  } catch {
    return -1;
  }
}

function fmtAdded(v: number | undefined): string {
  return v === undefined ? "-" : `${v >= 0 ? "+" : ""}${v.toFixed(3)} ms`;
}

const pad = (i: number) => String(i).padStart(4, "0");

async function scaleSection(originPort: number): Promise<void> {
  const title = `Scale: 1 route vs 1,000 routes, ~100 B, ${settings.connections} connections, requests spread over 1,000 paths`;
  const one = await startAttache("attache, 1 route", { routes: httpRoutes(originPort, ["/r0000"]) });
  const many = await startAttache("attache, 1,000 routes", {
    routes: httpRoutes(
      originPort,
      Array.from({ length: 1000 }, (_, i) => `/r${pad(i)}`),
    ),
  });
  // Same script cost for each: 1,000 distinct paths, under one prefix or spread over 1,000 prefixes.
  // "one hot prefix" is the 1,000-route process again with all requests on one route: the cost of the
  // table alone, without 1,000 per-route pools each holding its own upstream connections.
  const hot: Target = { ...many, name: "attache, 1,000 routes, one hot prefix" };
  const onePrefix = Array.from({ length: 1000 }, (_, i) => `/r0000/p${pad(i)}`);
  const paths = new Map<string, string[]>([
    [one.name, onePrefix],
    [many.name, Array.from({ length: 1000 }, (_, i) => `/r${pad((i * 7919) % 1000)}/p`)],
    [hot.name, onePrefix],
  ]);
  const targets: Target[] = [];
  for (const t of [one, many, hot]) targets.push(await checkAnswers(t, paths.get(t.name)![0]!, SMALL));
  const connections = new Map<string, number>();
  for (const t of targets) {
    await measureHttp(t, { paths: paths.get(t.name)!, seconds: settings.warmupSeconds }).catch(() => undefined);
    if (t.proc && t !== hot) connections.set(t.name, upstreamConnections(originPort, t.proc.pid));
  }
  const results = await interleave(targets, settings.rounds, (t) =>
    measureHttp(t, { paths: paths.get(t.name)!, seconds: settings.seconds }),
  );
  const rows = rowsFrom(targets, results, one.name);
  const rss = targets.map((t) => (t.proc ? memory(t.proc.pid).rssMiB : undefined));
  await Promise.all([one, many].map((t) => stopProc(t.proc)));

  sections.push({
    id: "scale",
    title,
    ratioTo: one.name,
    rows,
    extra: { rssMiB: Object.fromEntries(targets.map((t, i) => [t.name, rss[i]])), upstreamConnections: Object.fromEntries(connections) },
  });
  const table = httpTable(title, rows, "× 1 route", [
    `RSS after load: ${targets
      .slice(0, 2)
      .map((t, i) => `${t.name} ${rss[i]?.toFixed(0) ?? "-"} MiB`)
      .join(", ")}`,
    `upstream connections open to the origin after warm-up: ${[...connections].map(([name, n]) => `${name} ${n}`).join(", ")} (routes with equal upstream settings may share a pool)`,
  ]);
  tables.push(table);
  const m = rows[1];
  const h = rows[2];
  if (h?.ratio !== undefined)
    table.notes!.push(
      `one hot prefix of 1,000 routes: ${h.ratio.toFixed(3)} × 1 route${pairedNote(pairedRatio(h, rows[0]))} (the table's own cost)`,
    );
  checks.push({
    name: "1,000 routes, requests spread",
    reference: "attache, 1 route",
    goal: "≥ 0.95 ×",
    measured:
      m?.ratio !== undefined ? `${m.ratio.toFixed(3)} ×${pairedNote(pairedRatio(m, rows[0]))}` : whyNot(m ?? makeRow(many.name, [])),
    met: m?.ratio !== undefined ? m.ratio >= 0.95 : undefined,
  });
}

/**
 * validate and start → ready (/readyz 200), 1 route and 1,000 routes, a fresh process every time.
 * With --baseline PATH/main.js, that build is started in the same rounds (order alternating) and
 * each round gives a paired ratio: the way to keep or revert a start-up change on a busy machine.
 */
async function startSection(originPort: number): Promise<void> {
  const builds = [{ name: "this build", main: attacheMain() }, ...(baselineMain ? [{ name: "baseline", main: baselineMain }] : [])];
  const rows: string[][] = [];
  const timing: Record<string, Summary | string | undefined> = {};
  const fmt = (v: Summary | string | undefined) =>
    typeof v === "object" ? `${v.median.toFixed(0)} ms (${v.min.toFixed(0)}–${v.max.toFixed(0)})` : (v ?? "-");
  const load0 = loadAverage();
  for (const [label, prefixes] of [
    ["1 route", ["/r0000"]],
    ["1,000 routes", Array.from({ length: 1000 }, (_, i) => `/r${pad(i)}`)],
  ] as const) {
    const routes = httpRoutes(originPort, [...prefixes]);
    const { dir } = await attacheConfig({ routes });
    const validateMs = new Map<string, number[]>(builds.map((b) => [b.name, []]));
    const readyMs = new Map<string, number[]>(builds.map((b) => [b.name, []]));
    // CPU time the process used until ready: what start-up costs, much less moved by other work than wall time.
    const readyCpuMs = new Map<string, number[]>(builds.map((b) => [b.name, []]));
    const errors = new Map<string, string>();
    for (let i = 0; i < settings.startRuns; i++) {
      for (let k = 0; k < builds.length; k++) {
        const b = builds[(i + k) % builds.length]!;
        const t0 = performance.now();
        const proc = spawnTracked("attache validate", attacheNode(), attacheArgs(b.main, "validate", "-c", dir), {
          cwd: ROOT,
          captureStdout: true,
        });
        const code = await proc.exited;
        if (code !== 0) errors.set(`validate ${b.name}`, `validate exited ${code}: ${proc.output().trim().slice(0, 120)}`);
        validateMs.get(b.name)!.push(performance.now() - t0);
      }
      for (let k = 0; k < builds.length; k++) {
        const b = builds[(i + k) % builds.length]!;
        const t = await startAttache(`attache start ${label}`, { routes, main: b.main });
        if (t.readyMs !== undefined && t.proc) {
          readyCpuMs.get(b.name)!.push(groupCpuSeconds(t.proc.pid) * 1000);
          readyMs.get(b.name)!.push(t.readyMs);
        } else errors.set(`ready ${b.name}`, t.unavailable ?? "not ready");
        await stopProc(t.proc);
      }
    }
    for (const b of builds) {
      const v = errors.get(`validate ${b.name}`) ?? summarize(validateMs.get(b.name)!);
      const r = errors.get(`ready ${b.name}`) ?? summarize(readyMs.get(b.name)!);
      timing[`validate ${label}${b === builds[0] ? "" : ` (${b.name})`}`] = v;
      const c = errors.get(`ready ${b.name}`) ?? summarize(readyCpuMs.get(b.name)!);
      timing[`start→ready ${label}${b === builds[0] ? "" : ` (${b.name})`}`] = r;
      timing[`CPU to ready ${label}${b === builds[0] ? "" : ` (${b.name})`}`] = c;
      rows.push([`${label}, ${b.name}`, fmt(v), fmt(r), fmt(c)]);
    }
    if (baselineMain && !errors.size) {
      const pairs = (m: Map<string, number[]>) => summarize(m.get("this build")!.map((x, i) => x / m.get("baseline")![i]!));
      const pv = pairs(validateMs);
      const pr = pairs(readyMs);
      const pc = pairs(readyCpuMs);
      const x = (p: Summary | undefined) => (p ? `${p.median.toFixed(2)} × (${p.min.toFixed(2)}–${p.max.toFixed(2)})` : "-");
      rows.push([`${label}: this / baseline, per round`, x(pv), x(pr), x(pc)]);
      timing[`start→ready ${label} this/baseline`] = pr;
      timing[`CPU to ready ${label} this/baseline`] = pc;
    }
  }
  const title = `Start-up: ${settings.startRuns} runs each, fresh process (node ${attacheNode() === process.execPath ? process.version : attacheNode()})`;
  tables.push({
    title,
    header: [
      "config, build",
      "validate -c DIR (wall, incl. Node start)",
      "run → /readyz 200 (polled every 5 ms)",
      "CPU until ready (user+sys)",
    ],
    rows,
    notes: [`builds: ${builds.map((b) => `${b.name} ${b.main}`).join(", ")}`, `load average before: ${load0}, after: ${loadAverage()}`],
  });
  sections.push({ id: "start", title, rows: [], extra: { timing, builds, loadAverage: load0 } });
  // A figure is a summary of runs, or the reason there is none.
  const within = (name: string, key: string, limitMs: number, goal: string) => {
    const t = timing[key];
    checks.push({
      name,
      reference: "-",
      goal,
      measured: typeof t === "object" ? `${t.median.toFixed(0)} ms` : (t ?? "-"),
      met: typeof t === "object" ? t.median <= limitMs : undefined,
    });
  };
  within("Start → ready, 1 route", "start→ready 1 route", 300, "≤ 300 ms");
  within("Start → ready, 1,000 routes", "start→ready 1,000 routes", 600, "≤ 600 ms");
  within("validate 1,000 routes", "validate 1,000 routes", 1000, "≤ 1 s");
}

/** "1.23 0.98 0.80 (2 cores)": how busy the machine was (start-up times are wall-clock). */
function loadAverage(): string {
  return `${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")} (${availableParallelism()} cores)`;
}

/** attache under the small-body HTTP load with --cpu-prof; graceful stop so V8 writes the profile. */
async function profileSection(originPort: number): Promise<void> {
  const dir = tempDir("cpuprof");
  const t = await checkAnswers(
    await startAttache(
      "attache (profiled)",
      { routes: httpRoutes(originPort, ["/svc"]), nodeArgs: ["--cpu-prof", "--cpu-prof-dir", dir] },
      "/svc",
    ),
    "/small",
    SMALL,
  );
  if (t.unavailable) {
    console.log(`profile: ${t.unavailable}`);
    await stopProc(t.proc);
    return;
  }
  const s = await measureHttp(t, { paths: ["/small"], seconds: settings.seconds * 2 });
  console.log(`\nprofiled run: ${num(s.rps)} req/s, p99 ${ms(s.p99)} ms, CPU ${num(s.cpuUs)} µs/req (profiling itself slows it)`);
  await stopProc(t.proc, 20_000);
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) {
    console.log(`profile: no .cpuprofile written in ${dir}`);
    return;
  }
  const watch = [
    "handleRequest",
    "handle",
    "exchange",
    "attempt",
    "send",
    "run",
    "upstreamRequestHeaders",
    "clientResponseHeaders",
    "record",
    "normalizeTarget",
    "match",
    "matchRoute",
    "assignRequestId",
    "acceptHost",
    "count",
    "observe",
    "writeHead",
    "pipe",
    "request",
    "ClientRequest",
    "emit",
    "info",
  ];
  profileSummary = summarizeProfile(join(dir, file), watch);
  console.log(`${renderProfile(profileSummary)}\n  file: ${join(dir, file)}`);
}

// ---------------------------------------------------------------- machine and tools

/** First line a tool prints about its version, stdout or stderr (nginx -v writes to stderr; wrk -v exits 1). */
function firstLine(command: string, args: string[]): string {
  try {
    const out = execFileSync("sh", ["-c", `"$0" "$@" 2>&1; true`, command, ...args], { encoding: "utf8" });
    return out.trim().split("\n")[0] ?? "";
  } catch {
    return "not installed";
  }
}

function toolVersions(): Record<string, string> {
  const autocannonVersion = (() => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, "node_modules/autocannon/package.json"), "utf8")) as { version: string }).version;
    } catch {
      return "not installed";
    }
  })();
  const v = (cmd: string, args: string[]) => (which(cmd) ? firstLine(cmd, args) : "not installed");
  return {
    wrk: v("wrk", ["-v"]).replace(/ Copyright.*/, ""),
    autocannon: autocannonVersion,
    nginx: v("nginx", ["-v"]),
    "twemproxy (nutcracker)": v("nutcracker", ["-V"]),
    "redis-server": v("redis-server", ["--version"]).replace(/ sha=.*/, ""),
    "redis-benchmark": v("redis-benchmark", ["--version"]).replace(/ \(git.*/, ""),
    kubectl: v("kubectl", ["version", "--client"]),
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  installCleanup();
  const machine = {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? "?",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
  };
  const tools = toolVersions();
  console.log(
    `attache bench (${quick ? "--quick" : "full"}): ${settings.rounds} interleaved rounds, ${settings.seconds} s per cell; sections: ${only.join(", ")}`,
  );
  console.log(`machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}`);
  console.log(
    `tools: ${Object.entries(tools)
      .map(([k, v]) => `${k}: ${v}`)
      .join("; ")}`,
  );
  const runtime = execFileSync(attacheNode(), ["--version"], { encoding: "utf8" }).trim();
  console.log(`attache: ${attacheMain()} on Node ${runtime} (the bare-pipe references run on it too)`);
  console.log(
    `HTTP load: ${tool === "wrk" ? "wrk, one thread" : "autocannon (wrk not installed)"}; the load generator, the proxy and the origin share these ${machine.cores} cores.`,
  );
  const t0 = performance.now();
  const origin = await startOrigin();
  const originPort = Number(new URL(origin.base).port);
  const run = async (id: string, fn: () => Promise<void>) => {
    if (!only.includes(id)) return;
    const s0 = performance.now();
    process.stdout.write(`… ${id}`);
    try {
      await fn();
    } catch (err) {
      console.log(`\nsection ${id} failed: ${(err as Error).stack ?? String(err)}`);
      tables.push({ title: `${id}: failed`, header: ["error"], rows: [[(err as Error).message]] });
    }
    console.log(` (${((performance.now() - s0) / 1000).toFixed(0)} s)`);
  };
  try {
    await run("http", () => httpSection(origin, originPort));
    await run("kube", () => kubeSection());
    await run("redis", () => redisSection());
    await run("op", () => operatingPointSection(origin, originPort));
    await run("scale", () => scaleSection(originPort));
    await run("start", () => startSection(originPort));
    await run("profile", () => profileSection(originPort));
  } finally {
    await stopAll();
  }
  console.log(renderTable(tables));
  if (checks.length) console.log(renderTargets(checks));
  const outDir = join(ROOT, "test/bench/results");
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, "latest.json");
  writeFileSync(
    file,
    `${JSON.stringify({ when: new Date().toISOString(), command: `npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`, settings, machine, tools, loadTool: tool, sections, targets: checks, profile: profileSummary }, null, 2)}\n`,
  );
  const markdown = join(outDir, "targets.md");
  writeFileSync(markdown, renderTargetsMarkdown(checks));
  console.log(`\n${((performance.now() - t0) / 1000).toFixed(0)} s; JSON: ${file}; the targets as Markdown: ${markdown}`);
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    console.error(err);
    await stopAll();
    process.exit(1);
  },
);
