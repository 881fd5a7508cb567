import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sseEvent, toJson } from "../../../../src/upstreams/redis/http/json-reply.js";
import type { RespValue } from "../../../../src/upstreams/redis/resp/value.js";

const bulk = (b: Uint8Array | string): RespValue => ({ type: "bulk", value: Buffer.from(b as Uint8Array) });

describe("sseEvent", () => {
  it("property: the bytes are those of JSON.stringify over toJson, whatever the channel and message bytes", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.string({ unit: "grapheme", maxLength: 20 }).map((s) => Buffer.from(s)),
      fc.constantFrom(Buffer.from('a"b\\c\n'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from("\u2028")),
    );
    fc.assert(
      fc.property(bytes, bytes, bytes, fc.boolean(), (a, b, c, pattern) => {
        const frame: RespValue = {
          type: "array",
          value: pattern ? [bulk("pmessage"), bulk(a), bulk(b), bulk(c)] : [bulk("message"), bulk(a), bulk(b)],
        };
        const fields = pattern
          ? { pattern: toJson(bulk(a)), channel: toJson(bulk(b)), message: toJson(bulk(c)) }
          : { channel: toJson(bulk(a)), message: toJson(bulk(b)) };
        expect(sseEvent(frame)!.toString("latin1")).toBe(
          Buffer.from(`event: message\ndata: ${JSON.stringify(fields)}\n\n`).toString("latin1"),
        );
      }),
      { numRuns: 500 },
    );
  });

  it("other pushes are no event", () => {
    expect(sseEvent({ type: "array", value: [bulk("subscribe"), bulk("c"), { type: "integer", value: "1" }] })).toBeUndefined();
    expect(sseEvent({ type: "bulk", value: null })).toBeUndefined();
  });
});
