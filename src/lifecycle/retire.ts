/** Retirement: a replaced upstream finishes its requests in flight, then closes. */
import type { Duplex } from "node:stream";
import { log } from "../observability/log.js";
import { InflightCounter, RequestLease } from "../resilience/inflight.js";
import type { Resilience } from "../resilience/policy-stack.js";
import type { Route } from "../routing/route.js";
import type { RequestContext, Upstream } from "../upstreams/upstream.js";

/**
 * Upstreams that left the route table on a reload: a changed or removed
 * route's old upstream keeps serving the requests that started on it and is closed once none is left
 * (or, for streams that never end, once `shutdown.drainTimeout` has passed).
 *
 * In-flight requests are counted per upstream, not per generation: every upstream is created through
 * `trackInflight`, which counts a request from `handle()`/`upgrade()` until its response (or upgraded
 * socket) closes. The pipeline calls `handle()` synchronously in the same turn in which it reads
 * `state.current`, so no request can pick an upstream from the table and reach it after it retired.
 */
const counters = new WeakMap<Upstream, InflightCounter>();

/**
 * The same upstream, seen through a Proxy that counts requests in flight. A Proxy (not a wrapper
 * object) keeps every other property, `instanceof` and `this` of the upstream's own methods intact.
 */
export function trackInflight(upstream: Upstream): Upstream {
  const counter = new InflightCounter();
  const handle = (ctx: RequestContext) => {
    new RequestLease(counter).releaseOnClose(ctx.res);
    return upstream.handle(ctx);
  };
  const upgrade = (ctx: RequestContext, socket: Duplex, head: Buffer) => {
    new RequestLease(counter).releaseOnClose(socket);
    return upstream.upgrade!(ctx, socket, head);
  };
  const bound = new Map<PropertyKey, unknown>();
  const proxy = new Proxy(upstream, {
    get(target, prop) {
      if (prop === "handle") return handle;
      if (prop === "upgrade") return target.upgrade ? upgrade : undefined;
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      let fn = bound.get(prop);
      if (!fn) {
        fn = (value as (...args: unknown[]) => unknown).bind(target);
        bound.set(prop, fn);
      }
      return fn;
    },
  });
  counters.set(proxy, counter);
  return proxy;
}

/** Requests in flight on an upstream made by `trackInflight` (0 for any other). */
export function inflightOf(upstream: Upstream): number {
  return counters.get(upstream)?.active ?? 0;
}

function whenIdle(upstream: Upstream): Promise<void> {
  return counters.get(upstream)?.whenIdle() ?? Promise.resolve();
}

/** Closes upstreams once; keeps the ones still draining so that shutdown can close them at once. */
export class Retirement {
  private readonly closed = new WeakSet<Upstream>();
  private readonly draining = new Map<Upstream, { route: string; resilience: Resilience; timer: NodeJS.Timeout | undefined }>();

  /** Close now, whatever is in flight (shutdown; a RESP address that a new upstream must bind). */
  async closeNow(upstream: Upstream, resilience: Resilience, route: string): Promise<void> {
    const pending = this.draining.get(upstream);
    if (pending?.timer) clearTimeout(pending.timer);
    this.draining.delete(upstream);
    if (this.closed.has(upstream)) return;
    this.closed.add(upstream);
    resilience.close();
    try {
      await upstream.close();
    } catch (err) {
      log.warn({ route, err: (err as Error).message }, "closing a retired upstream failed");
    }
  }

  /** Close once idle, or after `maxWait` ms at the latest (streams that never end). */
  retire(route: Route, maxWait: number): void {
    const { upstream, resilience } = route;
    if (this.closed.has(upstream) || this.draining.has(upstream)) return;
    const entry = { route: route.name, resilience, timer: undefined as NodeJS.Timeout | undefined };
    this.draining.set(upstream, entry);
    const inflight = inflightOf(upstream);
    if (inflight > 0) log.info({ route: route.name, inflight }, "old upstream of a changed or removed route drains");
    entry.timer = setTimeout(() => {
      if (!this.draining.has(upstream)) return;
      log.warn({ route: route.name, inflight: inflightOf(upstream) }, "old upstream still busy after drainTimeout; closing it");
      void this.closeNow(upstream, resilience, route.name);
    }, maxWait);
    entry.timer.unref();
    void whenIdle(upstream).then(() => {
      if (this.draining.has(upstream)) return this.closeNow(upstream, resilience, route.name);
    });
  }

  isClosed(upstream: Upstream): boolean {
    return this.closed.has(upstream);
  }

  /** Shutdown: close everything still draining. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.draining].map(([upstream, e]) => this.closeNow(upstream, e.resilience, e.route)));
  }

  /** Upstreams still draining (for logs and tests). */
  get size(): number {
    return this.draining.size;
  }
}
