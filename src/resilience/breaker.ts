/**
 * The route's circuit breaker, on opossum. Deadlines are ours (timeout: false: opossum's default 10s
 * would cut streams), overload is ours (no `capacity`), and what counts as a failure is classify.ts's.
 */
import { EventEmitter } from "node:events";
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

/** Refusals made without asking the upstream (its connection is known to be down): not the upstream's answer. */
const NOT_COUNTED = new WeakSet<object>();

/**
 * Mark a refusal the breaker must not count: the upstream was not asked (its connection is down and
 * is being re-established). Counting it would open the breaker and keep it open after the connection
 * is back; the client still gets the refusal, as it is.
 */
export function notCounted<E extends object>(err: E): E {
  NOT_COUNTED.add(err);
  return err;
}

function countsAsFailure(err: unknown): boolean {
  if (err instanceof FailedResult) return true;
  if (typeof err === "object" && err !== null && NOT_COUNTED.has(err)) return false;
  if (err instanceof AttacheError) return err.status >= 500;
  return classifyError(err) !== undefined;
}

/**
 * One timer per bucket length rotates the windows of every breaker that uses it. opossum's own is two
 * intervals per breaker (rotation and a stats snapshot nobody reads here): with 1,000 routes, 2,000
 * callbacks a second, each snapshot sorting the window's latencies (seen in the bench profile).
 */
const rotations = new Map<number, { controller: EventEmitter; timer: NodeJS.Timeout; users: number }>();

function joinRotation(bucketMs: number): EventEmitter {
  let rotation = rotations.get(bucketMs);
  if (!rotation) {
    const controller = new EventEmitter().setMaxListeners(0);
    const timer = setInterval(() => controller.emit("rotate"), bucketMs).unref();
    rotation = { controller, timer, users: 0 };
    rotations.set(bucketMs, rotation);
  }
  rotation.users++;
  return rotation.controller;
}

function leaveRotation(bucketMs: number): void {
  const rotation = rotations.get(bucketMs);
  if (!rotation || --rotation.users > 0) return;
  clearInterval(rotation.timer);
  rotations.delete(bucketMs);
}

export class Breaker {
  /**
   * Made on the first request: a route that never gets traffic (most of a big table) costs no opossum
   * instance, no event emitters and no window. Until then the breaker is closed with an empty window.
   * Made with its route at start instead, 1,000 routes served spread took about 30 % more CPU per
   * request (test/bench/README.md, 1,000 routes).
   */
  private cb: CircuitBreaker<[Work], unknown> | undefined;
  private openedAt = 0;
  private closed = false;
  private readonly bucketMs: number;

  constructor(
    private readonly route: string,
    private readonly config: ResolvedCircuitBreaker,
  ) {
    this.bucketMs = Math.floor(config.rollingCountTimeout / config.rollingCountBuckets);
    metrics.circuitState.set({ route }, 0);
  }

  private get breaker(): CircuitBreaker<[Work], unknown> {
    this.cb ??= this.create();
    return this.cb;
  }

  private create(): CircuitBreaker<[Work], unknown> {
    const config = this.config;
    // A fresh options object: opossum keeps and mutates the one it is given.
    const cb: CircuitBreaker<[Work], unknown> = new CircuitBreaker((work: Work) => work(), {
      timeout: false,
      enabled: config.enabled,
      errorThresholdPercentage: config.errorThresholdPercentage,
      volumeThreshold: config.volumeThreshold,
      resetTimeout: config.resetTimeout,
      rollingCountTimeout: config.rollingCountTimeout,
      rollingCountBuckets: config.rollingCountBuckets,
      // Only the counts are read (describe, the open decision): no latency percentiles, no snapshots.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      // A breaker closed before its first use is made only to refuse (ESHUTDOWN): it must not hold a timer.
      ...(this.closed ? {} : { rotateBucketController: joinRotation(this.bucketMs) }),
      // errorFilter returns true for what must NOT count. Upstream faults count: a failed result (a 5xx,
      // carried as FailedResult), a network failure or a deadline (classify.ts), our own 5xx. A client that
      // went away or sent too large a body says nothing about the upstream. Except for the half-open
      // probe: opossum takes a filtered error as a success, and a probe that proved nothing must not
      // close the breaker, so it re-opens it for another resetTimeout.
      errorFilter: (err: unknown): boolean => !countsAsFailure(err) && !cb.halfOpen,
    });
    cb.on("open", () => {
      this.openedAt = Date.now();
      this.changed("open");
    });
    cb.on("halfOpen", () => this.changed("half-open"));
    cb.on("close", () => this.changed("closed"));
    if (this.closed) cb.shutdown();
    return cb;
  }

  /** Run `work` through the breaker; a result for which `failed` is true still comes back, counted as a failure. */
  async run<T>(work: () => Promise<T>, failed: (result: T) => boolean): Promise<T> {
    try {
      return (await this.breaker.fire(async () => {
        const result = await work();
        if (failed(result)) throw new FailedResult(result);
        return result;
      })) as T;
    } catch (err) {
      if (err instanceof FailedResult) return err.result as T;
      if (err instanceof Error && CircuitBreaker.isOurError(err) && (err as { code?: string }).code === "EOPENBREAKER") {
        metrics.circuitRejections.inc({ route: this.route });
        const retryAfter = this.retryAfterSeconds();
        throw new AttacheError("circuit_open", `route ${this.route}: circuit open, retry after ${retryAfter}s`, {
          route: this.route,
          retryAfter,
          cause: err,
        });
      }
      throw err;
    }
  }

  /**
   * The upstream proved healthy at `at` (ms since the epoch: a Redis connection ready again, which
   * is a successful probe). A breaker that opened before that closes now instead of waiting out
   * its resetTimeout for a half-open probe.
   */
  recovered(at: number): void {
    const cb = this.cb;
    if (!cb || this.closed || !(cb.opened || cb.halfOpen) || at <= this.openedAt) return;
    cb.close();
  }

  get state(): BreakerState {
    const cb = this.cb;
    return !cb ? "closed" : cb.opened ? "open" : cb.halfOpen ? "half-open" : "closed";
  }

  /** Seconds until the half-open probe; at least 1 while open. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.openedAt + this.config.resetTimeout - Date.now()) / 1000));
  }

  describe(): Record<string, unknown> {
    const s = this.cb?.stats ?? { fires: 0, successes: 0, failures: 0, rejects: 0 };
    return {
      state: this.state,
      enabled: this.config.enabled,
      window: { fires: s.fires, successes: s.successes, failures: s.failures, rejects: s.rejects },
      ...(this.state === "open" ? { retryAfterSeconds: this.retryAfterSeconds() } : {}),
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.cb) return;
    this.cb.shutdown();
    leaveRotation(this.bucketMs);
  }

  private changed(state: BreakerState): void {
    metrics.circuitState.set({ route: this.route }, STATE_VALUE[state]);
    log.warn({ route: this.route, state }, `circuit ${state}`);
  }
}
