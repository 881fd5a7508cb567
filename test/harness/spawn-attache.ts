/**
 * `node dist/main.js run -c DIR` as a child process, for what only a real process shows: signals,
 * exit codes, stderr. The bound addresses come from the "attache ready" log line (ports are 0).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

export interface SpawnedAttache {
  child: ChildProcess;
  url: string;
  adminUrl: string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** SIGKILL if still running (test cleanup). */
  kill(): void;
}

/** Start and wait until ready (the root file must log at info or lower). Rejects if it exits first. */
export function spawnAttache(configDir: string, env: NodeJS.ProcessEnv = {}, waitMs = 10_000): Promise<SpawnedAttache> {
  const child = spawn(process.execPath, [MAIN, "run", "-c", configDir], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`attache did not get ready within ${waitMs}ms\n${out}\n${err}`));
    }, waitMs);
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      for (const line of out.split("\n")) {
        if (!line.includes('"attache ready"')) continue;
        const ready = JSON.parse(line) as { listen: string; admin: string };
        clearTimeout(timer);
        resolve({
          child,
          url: `http://${ready.listen}`,
          adminUrl: `http://${ready.admin}`,
          exited,
          stdout: () => out,
          stderr: () => err,
          kill: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
          },
        });
        return;
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`attache exited with ${code} before it was ready\n${err}`), { code, stderr: err }));
    });
  });
}

/** Run to completion (for start-up failures): exit code and output. */
export function runAttache(configDir: string, waitMs = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, "run", "-c", configDir], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), waitMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
