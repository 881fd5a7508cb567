/**
 * `npm run soak [-- --minutes N]`: attache (dist/) under 1,000 req/s of mixed HTTP, Kubernetes and
 * Redis traffic for N minutes (10 by default), while misbehaving clients of each kind connect and
 * leave: slowloris heads, an SSE and a RESP subscriber that never read, RESP headers announcing
 * huge arrays and bulks. Prints attache's RSS growth, the well-behaved clients' failed requests and
 * attache's event-loop delay p99 (nodejs_eventloop_lag_p99_seconds, per 10 s scrape).
 */
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";
import { Redis } from "ioredis";
import { startAttache, startFakeKube, startOrigin, startRedis } from "../bench/peers.js";
import { BackgroundMeter, freePort, installCleanup, memory, sleep, stopAll } from "../bench/procs.js";

const minutesFlag = process.argv.indexOf("--minutes");
const MINUTES = minutesFlag > 0 ? Number(process.argv[minutesFlag + 1]) : 10;
if (!(MINUTES > 0 && MINUTES <= 120)) throw new Error("--minutes takes a number of minutes, up to 120");
const RATE = 1000;
const SAMPLE_MS = 10_000;

installCleanup();
const origin = await startOrigin();
const kube = await startFakeKube();
const redis = await startRedis();
if (redis.unavailable) throw new Error(`soak needs redis-server: ${redis.unavailable}`);
const respPort = await freePort();
const attache = await startAttache("attache", {
  routes: [
    `  - { prefix: /svc, upstream: { http: { endpoints: ["${origin.base}"] } } }`,
    `  - prefix: /k8s\n    upstream: { kubernetes: { server: "${kube.url}", tokenFile: "${kube.tokenFile}", caFile: "${kube.caFile}" } }`,
    `  - { prefix: /cache, upstream: { redis: { url: "redis://127.0.0.1:${redis.port}", listen: "127.0.0.1:${respPort}", commands: ["*"] } } }`,
  ].join("\n"),
});
if (attache.unavailable || !attache.proc) throw new Error(attache.unavailable ?? "attache did not start");
const base = new URL(attache.base!);
const adminBase = new URL(attache.admin!);
const pid = attache.proc.pid;
const until = Date.now() + MINUTES * 60_000;
const running = () => Date.now() < until;

// ------------------------------------------------------------ well-behaved clients: 1,000 req/s
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const resp = new Redis({ port: respPort, host: "127.0.0.1", maxRetriesPerRequest: 0, lazyConnect: false });
const direct = new Redis({ port: redis.port!, host: "127.0.0.1" });
await resp.set("soak:key", "v".repeat(100));
const tally = { sent: 0, ok: 0, failed: new Map<string, number>() };
const fail = (kind: string) => tally.failed.set(kind, (tally.failed.get(kind) ?? 0) + 1);

function httpGet(kind: string, path: string): void {
  const req = request({ host: base.hostname, port: base.port, path, agent, timeout: 10_000 }, (res) => {
    res.resume();
    res.on("end", () => (res.statusCode === 200 ? tally.ok++ : fail(`${kind} ${res.statusCode}`)));
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", (err: NodeJS.ErrnoException) => fail(`${kind} ${err.code ?? err.message}`));
  req.end();
}

const MIX: Array<() => void> = [
  () => httpGet("http", "/svc/hello"),
  () => httpGet("http", "/svc/hello"),
  () => httpGet("http", "/svc/hello"),
  () => httpGet("http", "/svc/hello"),
  () => httpGet("kubernetes", "/k8s/api/v1/namespaces/default/pods/web-1"),
  () => httpGet("kubernetes", "/k8s/api/v1/namespaces/default/pods/web-1"),
  () => httpGet("kubernetes", "/k8s/api/v1/namespaces/default/pods"),
  () => httpGet("redis-http", "/cache/soak:key"),
  () =>
    void resp.get("soak:key").then(
      (v) => (v ? tally.ok++ : fail("resp nil")),
      (e: Error) => fail(`resp ${e.message}`),
    ),
  () =>
    void resp.set("soak:key", "v".repeat(100)).then(
      () => tally.ok++,
      (e: Error) => fail(`resp ${e.message}`),
    ),
];

async function wellBehaved(): Promise<void> {
  const t0 = Date.now();
  while (running()) {
    const due = Math.floor(((Date.now() - t0) * RATE) / 1000);
    while (tally.sent < due) MIX[tally.sent++ % MIX.length]!();
    await sleep(5);
  }
}

// ------------------------------------------------------------ misbehaving clients, connecting and leaving
const misbehaved = { slowloris: 0, slowlorisCut: 0, sse: 0, sseCut: 0, subscriber: 0, subscriberCut: 0, hugeHeaders: 0 };

/** A raw connection kept `ms` at most; resolves true when attache closed it first. */
function rawConnection(port: number, ms: number, onOpen: (socket: Socket) => void): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let mine = false;
    const timer = setTimeout(() => {
      mine = true;
      socket.destroy();
    }, ms);
    socket.on("error", () => {});
    socket.once("connect", () => onOpen(socket));
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(!mine);
    });
  });
}

