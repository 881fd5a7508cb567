/**
 * Everything the bench measures, started on loopback with its config in a temp folder:
 * the origin, attache, nginx, the bare Node pipes, the fake Kubernetes API, kubectl proxy,
 * redis-server and twemproxy. A peer that is missing or fails to start becomes a Target with
 * `unavailable` set, which the table prints instead of numbers.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { which } from "./load.js";
import { freePort, lastWords, spawnTracked, stopProc, waitHttp200, waitTcp, type Proc } from "./procs.js";

export interface Target {
  name: string;
  /** http(s)://127.0.0.1:PORT for HTTP targets. */
  base?: string;
  /** Prepended to every request path (a route prefix). */
  prefix?: string;
  /** RESP port for Redis targets. */
  port?: number;
  headers?: Record<string, string>;
  /** The process whose CPU is counted as the proxy's (its whole process group). */
  proc?: Proc;
  /** Why there are no numbers: "not installed", "attache: <reason>". */
  unavailable?: string;
}

export const ROOT = resolve(import.meta.dirname, "../..");
/**
 * The attache entry point: dist/main.js, or ATTACHE_BENCH_MAIN (bench.ts's --attache PATH) to
 * measure another build side by side, such as a copy of dist/ from before a change.
 */
export function attacheMain(): string {
  return resolve(ROOT, process.env.ATTACHE_BENCH_MAIN ?? "dist/main.js");
}
/** The node binary that runs attache: ATTACHE_BENCH_NODE (bench.ts's --node PATH, e.g. the image's Node 24), else this one. */
export function attacheNode(): string {
  return process.env.ATTACHE_BENCH_NODE ?? process.execPath;
}
/**
 * `node [flags] main.js …` as attache is run where it is installed: the flags its main.js declares on
 * its first line (`#!/usr/bin/env -S node --max-semi-space-size=4`, as the image's ENTRYPOINT), so a
 * --baseline build keeps its own.
 */
export function attacheArgs(main: string, ...args: string[]): string[] {
  const first = readFileSync(main, "utf8").split("\n", 1)[0]!;
  const flags = first.startsWith("#!") ? first.split(/\s+/).filter((word) => word.startsWith("--")) : [];
  return [...flags, main, ...args];
}
const TSX = ["--import", "tsx"];

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `attache-bench-${name}-`));
}

/** `reference`: a floor attache is compared with (a bare pipe), run by the same Node as attache (`--node`). */
export function nodeServer(name: string, file: string, args: Array<string | number>, reference = false): Proc {
  const node = reference ? attacheNode() : process.execPath;
  return spawnTracked(name, node, [...TSX, join("test/bench/servers", file), ...args.map(String)], { cwd: ROOT });
}

export function unavailable(name: string, reason: string): Target {
  return { name, unavailable: reason };
}

// ---------------------------------------------------------------- HTTP

export async function startOrigin(): Promise<Target & { proc: Proc; base: string }> {
  const port = await freePort();
  const proc = nodeServer("origin", "origin.ts", [port]);
  await waitTcp(proc, port);
  return { name: "origin direct", base: `http://127.0.0.1:${port}`, prefix: "", proc };
}

export async function startHttpPipe(originPort: number): Promise<Target> {
  const port = await freePort();
  const proc = nodeServer("http-pipe", "http-pipe.ts", [port, originPort], true);
  await waitTcp(proc, port);
  return { name: "node:http pipe (floor)", base: `http://127.0.0.1:${port}`, prefix: "/svc", proc };
}

/** The Node limit: node:http forwarding with undici at attache's default pool settings (servers/undici-pipe.ts). */
export async function startUndiciPipe(originPort: number): Promise<Target> {
  const port = await freePort();
  const proc = nodeServer("undici-pipe", "undici-pipe.ts", [port, originPort], true);
  await waitTcp(proc, port);
  return { name: "node:http + undici (no policy)", base: `http://127.0.0.1:${port}`, prefix: "/svc", proc };
}

