/** The process logger (pino, JSON to stdout). `configureLog` applies the root file's `log` block. */
import { pino, type Logger } from "pino";

export let log: Logger = pino({ level: process.env.ATTACHE_LOG_LEVEL ?? "info", base: { name: "attache" } });

export function configureLog(options: { level: string; format: "json" | "pretty" }): void {
  // "pretty" only changes the time format: pino-pretty is a dev tool, not a sidecar dependency.
  log = pino({
    level: process.env.ATTACHE_LOG_LEVEL ?? options.level,
    base: { name: "attache" },
    ...(options.format === "pretty" ? { timestamp: pino.stdTimeFunctions.isoTime } : {}),
  });
}
