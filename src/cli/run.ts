/** attache [run]: start, then live until drained. SIGTERM/SIGINT drain; a second signal exits at once. */
import { ConfigError, formatProblem } from "../config/problems.js";
import type { FindOptions } from "../config/load.js";
import { ListenError } from "../lifecycle/listen.js";
import { start } from "../lifecycle/start.js";
import { log } from "../observability/log.js";

export async function runCommand(options: FindOptions): Promise<number> {
  let running;
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
      process.exit(1);
    }
    log.info({ signal }, "signal received");
    void running.drain();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  await running.closed;
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  return 0;
}
