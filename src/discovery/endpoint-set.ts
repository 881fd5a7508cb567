/**
 * The current endpoint list of a discovery source, replaced as a whole and compared by id
 * (cf. ioredis' ConnectionPool.reset): a refresh that finds the same set is no change, and the
 * balancer keeps the health of kept endpoints because their ids are stable.
 */
import { formatHostPort } from "../net/address.js";
import { endpointFromUrl, type Endpoint } from "./endpoint-source.js";

export interface EndpointDiff {
  added: readonly Endpoint[];
  removed: readonly Endpoint[];
  kept: readonly Endpoint[];
}

export class EndpointSet {
  private list: readonly Endpoint[] = Object.freeze([]);
  /** When the set last changed (undefined: never set). */
  changedAt: Date | undefined;

  get current(): readonly Endpoint[] {
    return this.list;
  }

  /** Replace the set; the diff, or undefined when it is the same set (order aside). */
  replace(next: readonly Endpoint[]): EndpointDiff | undefined {
    const sorted = dedupe(next).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const diff = diffEndpoints(this.list, sorted);
    if (this.changedAt && diff.added.length === 0 && diff.removed.length === 0) return undefined;
    this.list = Object.freeze(sorted);
    this.changedAt = new Date();
    return diff;
  }
}

export function diffEndpoints(old: readonly Endpoint[], next: readonly Endpoint[]): EndpointDiff {
  const before = new Set(old.map((e) => e.id));
  const after = new Set(next.map((e) => e.id));
  return {
    added: next.filter((e) => !before.has(e.id)),
    removed: old.filter((e) => !after.has(e.id)),
    kept: next.filter((e) => before.has(e.id)),
  };
}

/** An endpoint for a discovered address: IPv6 literals are bracketed in the id, as in a URL. */
export function endpointForAddress(protocol: Endpoint["protocol"], host: string, port: number): Endpoint {
  return endpointFromUrl(`${protocol}//${formatHostPort(host, port)}`);
}

function dedupe(list: readonly Endpoint[]): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  for (const e of list) if (!seen.has(e.id)) seen.set(e.id, e);
  return [...seen.values()];
}
