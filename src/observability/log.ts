/** The process logger (pino, JSON to stdout). `configureLog` applies the root file's `log` block. */
import { pino, type Logger } from "pino";

export let log: Logger = pino({ level: process.env.ATTACHE_LOG_LEVEL ?? "info", base: { name: "attache" } });

export function configureLog(options: { level: string; format: "json" | "pretty" }): void {
  log = pino(
    {
      level: process.env.ATTACHE_LOG_LEVEL ?? options.level,
      base: { name: "attache" },
      // "pretty" only changes the time format: pino-pretty is a dev tool, not a sidecar dependency.
      ...(options.format === "pretty" ? { timestamp: pino.stdTimeFunctions.isoTime } : {}),
    },
    // Asynchronous writes: a synchronous write(2) per access-log line cost ~7% of throughput in the
    // bench (issue 10). Lines written while one write is in flight go out together; pino flushes
    // what is left when the process exits.
    pino.destination({ dest: 1, sync: false }),
  );
}
