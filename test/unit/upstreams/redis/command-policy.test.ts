import { describe, expect, it } from "vitest";
import { CommandPolicy } from "../../../../src/upstreams/redis/commands/command-policy.js";
import { DEFAULT_COMMANDS, REFUSED_FAMILIES } from "../../../../src/upstreams/redis/command-sets.js";
import { blockingMs } from "../../../../src/upstreams/redis/commands/blocking.js";
import { ClientState } from "../../../../src/upstreams/redis/commands/client-state.js";
import { KeyNamespace } from "../../../../src/upstreams/redis/commands/key-namespace.js";

const args = (...a: string[]) => a.map((s) => Buffer.from(s));
const text = (a: Buffer[]) => a.map((b) => b.toString());

describe("CommandPolicy", () => {
  it("default set: data types, expiry, transactions allowed; every refused family outside it", () => {
    const policy = new CommandPolicy({ prefixed: true });
    for (const name of ["GET", "SET", "HSET", "EXPIRE", "TTL", "MULTI", "EXEC", "BLPOP", "XREAD", "PING", "COMMAND"])
      expect(policy.check(name).allowed).toBe(true);
    for (const family of Object.values(REFUSED_FAMILIES))
      for (const name of family) expect(policy.check(name), name).toMatchObject({ allowed: false });
    for (const name of DEFAULT_COMMANDS)
      expect(
        Object.values(REFUSED_FAMILIES).some((f) => (f as readonly string[]).includes(name)),
        name,
      ).toBe(false);
  });

  it("an explicit list allows exactly its names (plus connection commands)", () => {
    const policy = new CommandPolicy({ commands: ["get", "SUBSCRIBE"], prefixed: false });
    expect(policy.check("GET").allowed).toBe(true);
    expect(policy.check("SUBSCRIBE").allowed).toBe(true);
    expect(policy.check("SET")).toMatchObject({ allowed: false });
    expect(policy.check("PING").allowed).toBe(true);
    expect(policy.check("UNSUBSCRIBE").allowed).toBe(true);
    expect(policy.check("PSUBSCRIBE")).toMatchObject({ allowed: false });
  });

  it('["*"] allows all that can be proxied; with a keyPrefix, not what escapes the namespace', () => {
    const open = new CommandPolicy({ commands: ["*"], prefixed: false });
    expect(open.check("FLUSHDB").allowed).toBe(true);
    expect(open.check("DEBUG").allowed).toBe(true);
    expect(open.check("CONFIG")).toMatchObject({ allowed: false, reason: expect.stringContaining("credentials") });
    expect(open.check("ACL")).toMatchObject({ allowed: false });
    expect(new CommandPolicy({ commands: ["*", "CONFIG"], prefixed: false }).check("CONFIG").allowed).toBe(true);
    expect(open.check("MONITOR")).toMatchObject({ allowed: false });
    expect(open.check("MYMODULE.CMD").allowed).toBe(true);
    const prefixed = new CommandPolicy({ commands: ["*"], prefixed: true });
    expect(prefixed.check("FLUSHDB")).toMatchObject({ allowed: false });
    expect(prefixed.check("RANDOMKEY")).toMatchObject({ allowed: false });
    for (const name of ["DEBUG", "CLUSTER", "SLOWLOG"]) expect(prefixed.check(name), name).toMatchObject({ allowed: false });
    expect(prefixed.check("SCAN").allowed).toBe(true);
    expect(prefixed.check("MYMODULE.CMD")).toMatchObject({ allowed: false });
    expect(new CommandPolicy({ commands: ["*", "FLUSHDB"], prefixed: true }).check("FLUSHDB").allowed).toBe(true);
  });

  it("nothing leaves the route's db: MOVE, SWAPDB, MIGRATE, FLUSHALL refused even when listed; scripts only by name", () => {
    for (const prefixed of [false, true]) {
      const open = new CommandPolicy({ commands: ["*", "MOVE", "SWAPDB", "MIGRATE", "FLUSHALL"], prefixed, db: 3 });
      for (const name of ["MOVE", "SWAPDB", "MIGRATE", "FLUSHALL"])
        expect(open.check(name), name).toMatchObject({ allowed: false, reason: expect.stringContaining("db 3") });
      for (const name of ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO", "SCRIPT", "FUNCTION"])
        expect(open.check(name), name).toMatchObject({ allowed: false });
      const listed = new CommandPolicy({ commands: ["*", "EVAL", "SCRIPT"], prefixed });
      expect(listed.check("EVAL").allowed).toBe(true);
      expect(listed.check("SCRIPT").allowed).toBe(true);
      expect(listed.check("FCALL")).toMatchObject({ allowed: false });
    }
  });

  it("SELECT only of the route's db, spelled as Redis spells it; COPY without DB", () => {
    const policy = new CommandPolicy({ prefixed: false, db: 3 });
    expect(policy.check("SELECT").allowed).toBe(true);
    expect(policy.checkArguments("SELECT", args("SELECT", "3")).allowed).toBe(true);
    for (const bad of [["SELECT", "0"], ["SELECT", "03"], ["SELECT", "+3"], ["SELECT"], ["SELECT", "3", "3"]]) {
      expect(policy.checkArguments("SELECT", args(...bad)), bad.join(" ")).toMatchObject({
        allowed: false,
        reason: expect.stringContaining("confined to db 3"),
      });
    }
    expect(policy.checkArguments("COPY", args("COPY", "a", "b", "REPLACE")).allowed).toBe(true);
    expect(policy.checkArguments("COPY", args("COPY", "db", "b")).allowed).toBe(true);
    expect(policy.checkArguments("COPY", args("COPY", "a", "b", "db", "0"))).toMatchObject({
      allowed: false,
      reason: expect.stringContaining("db 3"),
    });
    expect(policy.checkArguments("COPY", args("COPY", "a", "b", "REPLACE", "DB", "3"))).toMatchObject({ allowed: false });
  });
});

describe("KeyNamespace", () => {
  const ns = new KeyNamespace("app:");

  it("prefixes every key argument from ioredis' key specs", () => {
    expect(text(ns.apply(args("SET", "k", "v", "EX", "10")))).toEqual(["SET", "app:k", "v", "EX", "10"]);
    expect(text(ns.apply(args("MSET", "a", "1", "b", "2")))).toEqual(["MSET", "app:a", "1", "app:b", "2"]);
    expect(text(ns.apply(args("EVAL", "return 1", "2", "k1", "k2", "arg")))).toEqual(["EVAL", "return 1", "2", "app:k1", "app:k2", "arg"]);
    expect(text(ns.apply(args("XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0")))).toEqual([
      "XREAD",
      "COUNT",
      "1",
      "STREAMS",
      "app:s1",
      "app:s2",
      "0",
      "0",
    ]);
    expect(text(ns.apply(args("SORT", "l", "BY", "w_*", "GET", "#", "GET", "o_*", "STORE", "d")))).toEqual([
      "SORT",
      "app:l",
      "BY",
      "app:w_*",
      "GET",
      "#",
      "GET",
      "app:o_*",
      "STORE",
      "app:d",
    ]);
    expect(text(ns.apply(args("OBJECT", "ENCODING", "k")))).toEqual(["OBJECT", "ENCODING", "app:k"]);
    expect(text(ns.apply(args("XGROUP", "CREATE", "s", "g", "$")))).toEqual(["XGROUP", "CREATE", "app:s", "g", "$"]);
    expect(text(ns.apply(args("PUBLISH", "ch", "m")))).toEqual(["PUBLISH", "ch", "m"]);
    expect(text(ns.apply(args("GET")))).toEqual(["GET"]);
  });

  it("confines KEYS and SCAN by their pattern, escaping glob characters of the prefix", () => {
    const odd = new KeyNamespace("a*b:");
    expect(text(odd.apply(args("KEYS", "x*")))).toEqual(["KEYS", "a\\*b:x*"]);
    expect(text(ns.apply(args("SCAN", "0", "COUNT", "10")))).toEqual(["SCAN", "0", "COUNT", "10", "MATCH", "app:*"]);
    expect(text(ns.apply(args("SCAN", "0", "match", "u:*")))).toEqual(["SCAN", "0", "match", "app:u:*"]);
  });

  it("never trusts numkeys to size a loop", () => {
    expect(text(ns.apply(args("EVAL", "s", "999999999", "k")))).toEqual(["EVAL", "s", "999999999", "k"]);
    expect(text(ns.apply(args("ZUNIONSTORE", "d", "-1", "k")))).toEqual(["ZUNIONSTORE", "d", "-1", "k"]);
  });

  it("takes the prefix off key names in replies", () => {
    const bulk = (s: string) => ({ type: "bulk" as const, value: Buffer.from(s) });
    const reply = ns.rewriter("BLPOP")!({ type: "array", value: [bulk("app:q"), bulk("x")] });
    expect(reply).toEqual({ type: "array", value: [bulk("q"), bulk("x")] });
    const scan = ns.rewriter("SCAN")!({ type: "array", value: [bulk("0"), { type: "array", value: [bulk("app:a"), bulk("app:b")] }] });
    expect(scan).toEqual({ type: "array", value: [bulk("0"), { type: "array", value: [bulk("a"), bulk("b")] }] });
    expect(ns.rewriter("GET")).toBeUndefined();
  });
});

describe("blockingMs and ClientState", () => {
  it("reads how long a command may block", () => {
    expect(blockingMs("BLPOP", args("BLPOP", "q", "0"))).toBe(Infinity);
    expect(blockingMs("BLPOP", args("BLPOP", "q", "1.5"))).toBe(1500);
    expect(blockingMs("XREAD", args("XREAD", "BLOCK", "200", "STREAMS", "s", "$"))).toBe(200);
    expect(blockingMs("XREAD", args("XREAD", "STREAMS", "block", "$"))).toBeUndefined();
    expect(blockingMs("GET", args("GET", "k"))).toBeUndefined();
  });

  it("tracks transactions from replies and maps EXEC's results through queued rewriters", () => {
    const ns = new KeyNamespace("app:");
    const state = new ClientState(0);
    const cmd = (...a: string[]) => ({ name: a[0]!, args: args(...a), rewrite: ns.rewriter(a[0]!), blocking: undefined });
    const ok = { type: "simple" as const, value: "OK" };
    state.sending(cmd("MULTI"));
    state.replied(cmd("MULTI"), ok);
    expect(state.neutral).toBe(false);
    expect(state.sending(cmd("LMPOP", "1", "l", "LEFT"))).toBeUndefined();
    const exec = state.sending(cmd("EXEC"))!;
    const bulk = (s: string) => ({ type: "bulk" as const, value: Buffer.from(s) });
    expect(exec({ type: "array", value: [{ type: "array", value: [bulk("app:l"), { type: "array", value: [bulk("x")] }] }] })).toEqual({
      type: "array",
      value: [{ type: "array", value: [bulk("l"), { type: "array", value: [bulk("x")] }] }],
    });
    state.replied(cmd("EXEC"), { type: "array", value: [] });
    expect(state.neutral).toBe(true);
  });
});
