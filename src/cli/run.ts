/**
 * attache [run]: start, then live until drained. SIGTERM/SIGINT drain (a second one exits at once);
 * SIGHUP reloads the config.
 */
import { ConfigError, formatProblem } from "../config/problems.js";
import type { FindOptions } from "../config/load.js";
import { ListenError } from "../lifecycle/listen.js";
import { type Running, start } from "../lifecycle/start.js";
import { log } from "../observability/log.js";

/** After the drain, exit even if a forgotten handle would keep the event loop alive. */
const EXIT_GRACE_MS = 2_000;

export async function runCommand(options: FindOptions): Promise<number> {
  let running: Running;
  try {
    running = await start(options);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      return 1;
    }
    if (err instanceof ListenError) {
      process.stderr.write(`attache: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, "second signal: exiting now");
      log.flush();
      process.exit(1);
    }
    log.info({ signal }, "signal received");
    void running.drain();
  };
  const onHangup = () => {
    void running.reload("SIGHUP", true).then((outcome) => {
      log.info({ generation: outcome.generation, applied: outcome.applied, rejected: outcome.problems.length }, "SIGHUP reload done");
    });
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  process.on("SIGHUP", onHangup);
  await running.closed;
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  process.off("SIGHUP", onHangup);
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  setTimeout(() => process.exit(process.exitCode ?? 0), EXIT_GRACE_MS).unref();
  return 0;
}
