/**
 * The resilience order for every route and every upstream kind, written once, outermost first:
 *
 *   bulkhead → deadline → breaker → retry → attempt
 *
 * - bulkhead first: a refused request costs nothing and never touches the breaker's statistics.
 * - deadline outside everything else: the route's `timeout` bounds the whole exchange, retries included.
 * - breaker outside retry: it counts a request once, with its final outcome, and an open
 *   breaker refuses before any attempt is made.
 * - retry innermost: attempts and back-off, never past the deadline.
 */
import type { ResolvedRoute } from "../config/validate.js";
import { metrics } from "../observability/metrics.js";
import { backoffDelay, sleep } from "./backoff.js";
import { Breaker } from "./breaker.js";
import { Bulkhead } from "./bulkhead.js";
import { classifyError, isFailure, retryCovers, type Outcome } from "./classify.js";
import { Deadline, type DeadlineSignal } from "./deadline.js";

export interface ExchangeOptions<T> {
  /** Idempotent method and a body that can be sent again: only then may `retry` try again. */
  retryable: boolean;
  /** The deadline stops once a result is in (streaming responses: watch, SSE, logs). */
  streaming: boolean;
  /** What a result came to (HTTP: its status). */
  outcome(result: T): Outcome;
  /** Let go of a result that is about to be retried (drain its body). */
  discard(result: T): void;
  /** The upstream's Retry-After, in ms, if the result carries one. */
  retryAfter?(result: T): number | undefined;
}

export interface Admitted<T> {
  result: T;
  /** Still running for non-streaming exchanges: it covers the response body too. */
  deadline: Deadline;
  /** Give back the bulkhead slot and stop the deadline; call once the response is over. */
  release(): void;
}

export type Attempt<T> = (signal: DeadlineSignal, attempt: number) => Promise<T>;

export class Resilience {
  readonly bulkhead: Bulkhead;
  readonly breaker: Breaker;

  constructor(private readonly route: ResolvedRoute) {
    this.bulkhead = new Bulkhead(route.name, route.circuitBreaker.maxConcurrent);
    this.breaker = new Breaker(route.name, route.circuitBreaker);
  }

  /** Admit one exchange through the whole stack. The caller must `release()` when the response ends. */
  async exchange<T>(attempt: Attempt<T>, options: ExchangeOptions<T>, timeout = this.route.timeout): Promise<Admitted<T>> {
    const releaseSlot = this.bulkhead.acquire();
    const deadline = new Deadline(timeout);
    const release = () => {
      deadline.clear();
      releaseSlot();
    };
    try {
      const policy = options.retryable ? this.route.retry : undefined;
      const result = await this.breaker.run(
        // One try (most requests): its result or error is the answer, with no retry loop around it.
        () => (policy && policy.attempts > 1 ? this.retry(attempt, options, deadline, policy) : attempt(deadline, 1)),
        (r) => isFailure(options.outcome(r)),
      );
      if (options.streaming) deadline.clear();
      return { result, deadline, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** One exchange whose result is the whole answer (a Redis command): admitted and released at once. */
  async run<T>(attempt: Attempt<T>, options: Omit<ExchangeOptions<T>, "streaming" | "discard"> & Partial<ExchangeOptions<T>>): Promise<T> {
    const admitted = await this.exchange(attempt, { streaming: false, discard: () => {}, ...options });
    admitted.release();
    return admitted.result;
  }

  describe(): Record<string, unknown> {
    return { inflight: this.bulkhead.active, breaker: this.breaker.describe() };
  }

  close(): void {
    this.breaker.close();
  }

  private async retry<T>(
    attempt: Attempt<T>,
    options: ExchangeOptions<T>,
    deadline: Deadline,
    policy: NonNullable<ResolvedRoute["retry"]>,
  ): Promise<T> {
    const tries = policy.attempts;
    // `on: [timeout]`: each try gets an equal share of the route timeout (until its response head),
    // and a try that runs out is retried. Without it a try may use all the time that is left.
    const perTry = policy.on.includes("timeout") ? Math.floor(deadline.ms / tries) : 0;
    for (let n = 1; ; n++) {
      let result: T | undefined;
      let error: unknown;
      let outcome: Outcome;
      const tryDeadline = perTry ? new Deadline(perTry, deadline) : undefined;
      try {
        result = await attempt(tryDeadline ?? deadline, n);
        outcome = options.outcome(result);
      } catch (err) {
        error = err;
        outcome = classifyError(err) ?? "success";
      } finally {
        tryDeadline?.clear();
      }
      const giveUp = () => {
        if (error !== undefined) throw error;
        return result as T;
      };
      if (n >= tries || deadline.expired || !retryCovers(policy.on, outcome)) return giveUp();
      let delay = backoffDelay(n, policy.backoff, policy.maxBackoff);
      const hinted = result !== undefined ? options.retryAfter?.(result) : undefined;
      if (hinted !== undefined) delay = Math.max(delay, hinted);
      // A retry never extends the deadline the app sees.
      if (delay >= deadline.remaining()) return giveUp();
      if (result !== undefined) options.discard(result);
      metrics.retries.inc({ route: this.route.name });
      await sleep(delay, deadline.signal);
      if (deadline.expired) throw deadline.signal.reason;
    }
  }
}
