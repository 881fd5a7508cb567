/** The one in-flight accounting: a counter, and the request lease that counts one request in several of them. */

/** Gives back what an acquire took; calls after the first do nothing. */
export type Release = () => void;

/** Anything a lease can count a request in. */
export interface Counts {
  acquire(): Release;
}

/** What is under way: drain, retirement, the bulkhead and the kubernetes upstream's connections count with it. */
export class InflightCounter implements Counts {
  private count = 0;
  private lastChange = Date.now();
  private readonly idleWaiters = new Set<() => void>();

  /** Count one more until the returned release is called (once; later calls do nothing). */
  acquire(): Release {
    this.count++;
    this.lastChange = Date.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.count--;
      this.lastChange = Date.now();
      if (this.count === 0 && this.idleWaiters.size > 0) for (const wake of [...this.idleWaiters]) wake();
    };
  }

  /** Under way now. */
  get active(): number {
    return this.count;
  }

  /** Milliseconds with nothing under way (0 while something is): since the last acquire or release. */
  idleFor(now = Date.now()): number {
    return this.count > 0 ? 0 : now - this.lastChange;
  }

  /** Resolves the next time nothing is under way (at once if nothing is). */
  whenIdle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.idleWaiters.delete(wake);
        resolve();
      };
      this.idleWaiters.add(wake);
    });
  }
}

/** Something that ends with a 'close' event: a ServerResponse, a socket. */
interface Closable {
  readonly closed?: boolean;
  readonly destroyed?: boolean;
  once(event: "close", listener: () => void): unknown;
}

/**
 * One request's places in the counters it is counted in (drain, attache_inflight_requests, retirement):
 * `release` gives them all back exactly once, whichever of finish, close or error comes first.
 */
export class RequestLease {
  private readonly releases: Release[] = [];
  private released = false;

  constructor(...counters: Counts[]) {
    for (const counter of counters) this.add(counter);
  }

  /** Count the request in `counter` too from now on (nothing once released: a late step never leaks a place). */
  add(counter: Counts): void {
    if (!this.released) this.releases.push(counter.acquire());
  }

  /** Give every place back; later calls do nothing. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const release of this.releases.splice(0)) release();
  }

  /** Release when `target` closes (a response finished or cut, a socket gone), or now if it already has. */
  releaseOnClose(target: Closable): this {
    if (target.closed || target.destroyed) this.release();
    else target.once("close", () => this.release());
    return this;
  }
}
