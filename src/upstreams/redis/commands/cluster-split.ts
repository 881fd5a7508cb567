/**
 * Multi-key commands on a Redis Cluster route whose keys live in more than one hash slot.
 * Redis refuses those with CROSSSLOT. Where each key stands alone, attache splits the command per
 * slot and puts the replies back together, as Envoy's and twemproxy's Redis proxies do:
 *   MGET                          → one MGET per slot, values back in the order the keys were asked
 *   DEL, UNLINK, EXISTS, TOUCH    → one per slot, the counts added up
 * Anything else (MSET, SUNIONSTORE, RENAME, EVAL...) goes as it is and gets Redis' own CROSSSLOT
 * error: splitting it would lose its atomicity. A {hash tag} in the keys keeps them in one slot.
 */
import type { Prepared } from "./prepared.js";
import type { RespValue } from "../resp/value.js";

/** Commands whose arguments after the name are all keys, each one independent of the others. */
const SPLITTABLE: Record<string, "values" | "sum"> = { MGET: "values", DEL: "sum", UNLINK: "sum", EXISTS: "sum", TOUCH: "sum" };

export interface Split {
  /** One command per slot, keys in their original order within it. */
  parts: Prepared[];
  /** The replies of `parts` (same order) → the reply the app asked for. */
  merge(replies: RespValue[]): RespValue;
}

/** The split of a cross-slot command, or undefined when it goes as it is (one slot, or not splittable). */
export function splitBySlot(command: Prepared): Split | undefined {
  const how = SPLITTABLE[command.name];
  if (!how || command.args.length < 3) return undefined;
  const keys = command.args.slice(1);
  const groups = new Map<number, number[]>();
  keys.forEach((key, i) => {
    const slot = keySlot(key);
    const group = groups.get(slot);
    if (group) group.push(i);
    else groups.set(slot, [i]);
  });
  if (groups.size < 2) return undefined;
  const order = [...groups.values()];
  const parts: Prepared[] = order.map((indexes) => ({
    name: command.name,
    args: [command.args[0]!, ...indexes.map((i) => keys[i]!)],
    rewrite: undefined,
    blocking: undefined,
  }));
  return {
    parts,
    merge(replies) {
      const failed = replies.find((r) => r.type === "error");
      if (failed) return failed;
      if (how === "sum")
        return { type: "integer", value: String(replies.reduce((n, r) => n + (r.type === "integer" ? Number(r.value) : 0), 0)) };
      const values: RespValue[] = new Array(keys.length);
      order.forEach((indexes, g) => {
        const reply = replies[g]!;
        const items = reply.type === "array" && reply.value ? reply.value : [];
        for (const [j, keyIndex] of indexes.entries()) values[keyIndex] = items[j] ?? { type: "bulk", value: null };
      });
      return { type: "array", value: values };
    },
  };
}

/** The key's hash slot, as Redis Cluster computes it: CRC16 (XMODEM) of the key or its {hash tag}, mod 16384. */
export function keySlot(key: Buffer): number {
  let start = 0;
  let end = key.length;
  const open = key.indexOf(0x7b); // {
  if (open !== -1) {
    const close = key.indexOf(0x7d, open + 1); // }
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ key[i]!) & 0xff]!;
  return crc & 16383;
}

const CRC16 = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    table[i] = c;
  }
  return table;
})();
