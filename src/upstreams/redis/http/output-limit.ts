/**
 * A client's output buffer limits, as Redis' client-output-buffer-limit: past `hard` unsent bytes the
 * client is cut at once; above `soft` for `softFor` it is cut too (0 turns a limit off, as in Redis).
 * The owner calls check() after each write and on "drain"; a timer looks again once softFor has passed,
 * so a client that stays over the soft limit is cut even when nothing more is written to it.
 */
export type OutputLimitReason = "output_hard_limit" | "output_soft_limit";

export interface OutputLimits {
  hard: number;
  soft: number;
  softFor: number;
}

export class OutputLimit {
  /** Since when (performance.now()) the unsent bytes are above `soft`. */
  private overSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private tripped = false;

  constructor(
    private readonly limits: OutputLimits,
    /** Bytes written and not yet sent. */
    private readonly unsent: () => number,
    /** Called once, when a limit is passed: the owner disconnects the client. */
    private readonly exceeded: (reason: OutputLimitReason, unsent: number) => void,
  ) {}

  check(): void {
    if (this.tripped) return;
    const { hard, soft, softFor } = this.limits;
    const unsent = this.unsent();
    if (hard > 0 && unsent > hard) {
      this.trip("output_hard_limit", unsent);
      return;
    }
    if (soft === 0 || unsent <= soft) {
      this.overSince = undefined;
      this.clearTimer();
      return;
    }
    const now = performance.now();
    if (this.overSince === undefined) {
      this.overSince = now;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.check();
      }, softFor + 1);
      this.timer.unref();
    }
    if (now - this.overSince >= softFor) this.trip("output_soft_limit", unsent);
  }

  /** The client is gone: no more looks. */
  stop(): void {
    this.tripped = true;
    this.clearTimer();
  }

  private trip(reason: OutputLimitReason, unsent: number): void {
    this.stop();
    this.exceeded(reason, unsent);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
