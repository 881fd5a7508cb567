/** The process logger (pino, JSON to stdout). `configureLog` applies the root file's `log` block. */
import { pino, type Logger, type LoggerOptions } from "pino";
import { VERSION } from "../version.js";

/**
 * What operators' log pipelines expect of a sidecar (Envoy, Istio, Dapr): an ISO-8601 `time`, the level
 * as a word, and the version that wrote the line, so a fleet in mid-rollout can be told apart.
 */
const options = (level: string): LoggerOptions => ({
  level: process.env.ATTACHE_LOG_LEVEL ?? level,
  base: { name: "attache", version: VERSION },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
});

export let log: Logger = pino(options("info"));

/** `format: pretty` is accepted for compatibility and writes the same JSON: pino-pretty is a dev tool, not a sidecar dependency. */
export function configureLog(config: { level: string; format: "json" | "pretty" }): void {
  log = pino(
    options(config.level),
    // Asynchronous writes: a synchronous write(2) per access-log line cost ~7% of throughput in the
    // bench. Lines written while one write is in flight go out together; pino
    // flushes what is left when the process exits.
    pino.destination({ dest: 1, sync: false }),
  );
}