/** A collector endpoint for attache's traces (servers/otlp-sink.ts). */
export async function startOtlpSink(): Promise<Target> {
  const port = await freePort();
  const proc = nodeServer("otlp-sink", "otlp-sink.ts", [port]);
  await waitTcp(proc, port);
  return { name: "otlp sink", base: `http://127.0.0.1:${port}`, prefix: "", proc };
}

export async function startNginx(originPort: number): Promise<Target> {
  const name = "nginx (keep-alive proxy)";
  if (!which("nginx")) return unavailable(name, "not installed");
  const dir = tempDir("nginx");
  const port = await freePort();
  for (const sub of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, sub));
  // One worker: a sidecar gets a slice of a pod, and attache is one event loop too.
  const conf = `
${process.getuid?.() === 0 ? "user root;" : ""}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream origin { server 127.0.0.1:${originPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location /svc/ {
      proxy_pass http://origin/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffers 16 8k;
      proxy_max_temp_file_size 0;
    }
  }
}
`;
  writeFileSync(join(dir, "nginx.conf"), conf);
  const proc = spawnTracked("nginx", "nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")]);
  try {
    await waitTcp(proc, port);
  } catch (err) {
    return unavailable(name, `nginx: ${(err as Error).message}`);
  }
  return { name, base: `http://127.0.0.1:${port}`, prefix: "/svc", proc };
}

export interface AttacheOptions {
  /** YAML for `routes:` (the list items, already indented by two spaces). */
  routes: string;
  access?: boolean;
  /** Extra node flags (--cpu-prof ...). */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Another build's main.js (default attacheMain()). */
  main?: string;
}

export interface AttacheTarget extends Target {
  dir?: string;
  admin?: string;
  /** ms from spawn to /readyz 200. */
  readyMs?: number;
}

export async function attacheConfig(options: AttacheOptions): Promise<{ dir: string; port: number; adminPort: number }> {
  const dir = tempDir("attache");
  const port = await freePort();
  const adminPort = await freePort();
  writeFileSync(
    join(dir, "attache.yaml"),
    [
      `listen: 127.0.0.1:${port}`,
      `admin: 127.0.0.1:${adminPort}`,
      `log: { level: warn, access: ${options.access ? "true" : "false"} }`,
      "routes:",
      options.routes,
      "",
    ].join("\n"),
  );
  return { dir, port, adminPort };
}

/** `node dist/main.js run -c DIR`, ready when /readyz says 200; a failure is kept as "attache: <reason>". */
export async function startAttache(name: string, options: AttacheOptions, prefix = ""): Promise<AttacheTarget> {
  const { dir, port, adminPort } = await attacheConfig(options);
  const proc = spawnTracked(
    name,
    attacheNode(),
    [...(options.nodeArgs ?? []), ...attacheArgs(options.main ?? attacheMain(), "run", "-c", dir)],
    {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
    },
  );
  try {
    const readyMs = await waitHttp200(proc, `http://127.0.0.1:${adminPort}/readyz`, 20_000, 5);
    return { name, base: `http://127.0.0.1:${port}`, prefix, proc, dir, admin: `http://127.0.0.1:${adminPort}`, readyMs };
  } catch (err) {
    await stopProc(proc, 500);
    const reason = lastWords(proc) || (err as Error).message;
    return { ...unavailable(name, reason.startsWith("attache:") ? reason : `attache: ${reason}`), dir };
  }
}

export function httpRoutes(originPort: number, prefixes: string[]): string {
  return prefixes.map((p) => `  - prefix: ${p}\n    upstream: { http: { endpoints: [http://127.0.0.1:${originPort}] } }`).join("\n");
}

// ---------------------------------------------------------------- Kubernetes

export interface FakeKube {
  proc: Proc;
  url: string;
  port: number;
  tokenFile: string;
  caFile: string;
  token: string;
  kubeconfig: string;
  /** What the fake offers by ALPN. */
  protocols: string[];
}

