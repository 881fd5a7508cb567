/** The route `timeout` for one request: one timer, an AbortSignal, and how much time is left. */

export class DeadlineExceeded extends Error {
  readonly code = "EDEADLINE";
  constructor(ms: number) {
    super(`timed out after ${ms}ms`);
    this.name = "DeadlineExceeded";
  }
}

export class Deadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  readonly expiresAt: number;

  constructor(readonly ms: number) {
    this.expiresAt = Date.now() + ms;
    this.timer = setTimeout(() => this.controller.abort(new DeadlineExceeded(ms)), ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted;
  }

  remaining(): number {
    return Math.max(0, this.expiresAt - Date.now());
  }

  /** Stop the clock: the exchange ended, or (streaming) the headers arrived. */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
