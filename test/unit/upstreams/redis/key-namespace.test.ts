import { list } from "@ioredis/commands";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyNamespace, lastKeyIndex } from "../../../../src/upstreams/redis/commands/key-namespace.js";
import { CommandParser } from "../../../../src/upstreams/redis/resp/command-parser.js";
import { encodeCommand } from "../../../../src/upstreams/redis/resp/encoder.js";

const ns = new KeyNamespace("app:");

/** The RESP listener's way: the key edits of whole commands in one buffer, then one copy with the prefix in. */
function prefixedAsSent(wire: Buffer): Buffer | undefined {
  const edits: number[] = [];
  let taken = true;
  new CommandParser(
    () => (taken = false),
    (b, _start, _end, argc, offsets) => {
      const keys = ns.fixedKeys(b.toString("latin1", offsets[0], offsets[1]).toUpperCase());
      if (!keys) return false;
      for (let j = keys.first, last = lastKeyIndex(keys, argc); j <= last; j += keys.step)
        edits.push(offsets[2 * j - 1]! + 2, offsets[2 * j]!, offsets[2 * j + 1]!);
      return true;
    },
  ).feed(wire);
  return taken ? ns.prefixKeys(wire, 0, wire.length, edits) : undefined;
}

describe("KeyNamespace", () => {
  const fixed = list.map((n) => n.toUpperCase()).filter((n) => ns.fixedKeys(n) !== undefined);

  it("finds fixed key specs for the ordinary commands, and none where apply reads the arguments", () => {
    for (const name of ["GET", "SET", "MSET", "HSET", "DEL", "BITOP", "EXPIRE", "PING", "SPUBLISH"]) expect(fixed).toContain(name);
    for (const name of ["EVAL", "XREAD", "SORT", "ZUNIONSTORE", "KEYS", "SCAN", "OBJECT", "XGROUP", "MIGRATE"])
      expect(fixed).not.toContain(name);
  });

  it("property: prefixing keys in the client's bytes gives exactly the bytes of apply + encodeCommand, any command, any arguments", () => {
    // Mostly short arguments, some longer than the pieces prefixKeys copies byte by byte.
    const arg = fc
      .oneof(
        { arbitrary: fc.uint8Array({ maxLength: 12 }), weight: 4 },
        { arbitrary: fc.uint8Array({ minLength: 60, maxLength: 200 }), weight: 1 },
      )
      .map((a) => Buffer.from(a));
    fc.assert(
      fc.property(fc.constantFrom(...fixed), fc.array(arg, { maxLength: 7 }), fc.boolean(), (name, rest, lower) => {
        const args = [Buffer.from(lower ? name.toLowerCase() : name), ...rest];
        const expected = encodeCommand(ns.apply([Buffer.from(name), ...rest]).map((a, i) => (i === 0 ? args[0]! : a)));
        expect(prefixedAsSent(encodeCommand(args))?.toString("latin1")).toBe(expected.toString("latin1"));
      }),
      { numRuns: 3000 },
    );
  });

  it("prefixes every key of back-to-back commands in one copy, lengths rewritten", () => {
    const wire = Buffer.concat([
      encodeCommand(["SET", "k", "v"]),
      encodeCommand(["MSET", "a", "1", "b".repeat(9), "2"]),
      encodeCommand(["PING"]),
    ]);
    expect(prefixedAsSent(wire)?.toString()).toBe(
      Buffer.concat([
        encodeCommand(["SET", "app:k", "v"]),
        encodeCommand(["MSET", "app:a", "1", `app:${"b".repeat(9)}`, "2"]),
        encodeCommand(["PING"]),
      ]).toString(),
    );
  });
});
