/**
 * One client's order on a Redis Cluster route while slots move. Commands to one slot are pipelined
 * to the node that holds it; when the slot map changes under them (a reshard, a failover), a new
 * command would go straight to the new node while earlier ones are still in flight to the old
 * node, to be redirected there after it: a client's writes to one key would land out of order.
 * A command redirected twice (a node that has not yet heard it owns the slot sends it back) can be
 * overtaken even by later commands to the same node. So while slots are moving (`moving()`: a slot
 * changed hands in the last few seconds) a client's commands for one slot go one at a time, each
 * once the one before is answered; otherwise a command waits only while earlier ones for its slot
 * are in flight to another node. In steady state nothing waits. Waits are bounded by the deadline.
 * In failover/: it exists for slots changing hands; commands/ calls it only on Cluster routes.
 */
import { getKeyIndexes } from "@ioredis/commands";
import { keySlot } from "../commands/cluster-split.js";
import type { DeadlineSignal } from "../../../resilience/deadline.js";

interface SlotState {
  /** The node the in-flight commands went to. */
  node: string | undefined;
  inflight: number;
  /** In order; each starts itself when called. */
  waiting: Array<{ start(): void; node(): string | undefined }>;
}

export class ClientSlotOrder {
  private readonly slots = new Map<number, SlotState>();

  /** `moving`: whether slots are changing hands now (RedisClient.slotsMoving). */
  constructor(private readonly moving: () => boolean) {}

  /**
   * Send `args` (args[0] the name) with `send` once the client's earlier commands for its slot are
   * not in flight to another node than `nodeFor(slot)`. Commands without keys go at once.
   */
  run<T>(
    args: readonly Buffer[],
    nodeFor: (slot: number) => string | undefined,
    send: () => Promise<T>,
    signal?: DeadlineSignal,
  ): Promise<T> {
    const slot = slotOf(args);
    if (slot === undefined) return send();
    let state = this.slots.get(slot);
    if (!state) {
      state = { node: undefined, inflight: 0, waiting: [] };
      this.slots.set(slot, state);
    }
    const s = state;
    const go = (node: string | undefined): Promise<T> => {
      s.node = node;
      s.inflight++;
      let result: Promise<T>;
      try {
        result = send();
      } catch (err) {
        result = Promise.reject(err);
      }
      const done = () => this.done(slot, s);
      result.then(done, done);
      return result;
    };
    const node = nodeFor(slot);
    if (s.waiting.length === 0 && (s.inflight === 0 || (s.node === node && !this.moving()))) return go(node);
    return new Promise<T>((resolve, reject) => {
      const entry = {
        node: () => nodeFor(slot),
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          go(entry.node()).then(resolve, reject);
        },
      };
      const onAbort = () => {
        const at = s.waiting.indexOf(entry);
        if (at !== -1) s.waiting.splice(at, 1);
        this.forget(slot, s);
        reject(signal!.reason);
      };
      s.waiting.push(entry);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private done(slot: number, s: SlotState): void {
    if (--s.inflight > 0) return;
    // Start the waiting commands, in order, as long as they go to one node.
    let node: string | undefined;
    while (s.waiting.length > 0) {
      const next = s.waiting[0]!;
      const target = next.node();
      if (s.inflight > 0 && (target !== node || this.moving())) break;
      node = target;
      s.waiting.shift();
      next.start();
    }
    this.forget(slot, s);
  }

  private forget(slot: number, s: SlotState): void {
    if (s.inflight === 0 && s.waiting.length === 0) this.slots.delete(slot);
  }
}

/** The hash slot of a command's first key, as ioredis routes it; undefined without keys. */
function slotOf(args: readonly Buffer[]): number | undefined {
  let indexes: number[];
  try {
    indexes = getKeyIndexes(args[0]!.toString("latin1").toLowerCase(), args.slice(1) as Buffer[]);
  } catch {
    return undefined;
  }
  const key = indexes.length > 0 ? args[indexes[0]! + 1] : undefined;
  return key ? keySlot(key) : undefined;
}
