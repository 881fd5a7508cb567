/**
 * What attache decides about a command name once per route (allowed, taken as sent, may block, where
 * its keys are, its reply rewriter), found again from the name's bytes with no string made; and
 * attache_redis_commands_total, counted here and added to prom-client once per event-loop turn.
 */
import { exists } from "@ioredis/commands";
import { metrics } from "../../../observability/metrics.js";
import { ARGUMENT_CHECKED, LOCAL, OWN_PUSHES, STATEFUL } from "../command-sets.js";
import { blockingMs } from "./blocking.js";
import type { CommandPolicy } from "./command-policy.js";
import type { KeyNamespace, KeySpec, ReplyRewriter } from "./key-namespace.js";

/** One label set of attache_redis_commands_total, counted here and added to prom-client once per turn. */
export interface Counter {
  readonly metric: { inc(n: number): void };
  n: number;
}

/** What attache decided about a command name, once. */
export interface NameInfo {
  /** Upper-case. */
  bytes: Buffer;
  known: boolean;
  /** The `command` label: the lower-case name, or "other". */
  counted: string;
  /** By result. */
  counters: Map<string, Counter>;
  /** The commonest results' counters, without a map lookup. */
  ok: Counter | undefined;
  error: Counter | undefined;
  /**
   * Whatever its arguments, the command goes to Redis on the shared connection as the client sent
   * it, with at most the keyPrefix put in front of its keys (found from the argument count alone:
   * `keys`), and its reply comes back unchanged: allowed, no reply to rewrite, never blocking, no
   * state, not answered by attache.
   */
  asSent: boolean;
  /** Where an asSent command's keys are, on a route with a keyPrefix; undefined without one. */
  keys: KeySpec | undefined;
  /** The allowlist's verdict (known names only: decided once). */
  verdict: { allowed: true } | { allowed: false; reason: string };
  rewrite: ReplyRewriter | undefined;
  /** blockingMs may say it blocks (it depends on the arguments only for these names). */
  mayBlock: boolean;
}

/** Arguments that make every blocking command look blocking to blockingMs (XREAD: BLOCK before STREAMS). */
const PROBE = ["X", "BLOCK", "1", "1", "1", "1"].map((s) => Buffer.from(s));

/** Counters with counts not yet added (prom-client hashes the labels on every inc: once per turn, not per command). */
let countsDue: Counter[] = [];
function addDueCounts(): void {
  const due = countsDue;
  countsDue = [];
  for (const c of due) {
    c.metric.inc(c.n);
    c.n = 0;
  }
}

function addOne(counter: Counter): void {
  if (counter.n++ === 0) {
    if (countsDue.length === 0) setImmediate(addDueCounts);
    countsDue.push(counter);
  }
}

/** Per route: what attache decided about each command name, once, and its counters. */
export class CommandNames {
  /** Upper-case name → its bytes, whether ioredis knows it, its counters (decided once per name). */
  private readonly names = new Map<string, NameInfo>();
  /** Every unknown name: counted as "other". */
  private readonly other: NameInfo = {
    bytes: Buffer.alloc(0),
    known: false,
    counted: "other",
    counters: new Map(),
    ok: undefined,
    error: undefined,
    asSent: false,
    keys: undefined,
    verdict: { allowed: false, reason: "" },
    rewrite: undefined,
    mayBlock: true,
  };
  /** Known names met so far, by length and first letter: `lookup` finds one from its bytes, with no string made. */
  private readonly byBytes = new Map<number, NameInfo[]>();

  constructor(
    private readonly route: string,
    private readonly policy: CommandPolicy,
    private readonly namespace: KeyNamespace,
    /** Some commands can go to Redis as sent (NameInfo.asSent): on the raw path (not a cluster). */
    private readonly takesAsSent: boolean,
  ) {}

  count(name: string, result: string): void {
    this.countInfo(this.get(name), result);
  }

  countInfo(info: NameInfo, result: string): void {
    addOne(this.counter(info, result));
  }

  /** One reply from Redis: "ok", or "error" for an error reply. */
  countReply(info: NameInfo, error: boolean): void {
    if (error) {
      info.error ??= this.counter(info, "error");
      addOne(info.error);
    } else {
      info.ok ??= this.counter(info, "ok");
      addOne(info.ok);
    }
  }

  private counter(info: NameInfo, result: string): Counter {
    let counter = info.counters.get(result);
    if (!counter) {
      counter = { metric: metrics.redisCommands.labels({ route: this.route, command: info.counted, result }), n: 0 };
      info.counters.set(result, counter);
    }
    return counter;
  }

  /** A name's info from its bytes b[start, end), in any case, once the name has been met by `prepare`. */
  lookup(b: Buffer, start: number, end: number): NameInfo | undefined {
    const candidates = this.byBytes.get(bytesKey(end - start, b[start]!));
    if (candidates) for (const info of candidates) if (sameName(info.bytes, b, start)) return info;
    return undefined;
  }

  /** `name` upper-case; every unknown name shares one NameInfo. */
  get(name: string): NameInfo {
    let info = this.names.get(name);
    if (!info) {
      const lower = name.toLowerCase();
      // Unknown names are not kept: a client sending random names must not grow this map.
      if (!exists(lower)) return this.other;
      const verdict = this.policy.check(name);
      const rewrite = this.namespace.rewriter(name);
      const mayBlock = blockingMs(name, PROBE) !== undefined;
      const keys = this.namespace.prefix ? this.namespace.fixedKeys(name) : undefined;
      const asSent =
        this.takesAsSent &&
        verdict.allowed &&
        !rewrite &&
        !mayBlock &&
        !STATEFUL.has(name) &&
        !OWN_PUSHES.has(name) &&
        !LOCAL.has(name) &&
        !ARGUMENT_CHECKED.has(name) &&
        (!this.namespace.prefix || keys !== undefined);
      info = {
        bytes: Buffer.from(name, "latin1"),
        known: true,
        counted: lower,
        counters: new Map(),
        ok: undefined,
        error: undefined,
        asSent,
        keys,
        verdict,
        rewrite,
        mayBlock,
      };
      this.names.set(name, info);
      const key = bytesKey(info.bytes.length, info.bytes[0]!);
      const candidates = this.byBytes.get(key);
      if (candidates) candidates.push(info);
      else this.byBytes.set(key, [info]);
    }
    return info;
  }
}

function bytesKey(length: number, first: number): number {
  return length * 256 + upperByte(first);
}

function upperByte(c: number): number {
  return c >= 97 && c <= 122 ? c - 32 : c;
}

/** `name` (upper-case) equals b[start, start + name.length) in any case, as Redis compares names. */
function sameName(name: Buffer, b: Buffer, start: number): boolean {
  for (let i = 0; i < name.length; i++) if (upperByte(b[start + i]!) !== name[i]) return false;
  return true;
}
