import { describe, expect, it } from "vitest";
import { keySlot, splitBySlot } from "../../../../src/upstreams/redis/commands/cluster-split.js";
import type { Prepared } from "../../../../src/upstreams/redis/commands/prepared.js";

const b = (s: string) => Buffer.from(s);
const command = (...args: string[]): Prepared => ({ name: args[0]!, args: args.map(b), rewrite: undefined, blocking: undefined });

describe("cluster slots", () => {
  it("computes Redis Cluster's hash slot (CRC16 XMODEM mod 16384, {hash tags})", () => {
    // Values from `redis-cli CLUSTER KEYSLOT`.
    expect(keySlot(b("foo"))).toBe(12182);
    expect(keySlot(b("bar"))).toBe(5061);
    expect(keySlot(b("123456789"))).toBe(12739);
    expect(keySlot(b("{user1000}.following"))).toBe(keySlot(b("{user1000}.followers")));
    // An empty first tag: the whole key is hashed (Redis cluster spec). cluster-key-slot 1.1.1 hashes "{bar" here (4015).
    expect(keySlot(b("foo{}{bar}"))).toBe(8363);
    expect(keySlot(b("{}foo"))).not.toBe(keySlot(b("foo")));
  });

  it("splits MGET per slot and puts the values back in the order asked", () => {
    const split = splitBySlot(command("MGET", "foo", "bar", "{foo}x"))!;
    expect(split.parts.map((p) => p.args.map(String))).toEqual([
      ["MGET", "foo", "{foo}x"],
      ["MGET", "bar"],
    ]);
    const bulk = (v: string | null) => ({ type: "bulk" as const, value: v === null ? null : b(v) });
    expect(
      split.merge([
        { type: "array", value: [bulk("1"), bulk(null)] },
        { type: "array", value: [bulk("2")] },
      ]),
    ).toEqual({ type: "array", value: [bulk("1"), bulk("2"), bulk(null)] });
  });

  it("adds up DEL counts, passes an error on, and leaves one-slot and unsplittable commands alone", () => {
    const split = splitBySlot(command("DEL", "foo", "bar"))!;
    expect(
      split.merge([
        { type: "integer", value: "1" },
        { type: "integer", value: "1" },
      ]),
    ).toEqual({ type: "integer", value: "2" });
    expect(
      split.merge([
        { type: "integer", value: "1" },
        { type: "error", value: "ERR x" },
      ]),
    ).toEqual({ type: "error", value: "ERR x" });
    expect(splitBySlot(command("MGET", "{a}1", "{a}2"))).toBeUndefined();
    expect(splitBySlot(command("MSET", "foo", "1", "bar", "2"))).toBeUndefined();
  });
});
