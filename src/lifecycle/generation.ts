/** Generation and State: the config and route table serving now, and where the config stands. */
import type { Config } from "../config/validate.js";
import type { ConfigProblem } from "../config/problems.js";
import { metrics } from "../observability/metrics.js";
import { InflightCounter } from "../resilience/inflight.js";
import type { RouteTable } from "../routing/route-table.js";

/**
 * Generation: one loaded config and its route table. The pipeline reads `state.current` once per
 * request, so a reload is one reference swap and in-flight requests finish on the table they began with.
 */
export interface Generation {
  readonly id: number;
  readonly config: Config;
  readonly table: RouteTable;
  readonly loadedAt: Date;
  /** Lower-cased hosts from acceptHosts, port stripped: compiled once for the Host check. */
  readonly acceptHosts: ReadonlySet<string>;
}

/** Where the config stands, for alerts on a bad push: /readyz?verbose, /config and attache_config_*. */
export interface ConfigState {
  /** false while any file is rejected: what was pushed is not (all) what serves. */
  readonly lastReloadSuccessful: boolean;
  /** The last time everything on disk was serving: start, or a reload that left no file rejected. */
  readonly lastSuccessAt: Date;
  readonly rejectedFiles: readonly string[];
}

export class State {
  private generation!: Generation;
  /** Requests in flight across all generations (each holds a RequestLease on it); drain waits for zero. */
  readonly requests = new InflightCounter();
  ready = false;
  draining = false;
  lastError: { at: Date; problems: ConfigProblem[] } | undefined;
  private configState!: ConfigState;

  constructor(first: Generation) {
    this.current = first;
    this.configSettled([]);
  }

  get current(): Generation {
    return this.generation;
  }

  /** The atomic swap of a reload; in-flight requests keep the generation they started with. */
  set current(next: Generation) {
    this.generation = next;
    metrics.configGeneration.set(next.id);
  }

  get config(): ConfigState {
    return this.configState;
  }

  /** The outcome of a reload (or of start): which files are rejected now. */
  configSettled(rejectedFiles: readonly string[]): void {
    const ok = rejectedFiles.length === 0;
    this.configState = { lastReloadSuccessful: ok, lastSuccessAt: ok ? new Date() : this.configState.lastSuccessAt, rejectedFiles };
    metrics.configLastReloadSuccessful.set(ok ? 1 : 0);
    metrics.configLastSuccess.set(this.configState.lastSuccessAt.getTime() / 1000);
    metrics.configRejectedFiles.set(rejectedFiles.length);
  }

  /** Requests in flight now. */
  get inflight(): number {
    return this.requests.active;
  }

  /**
   * Milliseconds since the last request started or ended: HTTP requests, and every exchange of every
   * route's resilience stack, so RESP commands (which never pass the pipeline) keep the drain waiting too.
   */
  idleFor(): number {
    const now = Date.now();
    let idle = this.requests.idleFor(now);
    for (const route of this.current.table.routes) idle = Math.min(idle, route.resilience.bulkhead.idleFor(now));
    return idle;
  }

  /** Resolves the next time nothing is in flight (at once if nothing is). */
  whenIdle(): Promise<void> {
    return this.requests.whenIdle();
  }
}

export function makeGeneration(id: number, config: Config, table: RouteTable): Generation {
  const acceptHosts = new Set(config.acceptHosts.map((h) => h.toLowerCase()));
  return Object.freeze({ id, config, table, loadedAt: new Date(), acceptHosts });
}
