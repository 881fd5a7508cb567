/**
 * Which failures of a Redis Cluster command are the cluster failing rather than an answer for the
 * app: ioredis follows MOVED and ASK and retries TRYAGAIN and CLUSTERDOWN, and what it finally gives
 * up on (redirects exhausted, MOVED to a node that is gone, a cluster still down) is an upstream
 * error (upstream_unreachable), not a reply to hand over as data.
 * In failover/: it tells a failing cluster from an answer; client/redis-client.ts asks it.
 */
import { AttacheError } from "../../../errors.js";
import { log } from "../../../observability/log.js";
import type { Frame } from "../resp/value.js";

/** A cluster failure (MOVED to a dead node, CLUSTERDOWN...) is logged at most this often per route. */
const CLUSTER_LOG_EVERY_MS = 5_000;

const CLUSTER_REPLIES = /^-(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;

/** The cause to report, or undefined when the failure is an ordinary reply (or not the cluster's). */
export function clusterFailure(err: unknown, frame: Frame | undefined): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith("Too many Cluster redirections"))
    return oneLine(message.replace(/^Too many Cluster redirections\. Last error: (\w*Error: )?/, "redirects exhausted, last: "));
  if (frame && frame.raw[0] === 45 && CLUSTER_REPLIES.test(frame.raw.toString("latin1", 0, 16)))
    return oneLine(frame.raw.toString("latin1", 1, Math.min(frame.raw.length, 200)));
  if (/^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /.test(message)) return oneLine(message);
  if (message.startsWith("Cluster isn't ready") || message === "Connection is closed.") return oneLine(message);
  return undefined;
}

/** A route's cluster failures as upstream errors, logged at most every few seconds. */
export class ClusterFailures {
  private loggedAt = 0;

  constructor(private readonly route: string) {}

  error(cause: string, err: unknown): AttacheError {
    const now = Date.now();
    if (now - this.loggedAt >= CLUSTER_LOG_EVERY_MS) {
      this.loggedAt = now;
      log.warn({ route: this.route, err: cause }, "redis cluster command failed");
    }
    return new AttacheError("upstream_unreachable", `route ${this.route}: redis cluster unavailable (${cause})`, {
      route: this.route,
      cause: err,
    });
  }
}

function oneLine(text: string): string {
  return text.replace(/\r?\n/g, " ").trim();
}
