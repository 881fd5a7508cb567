import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CommandParser } from "../../../../src/upstreams/redis/resp/command-parser.js";
import { decodeReply, RawFrame, ReplyParser } from "../../../../src/upstreams/redis/resp/reply-parser.js";
import { encodeCommand, encodeValue } from "../../../../src/upstreams/redis/resp/encoder.js";
import { ProtocolError } from "../../../../src/upstreams/redis/resp/wire.js";
import { ReplyScanner } from "../../../../src/upstreams/redis/resp/reply-scanner.js";
import { splitArgs } from "../../../../src/upstreams/redis/resp/inline-args.js";
import type { RespValue } from "../../../../src/upstreams/redis/resp/value.js";

/** Feed `data` cut at the given points; collect what comes out and the error, if any. */
function feedSplit<T>(
  make: (on: (v: T) => void) => { feed(b: Buffer): void },
  data: Buffer,
  cuts: number[],
): { out: T[]; error?: unknown } {
  const out: T[] = [];
  const parser = make((v) => out.push(v));
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  let last = 0;
  try {
    for (const p of [...points, data.length]) {
      if (p > last) parser.feed(data.subarray(last, p));
      last = Math.max(last, p);
    }
    return { out };
  } catch (error) {
    return { out, error };
  }
}

const replies = (on: (v: { value: RespValue; raw: Buffer }) => void) =>
  new ReplyParser((value, raw) => on({ value, raw: Buffer.from(raw) }));
const commands = (on: (v: Buffer[]) => void) => new CommandParser((args) => on(args.map((a) => Buffer.from(a))));

const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
const line = fc
  .string({ maxLength: 20 })
  .filter((s) => !/[\r\n]/.test(s))
  .map((s) => Buffer.from(s).toString("latin1"));
const respValue: fc.Arbitrary<RespValue> = fc.letrec<{ v: RespValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    line.map((value) => ({ type: "simple" as const, value })),
    line.map((value) => ({ type: "error" as const, value })),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => ({ type: "integer" as const, value: n.toString() })),
    fc.option(bytes, { nil: null }).map((value) => ({ type: "bulk" as const, value })),
    fc.option(fc.array(tie("v"), { maxLength: 5 }), { nil: null }).map((value) => ({ type: "array" as const, value })),
    // RESP3
    fc.constant({ type: "null" as const }),
    fc
      .oneof(fc.double({ noNaN: true }).map(String), fc.constantFrom("inf", "-inf", "nan"))
      .map((value) => ({ type: "double" as const, value })),
    fc.constantFrom("t", "f").map((value) => ({ type: "boolean" as const, value })),
    fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).map((n) => ({ type: "bignum" as const, value: n.toString() })),
    bytes.map((value) => ({ type: "blobError" as const, value })),
    bytes.map((value) => ({ type: "verbatim" as const, value: Buffer.concat([Buffer.from("txt:"), value]) })),
    fc.array(fc.tuple(tie("v"), tie("v")), { maxLength: 3 }).map((pairs) => ({ type: "map" as const, value: pairs.flat() })),
    fc.array(tie("v"), { maxLength: 4 }).map((value) => ({ type: "set" as const, value })),
    fc.array(tie("v"), { maxLength: 4 }).map((value) => ({ type: "push" as const, value })),
    fc
      .tuple(fc.array(fc.tuple(tie("v"), tie("v")), { maxLength: 2 }), tie("v"))
      .map(([pairs, annotated]) => ({ type: "attribute" as const, value: pairs.flat(), annotated })),
  ),
})).v;

