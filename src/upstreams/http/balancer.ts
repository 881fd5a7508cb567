/**
 * Picks an endpoint for each attempt: round-robin | least-request | random over the endpoints not
 * ejected, preferring ones this request has not tried yet (a retry goes elsewhere when it can).
 * Endpoint changes from discovery are reconciled by id, so kept endpoints keep their health.
 */
import type { Endpoint, EndpointSource } from "../../discovery/endpoint-source.js";
import type { EndpointFigures } from "../../observability/endpoint-metrics.js";
import { metrics } from "../../observability/metrics.js";
import { isFailure, type Outcome } from "../../resilience/classify.js";
import { log } from "../../observability/log.js";
import { EndpointHealth, type OutlierConfig } from "./outlier-detector.js";

export interface Slot {
  readonly endpoint: Endpoint;
  readonly health: EndpointHealth;
  inflight: number;
  /** Tries reported, and the failed ones among them (attache_endpoint_*_total). */
  tries: number;
  failures: number;
}

export type BalanceMode = "round-robin" | "least-request" | "random";

export class Balancer {
  private slots: Slot[] = [];
  private next = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly onChange = (list: readonly Endpoint[]) => this.reconcile(list);

  constructor(
    private readonly route: string,
    private readonly source: EndpointSource,
    private readonly mode: BalanceMode,
    private readonly outlier: OutlierConfig | undefined,
  ) {
    this.reconcile(source.endpoints());
    source.on("change", this.onChange);
  }

  /** An endpoint for the next attempt, or undefined when there is none at all. */
  pick(tried?: ReadonlySet<Slot>): Slot | undefined {
    const slots = this.slots;
    if (slots.length <= 1) return slots[0];
    const now = Date.now();
    // Hot path: a first attempt with every endpoint in rotation picks without building a list.
    if ((!tried || tried.size === 0) && !slots.some((s) => s.health.isEjected(now))) return this.choose(slots);
    let candidates = slots.filter((s) => !s.health.isEjected(now));
    // All ejected: use them all rather than fail (Envoy's panic mode).
    if (candidates.length === 0) candidates = slots;
    if (tried && tried.size > 0) {
      const fresh = candidates.filter((s) => !tried.has(s));
      if (fresh.length > 0) candidates = fresh;
    }
    return this.choose(candidates);
  }

  private choose(candidates: readonly Slot[]): Slot | undefined {
    switch (this.mode) {
      case "random":
        return candidates[Math.floor(Math.random() * candidates.length)];
      case "least-request": {
        let best = candidates[this.next++ % candidates.length]!;
        for (const s of candidates) if (s.inflight < best.inflight) best = s;
        return best;
      }
      default:
        return candidates[this.next++ % candidates.length];
    }
  }

  /** Passive health: every attempt's outcome, per endpoint. */
  report(slot: Slot, outcome: Outcome): void {
    slot.tries++;
    if (isFailure(outcome)) slot.failures++;
    const ejected = slot.health.report(outcome, this.outlier, () => this.mayEject());
    if (!ejected) return;
    log.warn({ route: this.route, endpoint: slot.endpoint.id, forMs: slot.health.ejectedUntil - Date.now() }, "endpoint ejected");
    this.updateGauge();
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        this.updateGauge();
      },
      slot.health.ejectedUntil - Date.now() + 1,
    );
    timer.unref();
    this.timers.add(timer);
  }

  /** Per-endpoint figures for /metrics; `connections` counts open connections by origin. */
  figures(connections: ReadonlyMap<string, number>): EndpointFigures[] {
    return this.slots.map((s) => ({
      endpoint: s.endpoint.id,
      requests: s.tries,
      errors: s.failures,
      ejections: s.health.ejections,
      active: s.inflight,
      connections: connections.get(s.endpoint.origin) ?? 0,
    }));
  }

  describe(): Array<Record<string, unknown>> {
    const now = Date.now();
    return this.slots.map((s) => ({ endpoint: s.endpoint.id, inflight: s.inflight, ...s.health.describe(now) }));
  }

  close(): void {
    this.source.off("change", this.onChange);
    for (const t of this.timers) clearTimeout(t);
    metrics.endpointsHealthy.remove({ route: this.route });
  }

  private mayEject(): boolean {
    const now = Date.now();
    const ejected = this.slots.filter((s) => s.health.isEjected(now)).length + 1;
    const max = this.outlier?.maxEjectionPercent ?? 0;
    return ejected < this.slots.length && (ejected / this.slots.length) * 100 <= max;
  }

  private reconcile(list: readonly Endpoint[]): void {
    const old = new Map(this.slots.map((s) => [s.endpoint.id, s]));
    this.slots = list.map(
      (endpoint) => old.get(endpoint.id) ?? { endpoint, health: new EndpointHealth(), inflight: 0, tries: 0, failures: 0 },
    );
    this.updateGauge();
  }

  private updateGauge(): void {
    const now = Date.now();
    metrics.endpointsHealthy.set({ route: this.route }, this.slots.filter((s) => !s.health.isEjected(now)).length);
  }
}