/** Heads one byte a second, 10 on the app listener and 2 on admin every 5 s; each gives up after 30 s. */
async function slowloris(): Promise<void> {
  const head = `GET /svc/slow HTTP/1.1\r\nHost: localhost\r\nX-Slow: ${"s".repeat(200)}\r\n\r\n`;
  const one = (port: number) =>
    rawConnection(port, 30_000, (socket) => {
      let i = 0;
      const timer = setInterval(() => (socket.writable && i < head.length ? socket.write(head[i++]!) : clearInterval(timer)), 1000);
      socket.once("close", () => clearInterval(timer));
    }).then((cut) => {
      misbehaved.slowloris++;
      if (cut) misbehaved.slowlorisCut++;
    });
  const all: Promise<void>[] = [];
  while (running()) {
    for (let i = 0; i < 12; i++) all.push(one(Number(i < 10 ? base.port : adminBase.port)));
    await sleep(5000);
  }
  await Promise.all(all);
}

/** Never-reading subscribers, SSE and RESP, one of each every 20 s, each staying 20 s; 400 KB/s published meanwhile. */
async function neverReaders(): Promise<void> {
  const message = "m".repeat(4096);
  const publisher = setInterval(() => {
    for (let i = 0; i < 10; i++) void direct.publish("soak-news", message).catch(() => {});
  }, 100);
  while (running()) {
    const sse = rawConnection(Number(base.port), 20_000, (socket) => {
      socket.write("GET /cache/subscribe/soak-news HTTP/1.1\r\nHost: localhost\r\n\r\n");
      socket.pause();
    });
    const sub = rawConnection(respPort, 20_000, (socket) => {
      socket.write("*2\r\n$9\r\nSUBSCRIBE\r\n$9\r\nsoak-news\r\n");
      socket.pause();
    });
    const [sseCut, subCut] = await Promise.all([sse, sub]);
    misbehaved.sse++;
    misbehaved.subscriber++;
    if (sseCut) misbehaved.sseCut++;
    if (subCut) misbehaved.subscriberCut++;
  }
  clearInterval(publisher);
}

/** Every 5 s: `*2147483647` then 100k empty arguments, or a 1 GiB bulk announced and 1 MiB sent; then leave. */
async function hugeHeaders(): Promise<void> {
  const manyArgs = Buffer.from(`*2147483647\r\n${"$0\r\n\r\n".repeat(100_000)}`);
  const hugeBulk = Buffer.concat([Buffer.from("*2\r\n$3\r\nGET\r\n$1073741824\r\n"), Buffer.alloc(1024 * 1024, "x")]);
  for (let n = 0; running(); n++) {
    await rawConnection(respPort, 2000, (socket) => socket.write(n % 2 ? hugeBulk : manyArgs));
    misbehaved.hugeHeaders++;
    await sleep(3000);
  }
}

// ------------------------------------------------------------ measurements
async function adminMetric(name: string): Promise<number | undefined> {
  const text = await new Promise<string>((resolve, reject) => {
    request({ host: adminBase.hostname, port: adminBase.port, path: "/metrics" }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(body));
    })
      .on("error", reject)
      .end();
  });
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const samples: Array<{ at: number; rssMiB: number; loopP99Ms: number }> = [];
async function sample(): Promise<void> {
  while (running()) {
    await sleep(SAMPLE_MS);
    const p99 = await adminMetric("nodejs_eventloop_lag_p99_seconds").catch(() => undefined);
    samples.push({
      at: Math.round((MINUTES * 60_000 - (until - Date.now())) / 1000),
      rssMiB: memory(pid).rssMiB,
      loopP99Ms: (p99 ?? NaN) * 1000,
    });
    const s = samples.at(-1)!;
    process.stderr.write(
      `soak ${s.at}s: rss ${s.rssMiB.toFixed(1)} MiB, loop p99 ${s.loopP99Ms.toFixed(1)} ms, ${tally.ok}/${tally.sent} ok\n`,
    );
  }
}

// Other sessions' work on the same cores, so a reader can tell a quiet run from a crowded one.
const background = new BackgroundMeter();
background.start(1000);
process.stderr.write(`soak: ${MINUTES} min at ${RATE} req/s against attache pid ${pid} (admin ${attache.admin})\n`);
await Promise.all([wellBehaved(), slowloris(), neverReaders(), hugeHeaders(), sample()]);
await sleep(2000); // the last answers
const rssStart = memory(pid).rssMiB;
const warm = samples.find((s) => s.at >= Math.min(60, (MINUTES * 60) / 5)) ?? samples[0];
const p99s = samples
  .map((s) => s.loopP99Ms)
  .filter(Number.isFinite)
  .sort((a, b) => a - b);
const report = {
  minutes: MINUTES,
  requests: tally.sent,
  ok: tally.ok,
  failed: Object.fromEntries(tally.failed),
  rateAchieved: Math.round(tally.sent / (MINUTES * 60)),
  rssMiB: {
    afterWarmup: warm?.rssMiB,
    end: rssStart,
    max: Math.max(...samples.map((s) => s.rssMiB)),
    growthPercent: warm ? Math.round(((rssStart - warm.rssMiB) / warm.rssMiB) * 1000) / 10 : undefined,
  },
  eventLoopP99Ms: { median: p99s[Math.floor(p99s.length / 2)], max: p99s.at(-1) },
  otherWorkCores: Math.round(background.stop() * 100) / 100,
  misbehaved,
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
resp.disconnect();
direct.disconnect();
agent.destroy();
await stopAll();
process.exit(0);
