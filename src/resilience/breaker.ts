/**
 * The route's circuit breaker, on opossum. Deadlines are ours (timeout: false: opossum's default 10s
 * would cut streams), overload is ours (no `capacity`), and what counts as a failure is classify.ts's.
 */
import CircuitBreaker from "opossum";
import { AttacheError } from "../errors.js";
import type { ResolvedCircuitBreaker } from "../config/validate.js";
import { log } from "../observability/log.js";
import { metrics } from "../observability/metrics.js";
import { classifyError } from "./classify.js";

export type BreakerState = "closed" | "half-open" | "open";
const STATE_VALUE: Record<BreakerState, number> = { closed: 0, "half-open": 1, open: 2 };

/** Carries a result that resolved but counts as a failure (a 503), through opossum and back out. */
class FailedResult<T> extends Error {
  constructor(readonly result: T) {
    super("upstream answered with a failure");
  }
}

type Work = () => Promise<unknown>;

function countsAsFailure(err: unknown): boolean {
  if (err instanceof FailedResult) return true;
  if (err instanceof AttacheError) return err.status >= 500;
  return classifyError(err) !== undefined;
}

export class Breaker {
  private readonly cb: CircuitBreaker<[Work], unknown>;
  private openedAt = 0;

  constructor(
    private readonly route: string,
    private readonly config: ResolvedCircuitBreaker,
  ) {
    // A fresh options object: opossum keeps and mutates the one it is given.
    this.cb = new CircuitBreaker((work: Work) => work(), {
      timeout: false,
      enabled: config.enabled,
      errorThresholdPercentage: config.errorThresholdPercentage,
      volumeThreshold: config.volumeThreshold,
      resetTimeout: config.resetTimeout,
      rollingCountTimeout: config.rollingCountTimeout,
      rollingCountBuckets: config.rollingCountBuckets,
      // errorFilter returns true for what must NOT count. Upstream faults count: a failed result (a 5xx,
      // carried as FailedResult), a network failure or a deadline (classify.ts), our own 5xx. A client that
      // went away or sent too large a body says nothing about the upstream. Except for the half-open
      // probe: opossum takes a filtered error as a success, and a probe that proved nothing must not
      // close the breaker, so it re-opens it for another resetTimeout.
      errorFilter: (err: unknown) => !countsAsFailure(err) && !this.cb.halfOpen,
    });
    this.cb.on("open", () => {
      this.openedAt = Date.now();
      this.changed("open");
    });
    this.cb.on("halfOpen", () => this.changed("half-open"));
    this.cb.on("close", () => this.changed("closed"));
    metrics.circuitState.set({ route }, 0);
  }

  /** Run `work` through the breaker; a result for which `failed` is true still comes back, counted as a failure. */
  async run<T>(work: () => Promise<T>, failed: (result: T) => boolean): Promise<T> {
    try {
      return (await this.cb.fire(async () => {
        const result = await work();
        if (failed(result)) throw new FailedResult(result);
        return result;
      })) as T;
    } catch (err) {
      if (err instanceof FailedResult) return err.result as T;
      if (err instanceof Error && CircuitBreaker.isOurError(err) && (err as { code?: string }).code === "EOPENBREAKER") {
        metrics.circuitRejections.inc({ route: this.route });
        const retryAfter = this.retryAfterSeconds();
        throw new AttacheError("circuit_open", `route ${this.route}: circuit open, retry after ${retryAfter}s`, { route: this.route, retryAfter, cause: err });
      }
      throw err;
    }
  }

  get state(): BreakerState {
    return this.cb.opened ? "open" : this.cb.halfOpen ? "half-open" : "closed";
  }

  /** Seconds until the half-open probe; at least 1 while open. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.openedAt + this.config.resetTimeout - Date.now()) / 1000));
  }

  describe(): Record<string, unknown> {
    const s = this.cb.stats;
    return {
      state: this.state,
      enabled: this.config.enabled,
      window: { fires: s.fires, successes: s.successes, failures: s.failures, rejects: s.rejects },
      ...(this.state === "open" ? { retryAfterSeconds: this.retryAfterSeconds() } : {}),
    };
  }

  close(): void {
    this.cb.shutdown();
  }

  private changed(state: BreakerState): void {
    metrics.circuitState.set({ route: this.route }, STATE_VALUE[state]);
    log.warn({ route: this.route, state }, `circuit ${state}`);
  }
}
