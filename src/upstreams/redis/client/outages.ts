/** The shared connection's outages: one warning when one starts, one line when it ends, and the cause kept for the errors clients get. */
import type { Cluster, Redis } from "ioredis";
import { AttacheError } from "../../../errors.js";
import { log } from "../../../observability/log.js";
import { notCounted } from "../../../resilience/breaker.js";

export class Outages {
  everReady = false;
  lastError: Error | undefined;
  /** Since when the connection is away, and why, until it is ready again. */
  current: { since: Date; cause: string } | undefined;
  /** When the connection was last ready (ms): the route's breaker closes if it opened before (breaker.ts). */
  readyAt = 0;

  constructor(
    private readonly route: string,
    private readonly closed: () => boolean,
  ) {}

  watch(redis: Redis | Cluster, onReady: () => void): void {
    redis.on("ready", () => {
      if (this.current) log.info({ route: this.route, downSince: this.current.since.toISOString() }, "redis connection restored");
      this.everReady = true;
      this.lastError = undefined;
      this.current = undefined;
      this.readyAt = Date.now();
      onReady();
    });
    redis.on("error", (err: Error) => {
      this.lastError = err;
      this.wentDown(err.message);
    });
    redis.on("close", () => this.wentDown(this.lastError?.message ?? "the connection closed"));
    redis.on("end", () => {
      if (!this.closed()) this.wentDown(this.lastError?.message ?? "the client ended");
    });
  }

  wentDown(cause: string): void {
    if (this.closed()) return;
    if (this.current) {
      // The first cause is kept unless a later error says more (a refused reconnect after a reset).
      if (this.current.cause.startsWith("the connection closed")) this.current.cause = cause;
      return;
    }
    this.current = { since: new Date(), cause };
    log.warn({ route: this.route, err: cause }, "redis connection lost; reconnecting");
  }

  /** attache reset the connection: `cause` is the outage's cause, whatever came before. */
  resetBy(cause: string): void {
    this.wentDown(cause);
    if (this.current) this.current.cause = cause;
  }

  unreachable(err: unknown): AttacheError {
    if (err instanceof AttacheError) return err;
    const detail = this.lastError?.message ?? (err as Error)?.message ?? String(err);
    return new AttacheError("upstream_unreachable", `route ${this.route}: redis unreachable (${detail})`, {
      route: this.route,
      cause: err,
    });
  }

  /**
   * A command refused without going to Redis: the connection is down and being re-established. The
   * message says since when and why; the breaker does not count it (breaker.ts, notCounted).
   */
  down(status: string): AttacheError {
    const outage = this.current;
    const why = outage ? `connection down since ${outage.since.toISOString()}: ${outage.cause}` : `connection ${status}`;
    return notCounted(
      new AttacheError("upstream_unreachable", `route ${this.route}: redis unreachable (${why})`, {
        route: this.route,
        cause: this.lastError,
      }),
    );
  }

  describe(): Record<string, unknown> {
    return {
      ...(this.lastError ? { lastError: this.lastError.message } : {}),
      ...(this.current ? { downSince: this.current.since.toISOString(), downCause: this.current.cause } : {}),
    };
  }
}
