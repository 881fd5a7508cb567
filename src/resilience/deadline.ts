/**
 * The route `timeout` for one request: one timer, an abort signal, and how much time is left.
 *
 * The signal is the deadline itself, with the part of AbortSignal that attempts use (aborted, reason,
 * add/removeEventListener). A real AbortController per request cost a few percent of the proxy's CPU
 * in the bench profile (test/bench/README.md), and nothing here needs the rest of EventTarget.
 */

export class DeadlineExceeded extends Error {
  readonly code = "EDEADLINE";
  constructor(ms: number) {
    super(`timed out after ${ms}ms`);
    this.name = "DeadlineExceeded";
  }
}

/** What an attempt may watch: the subset of AbortSignal it uses. */
export interface DeadlineSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

export class Deadline implements DeadlineSignal {
  aborted = false;
  reason: unknown;
  readonly expiresAt: number;
  private timer: NodeJS.Timeout | undefined;
  private listeners: Array<() => void> | undefined;
  private readonly onParentAbort: (() => void) | undefined;

  /** With a `parent`, this deadline also ends when the parent's does (a per-try share of the route's). */
  constructor(
    readonly ms: number,
    private readonly parent?: Deadline,
  ) {
    this.expiresAt = Date.now() + ms;
    this.timer = setTimeout(() => this.abort(new DeadlineExceeded(ms)), ms);
    if (parent) {
      this.onParentAbort = () => this.abort(parent.reason);
      if (parent.aborted) this.onParentAbort();
      else parent.addEventListener("abort", this.onParentAbort);
    }
  }

  get signal(): DeadlineSignal {
    return this;
  }

  get expired(): boolean {
    return this.aborted;
  }

  remaining(): number {
    return Math.max(0, this.expiresAt - Date.now());
  }

  /** As AbortSignal: a listener added after the abort is never called. Listeners run once. */
  addEventListener(_type: "abort", listener: () => void): void {
    if (this.aborted) return;
    this.listeners ??= [];
    this.listeners.push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1;
    if (i !== -1) this.listeners!.splice(i, 1);
  }

  /** Stop the clock: the exchange ended, or (streaming) the headers arrived. */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.onParentAbort) this.parent!.removeEventListener("abort", this.onParentAbort);
  }

  private abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.clear();
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const listener of listeners) listener();
  }
}

/** `promise`, or the deadline's reason if the deadline passes first. */
export function abortable<T>(promise: Promise<T>, signal?: DeadlineSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort);
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
