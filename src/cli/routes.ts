/** attache routes: the merged route table, one row per route, from the config alone (nothing is connected). */
import { relative } from "node:path";
import { formatDuration } from "../config/units.js";
import { ConfigError, formatProblem } from "../config/problems.js";
import { type LoadResult, loadConfig, type ResolvedRoute } from "../config/validate.js";
import type { FindOptions } from "../config/load.js";
import { kindOf } from "../upstreams/registry.js";

export async function routesCommand(options: FindOptions): Promise<number> {
  let loaded: Pick<LoadResult, "config" | "problems">;
  try {
    loaded = await loadConfig(options);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    loaded = { config: undefined, problems: err.problems };
  }
  if (!loaded.config) {
    for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const rows = [["PREFIX", "OWNER", "SOURCE", "UPSTREAM", "TIMEOUT", "RETRY", "BREAKER", "ADMITTED BY"]];
  for (const route of loaded.config.routes) rows.push(routeRow(route));
  process.stdout.write(formatTable(rows));
  return 0;
}

export function routeRow(route: ResolvedRoute): string[] {
  const cb = route.circuitBreaker;
  return [
    route.prefix,
    route.source.owner ?? "-",
    `${relative(process.cwd(), route.source.file) || route.source.file}:${route.source.line}`,
    kindOf(route).summary(route),
    formatDuration(route.timeout) + (route.streaming ? " (streaming)" : ""),
    route.retry ? `${route.retry.attempts}x on ${route.retry.on.join(",")}` : "off",
    cb.enabled
      ? `${cb.errorThresholdPercentage}%/${cb.volumeThreshold} reset ${formatDuration(cb.resetTimeout)}${cb.maxConcurrent ? ` max ${cb.maxConcurrent}` : ""}`
      : "off",
    describeAdmission(route),
  ];
}

/** `owners.pay (prefix /pay, upstream redis, secretDir /var/run/secrets/pay)`, `root file`, or `no owners`. */
function describeAdmission(route: ResolvedRoute): string {
  const { by, matched } = route.source.admittedBy;
  return matched.length ? `${by} (${matched.join(", ")})` : by;
}

function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n")}\n`;
}
