/**
 * Commands a RESP client sent back to back that go to Redis exactly as sent (NameInfo.asSent), taken
 * straight from the chunk being parsed: a contiguous range of it, and the places of the keys to put
 * the keyPrefix in front of (see KeyNamespace.prefixKeys).
 */
import type { NameInfo } from "../commands/command-names.js";
import { lastKeyIndex, type KeyNamespace } from "../commands/key-namespace.js";

export class AsSentRun {
  /** The run is buffer[start, end). */
  private buffer: Buffer | undefined;
  private start = 0;
  private end = 0;
  private names: NameInfo[] = [];
  /** Keys in the run to put the keyPrefix in front of: header start, key start, key end. */
  private keys: number[] = [];

  /** Add the command b[start, end) whose argument i is b[offsets[2i], offsets[2i + 1]). */
  add(info: NameInfo, b: Buffer, start: number, end: number, argc: number, offsets: readonly number[]): void {
    // Commands are taken in order and any other command sends the run first: the run is contiguous.
    if (this.names.length === 0) {
      this.buffer = b;
      this.start = start;
    }
    this.end = end;
    this.names.push(info);
    const keys = info.keys;
    if (keys) {
      // Argument j's bulk header starts 2 bytes (CRLF) after argument j - 1 ends.
      for (let j = keys.first, last = lastKeyIndex(keys, argc); j <= last; j += keys.step)
        this.keys.push(offsets[2 * j - 1]! + 2, offsets[2 * j]!, offsets[2 * j + 1]!);
    }
  }

  /**
   * The run's bytes as Redis is to receive them (the namespace's keyPrefix in front of its keys)
   * and its commands' names; the run is empty after. Undefined when it was empty.
   */
  take(namespace: KeyNamespace): { wire: Buffer; names: NameInfo[] } | undefined {
    const names = this.names;
    if (names.length === 0) return undefined;
    const b = this.buffer!;
    const wire = this.keys.length > 0 ? namespace.prefixKeys(b, this.start, this.end, this.keys) : b.subarray(this.start, this.end);
    this.names = [];
    this.keys = [];
    this.buffer = undefined;
    return { wire, names };
  }
}
