/**
 * maxConcurrent per route → 503 overloaded, at once, with no queue. Ours rather than opossum's
 * `capacity`, which counts a refusal as a breaker failure and would open the breaker under load.
 */
import { AttacheError } from "../errors.js";
import { InflightCounter, type Release } from "./inflight.js";

export class Bulkhead {
  /** Exchanges under way; the drain waits for every route's to be idle (lifecycle/drain.ts). */
  private readonly exchanges = new InflightCounter();

  constructor(
    private readonly route: string,
    private readonly max: number | undefined,
  ) {}

  /** Take a slot or throw `overloaded`; the returned release gives it back (once, however often called). */
  acquire(): Release {
    if (this.max !== undefined && this.exchanges.active >= this.max) {
      throw new AttacheError("overloaded", `route ${this.route}: ${this.max} requests in flight (maxConcurrent)`, { route: this.route });
    }
    return this.exchanges.acquire();
  }

  /** Milliseconds without an exchange in flight (0 while one is). */
  idleFor(now = Date.now()): number {
    return this.exchanges.idleFor(now);
  }

  get active(): number {
    return this.exchanges.active;
  }
}
