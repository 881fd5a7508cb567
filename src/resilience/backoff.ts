import type { DeadlineSignal } from "./deadline.js";

/**
 * The one back-off of attache: exponential with full jitter (AWS architecture blog), capped. Jitter
 * spreads the retries of many sidecars restarted together; retries of a request and reconnect loops
 * (discovery watches, Redis connections) all take their delays from here.
 */

/** Delay before retry `attempt` (1-based): uniform in [0, min(cap, base × 2^(attempt−1))). */
export function backoffDelay(attempt: number, base: number, cap: number, random: () => number = Math.random): number {
  const ceiling = Math.min(cap, base * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/** backoffDelay, never below `base`: a reconnect loop must not spin, and its first retry comes after exactly `base`. */
export function reconnectDelay(attempt: number, base: number, cap: number, random: () => number = Math.random): number {
  return Math.max(base, backoffDelay(attempt, base, cap, random));
}

/** Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3) → ms; undefined when absent or bad. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function sleep(ms: number, signal?: DeadlineSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
