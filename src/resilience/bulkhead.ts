/**
 * maxConcurrent per route → 503 overloaded, at once, with no queue. Ours rather than opossum's
 * `capacity`, which counts a refusal as a breaker failure and would open the breaker under load.
 */
import { AttacheError } from "../errors.js";

export class Bulkhead {
  private inflight = 0;
  /** When an exchange last started or ended: the drain waits for every route to be idle (DESIGN §5). */
  private lastChange = Date.now();

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
    this.lastChange = Date.now();
  }

  release(): void {
    this.inflight--;
    this.lastChange = Date.now();
  }

  /** Milliseconds without an exchange in flight (0 while one is). */
  idleFor(now = Date.now()): number {
    return this.inflight > 0 ? 0 : now - this.lastChange;
  }

  get active(): number {
    return this.inflight;
  }
}
