/**
 * maxConcurrent per route → 503 overloaded, at once, with no queue. Ours rather than opossum's
 * `capacity`, which counts a refusal as a breaker failure and would open the breaker under load.
 */
import { AttacheError } from "../errors.js";

export class Bulkhead {
  private inflight = 0;

  constructor(
    private readonly route: string,
    private readonly max: number | undefined,
  ) {}

  /** Take a slot or throw `overloaded`; the caller must call `release` exactly once. */
  acquire(): void {
    if (this.max !== undefined && this.inflight >= this.max) {
      throw new AttacheError("overloaded", `route ${this.route}: ${this.max} requests in flight (maxConcurrent)`, { route: this.route });
    }
    this.inflight++;
  }

  release(): void {
    this.inflight--;
  }

  get active(): number {
    return this.inflight;
  }
}