describe("ReplyParser", () => {
  it("reads every RESP3 type as Redis' DEBUG PROTOCOL sends it", () => {
    const wire = Buffer.from(
      "%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n,2.5\r\n~2\r\n:1\r\n:2\r\n,inf\r\n(12345678901234567890\r\n_\r\n#t\r\n!9\r\nERR oops!\r\n=15\r\ntxt:Some string\r\n" +
        "|1\r\n+key-popularity\r\n*2\r\n$1\r\na\r\n,0.1923\r\n*2\r\n:2039123\r\n:9543892\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
    );
    const { out, error } = feedSplit(replies, wire, []);
    expect(error).toBeUndefined();
    expect(out.map((f) => f.value.type)).toEqual([
      "map",
      "set",
      "double",
      "bignum",
      "null",
      "boolean",
      "blobError",
      "verbatim",
      "attribute",
      "push",
    ]);
    expect(out[8]!.value).toMatchObject({ type: "attribute", annotated: { type: "array" } });
    expect(Buffer.concat(out.map((f) => f.raw)).equals(wire)).toBe(true);
    for (const cut of Array.from({ length: wire.length }, (_, i) => i)) {
      const split = feedSplit(replies, wire, [cut]);
      expect(Buffer.concat(split.out.map((f) => f.raw)).equals(wire)).toBe(true);
      const frames = feedSplit(scanned, wire, [cut]);
      expect(frames.out.map((f) => f.toString("latin1"))).toEqual(out.map((f) => f.raw.toString("latin1")));
    }
  });

  it("keeps every reply type apart: status vs bulk, null bulk vs null array, errors inside arrays", () => {
    const wire = Buffer.from("+OK\r\n$2\r\nOK\r\n$-1\r\n*-1\r\n*2\r\n-ERR x\r\n:5\r\n*0\r\n$0\r\n\r\n");
    const { out } = feedSplit(replies, wire, []);
    expect(out.map((f) => f.value)).toEqual([
      { type: "simple", value: "OK" },
      { type: "bulk", value: Buffer.from("OK") },
      { type: "bulk", value: null },
      { type: "array", value: null },
      {
        type: "array",
        value: [
          { type: "error", value: "ERR x" },
          { type: "integer", value: "5" },
        ],
      },
      { type: "array", value: [] },
      { type: "bulk", value: Buffer.alloc(0) },
    ]);
    expect(Buffer.concat(out.map((f) => f.raw)).equals(wire)).toBe(true);
  });

  it("property: any sequence of replies, split anywhere, parses to the same frames with byte-exact raw", () => {
    fc.assert(
      fc.property(fc.array(respValue, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (values, cuts) => {
        const wire = Buffer.concat(values.map(encodeValue));
        const { out, error } = feedSplit(replies, wire, cuts);
        expect(error).toBeUndefined();
        expect(out.map((f) => f.value)).toEqual(values);
        expect(Buffer.concat(out.map((f) => f.raw)).equals(wire)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("fuzz: random and truncated bytes never crash or hang; only ProtocolError is thrown", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 8 }), (data, cuts) => {
        const { error } = feedSplit(replies, Buffer.from(data), cuts);
        if (error !== undefined) expect(error).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.array(respValue, { minLength: 1, maxLength: 5 }), fc.nat(), (values, cut) => {
        const wire = Buffer.concat(values.map(encodeValue));
        const { out, error } = feedSplit(replies, wire.subarray(0, cut % wire.length), [cut >> 3]);
        expect(error).toBeUndefined();
        expect(out.map((f) => f.value)).toEqual(values.slice(0, out.length));
      }),
      { numRuns: 300 },
    );
  });

  it("a big bulk arriving in many small chunks is gathered once (linear, not quadratic)", () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 7);
    const wire = encodeValue({ type: "bulk", value: big });
    let got: RespValue | undefined;
    const parser = new ReplyParser((v) => (got = v));
    for (let i = 0; i < wire.length; i += 1024) parser.feed(wire.subarray(i, i + 1024));
    expect(got?.type).toBe("bulk");
    expect((got as { value: Buffer }).value.equals(big)).toBe(true);
  });

  it("a long array arriving in small chunks is not re-parsed from its start", () => {
    const items: RespValue[] = Array.from({ length: 200_000 }, (_, i) => ({ type: "integer", value: String(i) }));
    const wire = encodeValue({ type: "array", value: items });
    let got: RespValue | undefined;
    const parser = new ReplyParser((v) => (got = v));
    for (let i = 0; i < wire.length; i += 64) parser.feed(wire.subarray(i, i + 64));
    expect((got as { value: RespValue[] }).value).toHaveLength(200_000);
  });
});

const scanned = (on: (raw: Buffer) => void) => new ReplyScanner((b, start, end) => on(Buffer.from(b.subarray(start, end))));

describe("ReplyScanner", () => {
  it("property: any sequence of replies, split anywhere, comes out frame by frame with exact bytes", () => {
    fc.assert(
      fc.property(fc.array(respValue, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (values, cuts) => {
        const frames = values.map(encodeValue);
        const { out, error } = feedSplit(scanned, Buffer.concat(frames), cuts);
        expect(error).toBeUndefined();
        expect(out).toEqual(frames);
        expect(out.map((raw) => new RawFrame(raw).value)).toEqual(values);
      }),
      { numRuns: 300 },
    );
  });

  it("fuzz: random and truncated bytes never crash or hang, and fail where ReplyParser fails", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 8 }), (data, cuts) => {
        const wire = Buffer.from(data);
        const scan = feedSplit(scanned, wire, cuts);
        const parse = feedSplit(replies, wire, cuts);
        if (scan.error !== undefined) expect(scan.error).toBeInstanceOf(ProtocolError);
        expect(scan.error === undefined).toBe(parse.error === undefined);
        expect(scan.out).toEqual(parse.out.map((f) => f.raw));
      }),
      { numRuns: 500 },
    );
    // Valid replies with a few bytes changed: near-misses of what Redis sends.
    const marks = fc.constantFrom(...Buffer.from("0123456789*$-:+\r\n "));
    fc.assert(
      fc.property(
        fc.array(respValue, { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), marks), { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (values, flips, cuts) => {
          const wire = Buffer.concat(values.map(encodeValue));
          for (const [at, byte] of flips) wire[at % wire.length] = byte;
          const scan = feedSplit(scanned, wire, cuts);
          const parse = feedSplit(replies, wire, cuts);
          expect(scan.error === undefined).toBe(parse.error === undefined);
          // The same frames; the scanner keeps their exact bytes even where they are not canonical ("*-0").
          expect(scan.out.map(decodeReply)).toEqual(parse.out.map((f) => f.value));
          const seen = Buffer.concat(scan.out);
          expect(seen.equals(wire.subarray(0, seen.length))).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("a long array arriving in small chunks is scanned once (linear), and joined exactly", () => {
    const items: RespValue[] = Array.from({ length: 200_000 }, (_, i) => ({ type: "integer", value: String(i) }));
    const wire = encodeValue({ type: "array", value: items });
    const out: Buffer[] = [];
    const scanner = scanned((raw) => out.push(raw));
    for (let i = 0; i < wire.length; i += 64) scanner.feed(wire.subarray(i, i + 64));
    expect(out).toHaveLength(1);
    expect(out[0]!.equals(wire)).toBe(true);
  });

  it("decodeReply reads one complete frame", () => {
    expect(decodeReply(Buffer.from("*2\r\n$1\r\na\r\n*-1\r\n"))).toEqual({
      type: "array",
      value: [
        { type: "bulk", value: Buffer.from("a") },
        { type: "array", value: null },
      ],
    });
    expect(() => decodeReply(Buffer.from("*2\r\n$1\r\na\r\n"))).toThrow(ProtocolError);
  });
});

const arg = fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a));
const command = fc.array(arg, { minLength: 1, maxLength: 6 });

describe("CommandParser", () => {
  it("property: pipelined multibulk commands split at any byte boundary parse the same as whole", () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 15 }), (cmds, cuts) => {
        const wire = Buffer.concat(cmds.map(encodeCommand));
        const whole = feedSplit(commands, wire, []);
        const split = feedSplit(commands, wire, cuts);
        expect(whole.error).toBeUndefined();
        expect(split.error).toBeUndefined();
        expect(split.out).toEqual(cmds);
        expect(whole.out).toEqual(cmds);
      }),
      { numRuns: 300 },
    );
  });

  it("property: the raw bytes handed with a command are exactly that command's bytes, at every split offset", () => {
    // Regression: a first write ending at an argument boundary left a stale start offset, and the
    // next write's command was handed over as the bytes from that offset (a value's bytes as a command).
    const withRaw = (on: (v: { args: Buffer[]; raw: Buffer | undefined }) => void) =>
      new CommandParser((args, raw) => on({ args: args.map((a) => Buffer.from(a)), raw: raw && Buffer.from(raw) }));
    const check = (cmds: Buffer[][], wire: Buffer, cuts: number[]) => {
      const { out, error } = feedSplit(withRaw, wire, cuts);
      expect(error).toBeUndefined();
      expect(out.map((o) => o.args)).toEqual(cmds);
      out.forEach((o, i) => {
        if (o.raw) expect(o.raw.equals(encodeCommand(cmds[i]!))).toBe(true);
      });
    };
    const fixed = [
      [Buffer.from("SET"), Buffer.from("k"), encodeCommand(["CONFIG", "SET", "save", ""])],
      [Buffer.from("GET"), Buffer.from("k")],
    ];
    const wire = Buffer.concat(fixed.map(encodeCommand));
    for (let at = 0; at <= wire.length; at++) check(fixed, wire, [at]);
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 15 }), (cmds, cuts) =>
        check(cmds, Buffer.concat(cmds.map(encodeCommand)), cuts),
      ),
      { numRuns: 300 },
    );
  });

  it("property: inline commands split anywhere parse the same as whole", () => {
    const word = fc.stringMatching(/^[A-Za-z0-9:_-]{1,10}$/);
    fc.assert(
      fc.property(
        fc.array(fc.array(word, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (lines, cuts) => {
          const wire = Buffer.from(lines.map((l) => `${l.join(" ")}\r\n`).join(""));
          const { out, error } = feedSplit(commands, wire, cuts);
          expect(error).toBeUndefined();
          expect(out.map((c) => c.map((a) => a.toString()))).toEqual(lines);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("fuzz: random bytes never crash or hang; only ProtocolError is thrown", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 8 }), (data, cuts) => {
        const { error } = feedSplit(commands, Buffer.from(data), cuts);
        if (error !== undefined) expect(error).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 1000 },
    );
  });

  it("property: a whole-command handler taking some commands changes neither what is parsed, nor its order, nor the errors", () => {
    // Takes commands whose name has an even length; the others go on as arguments.
    const withWhole = (on: (v: Buffer[]) => void) =>
      new CommandParser(
        (args) => on(args.map((a) => Buffer.from(a))),
        (b, start, end, argc, offsets) => {
          if ((offsets[1]! - offsets[0]!) % 2 !== 0) return false;
          // What it is handed is the command itself: parse those bytes alone to check.
          const alone: Buffer[][] = [];
          new CommandParser((args) => alone.push(args.map((a) => Buffer.from(a)))).feed(Buffer.from(b.subarray(start, end)));
          expect(alone).toHaveLength(1);
          expect(alone[0]).toHaveLength(argc);
          for (const [i, arg] of alone[0]!.entries()) expect(arg.equals(b.subarray(offsets[2 * i], offsets[2 * i + 1]))).toBe(true);
          on(alone[0]!);
          return true;
        },
      );
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 15 }), (cmds, cuts) => {
        const wire = Buffer.concat(cmds.map(encodeCommand));
        const split = feedSplit(withWhole, wire, cuts);
        expect(split.error).toBeUndefined();
        expect(split.out).toEqual(cmds);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 8 }), (data, cuts) => {
        const wire = Buffer.concat([Buffer.from("*2\r\n$2\r\nGE\r\n$1\r\nk\r\n"), Buffer.from(data)]);
        const plain = feedSplit(commands, wire, cuts);
        const whole = feedSplit(withWhole, wire, cuts);
        expect(whole.out).toEqual(plain.out);
        expect((whole.error as Error | undefined)?.message).toBe((plain.error as Error | undefined)?.message);
      }),
      { numRuns: 1000 },
    );
    // Valid pipelines with a few bytes changed: near-misses of the well-formed commands the handler is offered.
    const digitsAndMarks = fc.constantFrom(...Buffer.from("0123456789*$-\r\n+ "));
    fc.assert(
      fc.property(
        fc.array(command, { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), digitsAndMarks), { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (cmds, flips, cuts) => {
          const wire = Buffer.concat(cmds.map(encodeCommand));
          for (const [at, byte] of flips) wire[at % wire.length] = byte;
          const plain = feedSplit(commands, wire, cuts);
          const whole = feedSplit(withWhole, wire, cuts);
          expect(whole.out).toEqual(plain.out);
          expect((whole.error as Error | undefined)?.message).toBe((plain.error as Error | undefined)?.message);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("answers malformed input with Redis' own protocol-error texts", () => {
    const errorOf = (wire: string) => feedSplit(commands, Buffer.from(wire), []).error as Error;
    expect(errorOf("*abc\r\n").message).toBe("Protocol error: invalid multibulk length");
    expect(errorOf("*1\r\n+x\r\n").message).toBe("Protocol error: expected '$', got '+'");
    expect(errorOf("*1\r\n$-3\r\n").message).toBe("Protocol error: invalid bulk length");
    expect(errorOf('GET "abc\r\n').message).toBe("Protocol error: unbalanced quotes in request");
    expect(errorOf("x".repeat(70 * 1024)).message).toBe("Protocol error: too big inline request");
  });

  it("ignores *0, *-1 and empty inline lines, as Redis does", () => {
    expect(feedSplit(commands, Buffer.from("*0\r\n*-1\r\n\r\nPING\r\n"), []).out).toEqual([[Buffer.from("PING")]]);
  });

  it("splits inline arguments like sdssplitargs", () => {
    const split = (s: string) => splitArgs(Buffer.from(s))?.map((b) => b.toString("latin1"));
    expect(split(`SET k "a b\\n\\x41"`)).toEqual(["SET", "k", "a b\nA"]);
    expect(split(`SET k 'it\\'s'`)).toEqual(["SET", "k", "it's"]);
    expect(split(`SET "a"b`)).toBeUndefined();
    expect(split("   ")).toEqual([]);
  });

  it("regression: a NUL byte in an inline command ends it, as in Redis' C string (it looped forever, growing memory)", () => {
    const split = (s: string) => splitArgs(Buffer.from(s, "latin1"))?.map((b) => b.toString("latin1"));
    expect(split("GET k\0junk")).toEqual(["GET", "k"]);
    expect(split("\0GET k")).toEqual([]);
    expect(split('SET k "a\0b"')).toBeUndefined();
    expect(split('SET k "ab"\0')).toEqual(["SET", "k", "ab"]);
    expect(feedSplit(commands, Buffer.from("PING\0x\r\nPING\r\n", "latin1"), []).out).toEqual([
      [Buffer.from("PING")],
      [Buffer.from("PING")],
    ]);
  });
});
