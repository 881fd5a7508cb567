/**
 * Passive health per endpoint (Envoy's outlier detection, twemproxy's auto-eject): N failures in a row
 * eject an endpoint for ejectionTime × (times ejected); success resets the count. The balancer never
 * lets ejections exceed maxEjectionPercent of the endpoints, and always keeps one.
 */
import { isFailure, type Outcome } from "../../resilience/classify.js";

export interface OutlierConfig {
  consecutiveFailures: number;
  ejectionTime: number;
  maxEjectionPercent: number;
}

export class EndpointHealth {
  consecutiveFailures = 0;
  ejections = 0;
  ejectedUntil = 0;

  isEjected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  /** Returns true when this outcome ejects the endpoint. `mayEject` is the balancer's floor check. */
  report(outcome: Outcome, config: OutlierConfig | undefined, mayEject: () => boolean, now = Date.now()): boolean {
    if (!isFailure(outcome)) {
      this.consecutiveFailures = 0;
      return false;
    }
    this.consecutiveFailures++;
    if (!config || this.consecutiveFailures < config.consecutiveFailures || this.isEjected(now) || !mayEject()) return false;
    this.ejections++;
    this.ejectedUntil = now + config.ejectionTime * this.ejections;
    this.consecutiveFailures = 0;
    return true;
  }

  describe(now = Date.now()): Record<string, unknown> {
    return {
      healthy: !this.isEjected(now),
      consecutiveFailures: this.consecutiveFailures,
      ejections: this.ejections,
      ...(this.isEjected(now) ? { ejectedForMs: this.ejectedUntil - now } : {}),
    };
  }
}