/** servers/fake-kube.ts; `http1`: HTTP/1.1 only (else HTTP/2 and HTTP/1.1 by ALPN, as kube-apiserver). */
export async function startFakeKube(options: { http1?: boolean } = {}): Promise<FakeKube> {
  const kubeconfig = join(tempDir("kube"), "kubeconfig");
  let announced: (info: FakeKube) => void = () => {};
  const ready = new Promise<FakeKube>((res) => (announced = res));
  let buffer = "";
  const proc = spawnTracked(
    "fake-kube-api",
    process.execPath,
    [...TSX, "test/bench/servers/fake-kube.ts", kubeconfig, ...(options.http1 ? ["--http1"] : [])],
    {
      cwd: ROOT,
      onStdout: (chunk) => {
        buffer += chunk;
        const line = buffer.split("\n").find((l) => l.startsWith("FAKE_KUBE "));
        if (line) announced({ proc, ...(JSON.parse(line.slice(10)) as Omit<FakeKube, "proc">) });
      },
    },
  );
  const died = proc.exited.then(() => {
    throw new Error(`fake Kubernetes API exited: ${lastWords(proc)}`);
  });
  const timeout = new Promise<never>((_, rej) =>
    setTimeout(() => rej(new Error("fake Kubernetes API did not start in 20 s")), 20_000).unref(),
  );
  return Promise.race([ready, died, timeout]);
}

export async function startKubectlProxy(kubeconfig: string): Promise<Target> {
  const name = "kubectl proxy";
  if (!which("kubectl")) return unavailable(name, "not installed");
  const port = await freePort();
  const proc = spawnTracked("kubectl-proxy", "kubectl", ["proxy", `--port=${port}`, "--address=127.0.0.1", `--kubeconfig=${kubeconfig}`]);
  try {
    await waitTcp(proc, port);
  } catch (err) {
    return unavailable(name, `kubectl: ${(err as Error).message}`);
  }
  return { name, base: `http://127.0.0.1:${port}`, prefix: "", proc };
}

// ---------------------------------------------------------------- Redis

export async function startRedis(): Promise<Target> {
  const name = "redis direct";
  if (!which("redis-server")) return unavailable(name, "not installed");
  const port = await freePort();
  const dir = tempDir("redis");
  const proc = spawnTracked("redis-server", "redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--daemonize",
    "no",
  ]);
  await waitTcp(proc, port);
  return { name, port, proc };
}

export async function startTcpPipe(redisPort: number): Promise<Target> {
  const port = await freePort();
  const proc = nodeServer("tcp-pipe", "tcp-pipe.ts", [port, redisPort], true);
  await waitTcp(proc, port);
  return { name: "node TCP pipe (floor)", port, proc };
}

export async function startTwemproxy(redisPort: number): Promise<Target> {
  const name = "twemproxy (nutcracker)";
  if (!which("nutcracker")) return unavailable(name, "not installed");
  const dir = tempDir("twemproxy");
  const port = await freePort();
  const statsPort = await freePort();
  writeFileSync(
    join(dir, "nutcracker.yml"),
    `bench:\n  listen: 127.0.0.1:${port}\n  redis: true\n  hash: fnv1a_64\n  distribution: ketama\n  auto_eject_hosts: false\n  timeout: 5000\n  servers:\n    - 127.0.0.1:${redisPort}:1\n`,
  );
  const proc = spawnTracked("nutcracker", "nutcracker", [
    "-c",
    join(dir, "nutcracker.yml"),
    "-s",
    String(statsPort),
    "-a",
    "127.0.0.1",
    "-o",
    join(dir, "nutcracker.log"),
    "-p",
    join(dir, "nutcracker.pid"),
  ]);
  try {
    await waitTcp(proc, port);
  } catch (err) {
    return unavailable(name, `nutcracker: ${(err as Error).message}`);
  }
  return { name, port, proc };
}
