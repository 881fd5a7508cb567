/**
 * Real redis-server processes for tests: a free loopback port (redis cannot listen on port 0, so
 * node:net finds one first), no persistence, a password. kill() and restart() on the same port
 * simulate an outage. Never port 6379.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Socket } from "node:net";

export interface RedisServer {
  port: number;
  password: string;
  url: string;
  /** Run one command with redis-cli against the server itself (not attache), with the current password; returns stdout. */
  cli(...args: string[]): Promise<string>;
  /** SIGKILL: an abrupt outage. */
  kill(): Promise<void>;
  /** SIGSTOP: a server that stops answering without closing its connections (a crash or partition). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Start again on the same port (after kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
      });
    });
    if (port !== 6379 && port !== 6380) return port;
  }
}

export async function startRedis(options: { password?: string; extraArgs?: string[] } = {}): Promise<RedisServer> {
  const port = await freePort();
  const password = options.password ?? `pw-${Math.random().toString(36).slice(2)}`;
  const dir = mkdtempSync(join(tmpdir(), "attache-redis-"));
  let child: ChildProcess | undefined;
  let server: RedisServer | undefined;

  const launch = async () => {
    child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--requirepass",
        server?.password ?? password,
        "--dir",
        dir,
        "--loglevel",
        "warning",
        ...(options.extraArgs ?? []),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr?.resume();
    await waitForPort(port, 5_000);
  };
  await launch();

  server = {
    port,
    password,
    url: `redis://127.0.0.1:${port}/0`,
    cli: (...args) => run("redis-cli", ["-p", String(port), "--no-auth-warning", "-a", server!.password, ...args]),
    async kill() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
      c.kill("SIGKILL");
      c.kill("SIGCONT");
      await exited;
    },
    pause() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
    async restart() {
      await server!.kill();
      await launch();
    },
    async stop() {
      await server!.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Run a program to completion (bounded); resolves with stdout. */
export function run(cmd: string, args: string[], input?: string | Buffer, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      if (code === 0) resolve(stdout);
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${Buffer.concat(err).toString()}${stdout}`));
    });
    child.stdin.end(input);
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
      s.connect(port, "127.0.0.1");
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`redis-server did not listen on ${port} within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A raw RESP conversation: write `wire` in one write, read until `frames` reply frames came back
 * (or the connection closed, or `timeoutMs` passed). Frames keep their exact bytes.
 */
export async function respExchange(
  port: number,
  wire: Buffer | string,
  frames: number,
  timeoutMs = 10_000,
): Promise<{ frames: Array<{ value: import("../../src/upstreams/redis/resp/value.js").RespValue; raw: Buffer }>; closed: boolean }> {
  const { ReplyParser } = await import("../../src/upstreams/redis/resp/reply-parser.js");
  return new Promise((resolve) => {
    const out: Array<{ value: import("../../src/upstreams/redis/resp/value.js").RespValue; raw: Buffer }> = [];
    const socket = new Socket();
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ frames: out, closed });
    };
    const parser = new ReplyParser((value, raw) => {
      out.push({ value, raw: Buffer.from(raw) });
      if (out.length >= frames) done(false);
    });
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      try {
        parser.feed(chunk);
      } catch {
        done(true);
      }
    });
    socket.on("close", () => done(true));
    socket.on("error", () => done(true));
    socket.connect(port, "127.0.0.1", () => socket.write(wire));
  });
}
