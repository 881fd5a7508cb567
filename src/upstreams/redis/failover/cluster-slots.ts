/**
 * Cluster: whether slots are changing hands (a reshard or a failover under way), from ioredis' slot
 * map at each refresh and the redirects that change it between refreshes (failover/: what a moving
 * topology means for the order of a client's commands, see cluster-order.ts).
 */
import type { Cluster } from "ioredis";

/** How long after a slot changed hands clients' commands per slot go one at a time (cluster-order.ts). */
const SLOTS_SETTLE_MS = 2_000;

export class SlotWatch {
  /** Each slot's node at the last refresh, and when a slot was last seen changing hands. */
  private slotMap: Array<string | undefined> = [];
  private slotsMovedAt = 0;

  constructor(private readonly cluster: Cluster) {
    // After each slot map refresh, note whether any slot changed hands.
    cluster.on("refresh", () => {
      const now = cluster.slots.map((nodes) => nodes?.[0]);
      if (this.slotMap.length > 0 && now.some((node, slot) => node !== this.slotMap[slot])) this.slotsMovedAt = Date.now();
      this.slotMap = now;
    });
  }

  /** The node ("host:port") a command for `slot` goes to now, as ioredis' slot map says. */
  nodeFor(slot: number): string | undefined {
    const node = this.cluster.slots[slot]?.[0];
    // A redirect changed the map since the last refresh: slots are moving.
    if (node !== this.slotMap[slot]) this.slotsMovedAt = Date.now();
    return node;
  }

  /** A slot changed hands in the last SLOTS_SETTLE_MS. */
  moving(): boolean {
    return Date.now() - this.slotsMovedAt < SLOTS_SETTLE_MS;
  }
}
