/**
 * keyPrefix namespacing: the app sees its keys without the prefix; Redis holds them with it.
 *
 * Key positions come from the command table ioredis ships (@ioredis/commands getKeyIndexes: first/
 * last/step key specs, plus its handling of movable keys: numkeys, STREAMS, SORT BY/GET/STORE,
 * GEORADIUS STORE). Only what that table does not cover is written here, as data: key arguments of
 * container subcommands (OBJECT ENCODING key...), and the two keyspace walks that can be confined
 * by rewriting their pattern (KEYS, SCAN MATCH). Channels are not keys and are not namespaced.
 * Replies that name keys (KEYS, SCAN, BLPOP, XREAD...) get the prefix taken off again.
 */
import { createRequire } from "node:module";
import { exists, getKeyIndexes, hasFlag } from "@ioredis/commands";
import { CHANNEL_COMMANDS, KEY_FIRST_REPLY } from "../command-sets.js";
import type { RespValue } from "../resp/value.js";

/** The command table getKeyIndexes reads (its key specs are not exported otherwise). */
const COMMAND_TABLE = createRequire(import.meta.url)("@ioredis/commands/built/commands.json") as Record<
  string,
  { keyStart: number; keyStop: number; step: number }
>;

/** Container subcommand → index of its key among the arguments after the command name. */
const SUBCOMMAND_KEYS: Record<string, Record<string, number>> = {
  OBJECT: { ENCODING: 1, FREQ: 1, IDLETIME: 1, REFCOUNT: 1 },
  MEMORY: { USAGE: 1 },
  XINFO: { CONSUMERS: 1, GROUPS: 1, STREAM: 1 },
  XGROUP: { CREATE: 1, CREATECONSUMER: 1, DELCONSUMER: 1, DESTROY: 1, SETID: 1 },
};

/**
 * Commands whose key count is an argument (numkeys), and where it is. getKeyIndexes trusts that
 * number and would loop over it: a client's "EVAL s 999999999" must not make attache allocate.
 * An invalid count leaves the command as it is; Redis then refuses it before touching any key.
 */
const NUMKEYS_AT: Record<string, number> = {
  zunionstore: 1,
  zinterstore: 1,
  zdiffstore: 1,
  eval: 1,
  evalsha: 1,
  eval_ro: 1,
  evalsha_ro: 1,
  fcall: 1,
  fcall_ro: 1,
  blmpop: 1,
  bzmpop: 1,
  sintercard: 0,
  lmpop: 0,
  zunion: 0,
  zinter: 0,
  zmpop: 0,
  zintercard: 0,
  zdiff: 0,
  msetex: 0,
};

export type ReplyRewriter = (reply: RespValue) => RespValue;

/**
 * Where a command's keys are when that depends on its argument count only (arguments counted from
 * the name, 0): from `first` to `last` by `step`; a negative `last` counts from the end (-1: the
 * last argument); a `step` of 0: no key. As Redis' key specs, and getKeyIndexes' reading of them.
 */
export interface KeySpec {
  readonly first: number;
  readonly last: number;
  readonly step: number;
}

/** A command with no key. */
export const NO_KEYS: KeySpec = { first: 0, last: 0, step: 0 };

/** The index of the last key of a command with `argc` arguments (its name included); below `spec.first` when it has none. */
export function lastKeyIndex(spec: KeySpec, argc: number): number {
  if (spec.step === 0) return spec.first - 1;
  return Math.min(spec.last > 0 ? spec.last : argc + spec.last, argc - 1);
}

export class KeyNamespace {
  readonly prefix: Buffer | undefined;
  /** The prefix with glob characters escaped, for KEYS / SCAN MATCH patterns. */
  private readonly globPrefix: Buffer | undefined;
  private readonly rewriters: Record<string, ReplyRewriter> = {};

  constructor(prefix: string | undefined) {
    this.prefix = prefix ? Buffer.from(prefix) : undefined;
    this.globPrefix = prefix ? Buffer.from(prefix.replace(/[*?[\]\\]/g, "\\$&")) : undefined;
    if (this.prefix) {
      const first: ReplyRewriter = (r) => (r.type === "array" && r.value && r.value[0] ? withItem(r, 0, this.strip(r.value[0])) : r);
      const every: ReplyRewriter = (r) => (r.type === "array" && r.value ? { type: "array", value: r.value.map((v) => this.strip(v)) } : r);
      for (const name of KEY_FIRST_REPLY) this.rewriters[name] = first;
      this.rewriters.KEYS = every;
      this.rewriters.RANDOMKEY = (r) => this.strip(r);
      this.rewriters.SCAN = (r) => (r.type === "array" && r.value && r.value[1] ? withItem(r, 1, every(r.value[1])) : r);
      // RESP3 clients get XREAD's streams as a map: stream name, entries, stream name, entries.
      const streams: ReplyRewriter = (r) =>
        r.type === "array" && r.value
          ? { type: "array", value: r.value.map((s) => first(s)) }
          : r.type === "map"
            ? { type: "map", value: r.value.map((v, i) => (i % 2 === 0 ? this.strip(v) : v)) }
            : r;
      this.rewriters.XREAD = streams;
      this.rewriters.XREADGROUP = streams;
    }
  }

  /** `args[0]` is the command name, upper-case. Returns new args with every key argument prefixed. */
  apply(args: readonly Buffer[]): Buffer[] {
    const prefix = this.prefix;
    if (!prefix || args.length < 2) return args as Buffer[];
    const name = args[0]!.toString("latin1");
    const out = args.slice();
    const at = (i: number) => {
      // i counts from the first argument after the name
      if (i >= 0 && i + 1 < out.length) out[i + 1] = Buffer.concat([prefix, out[i + 1]!]);
    };
    if (name === "KEYS") {
      out[1] = Buffer.concat([this.globPrefix!, out[1]!]);
      return out;
    }
    if (name === "SCAN") {
      let matched = false;
      for (let i = 2; i + 1 < out.length; i += 2) {
        if (upper(out[i]!) === "MATCH") {
          out[i + 1] = Buffer.concat([this.globPrefix!, out[i + 1]!]);
          matched = true;
        }
      }
      if (!matched) out.push(Buffer.from("MATCH"), Buffer.concat([this.globPrefix!, Buffer.from("*")]));
      return out;
    }
    const sub = SUBCOMMAND_KEYS[name];
    if (sub) {
      const index = sub[upper(out[1]!)];
      if (index !== undefined) at(index);
      return out;
    }
    const lower = name.toLowerCase();
    if (CHANNEL_COMMANDS.has(lower) || !exists(lower)) return out;
    const rest = out.slice(1).map((b) => b.toString("latin1"));
    const numkeysAt = NUMKEYS_AT[lower];
    if (numkeysAt !== undefined) {
      const text = rest[numkeysAt];
      if (text === undefined || !/^(0|[1-9]\d{0,9})$/.test(text) || Number(text) > rest.length) return out;
    }
    for (const index of getKeyIndexes(lower, rest)) at(index as number);
    return out;
  }

  /**
   * Where `name`'s keys are (upper-case name), when apply would find them from the argument count
   * alone; undefined when apply reads the arguments (movable keys, subcommands, KEYS/SCAN patterns)
   * or does not know the command. Channels are not keys: NO_KEYS.
   */
  fixedKeys(name: string): KeySpec | undefined {
    const lower = name.toLowerCase();
    if (!exists(lower) || hasFlag(lower, "movablekeys") || name === "KEYS" || name === "SCAN" || SUBCOMMAND_KEYS[name]) return undefined;
    if (CHANNEL_COMMANDS.has(lower)) return NO_KEYS;
    const { keyStart, keyStop, step } = COMMAND_TABLE[lower]!;
    return { first: keyStart, last: keyStop, step };
  }

  /**
   * b[start, end) (whole commands as a client sent them) with the prefix put in front of keys:
   * `edits` holds, per key and in order, where its bulk header starts, where its bytes start and end.
   * The same bytes encodeCommand(apply(args)) gives, without cutting out the arguments.
   */
  prefixKeys(b: Buffer, start: number, end: number, edits: readonly number[]): Buffer {
    const prefix = this.prefix!;
    let size = end - start;
    for (let i = 0; i < edits.length; i += 3) {
      const len = edits[i + 2]! - edits[i + 1]!;
      size += prefix.length + decimalDigits(len + prefix.length) - decimalDigits(len);
    }
    const out = Buffer.allocUnsafe(size);
    let o = 0;
    let from = start;
    for (let i = 0; i < edits.length; i += 3) {
      o = copyBytes(b, from, edits[i]!, out, o);
      out[o++] = 36; // $
      o = writeDecimal(edits[i + 2]! - edits[i + 1]! + prefix.length, out, o);
      out[o++] = 13;
      out[o++] = 10;
      o = copyBytes(prefix, 0, prefix.length, out, o);
      from = edits[i + 1]!;
    }
    copyBytes(b, from, end, out, o);
    return out;
  }

  /** Takes the prefix off key names in this command's reply, if its reply names keys. */
  rewriter(name: string): ReplyRewriter | undefined {
    return this.rewriters[name];
  }

  private strip(v: RespValue): RespValue {
    const prefix = this.prefix!;
    if (v.type !== "bulk" || !v.value || v.value.length < prefix.length || !v.value.subarray(0, prefix.length).equals(prefix)) return v;
    return { type: "bulk", value: v.value.subarray(prefix.length) };
  }
}

function withItem(r: RespValue, index: number, item: RespValue): RespValue {
  const items = (r as { value: RespValue[] }).value.slice();
  items[index] = item;
  return { type: "array", value: items };
}

/**
 * src[from, to) into dst at `at`; returns the end. The pieces between keys are a few bytes: a loop
 * costs less than Buffer#copy's call into C++ for those.
 */
function copyBytes(src: Buffer, from: number, to: number, dst: Buffer, at: number): number {
  if (to - from > 64) return at + src.copy(dst, at, from, to);
  for (let i = from; i < to; i++) dst[at++] = src[i]!;
  return at;
}

/** n (a length, so 0 or more) in decimal ASCII into dst at `at`; returns the end. */
function writeDecimal(n: number, dst: Buffer, at: number): number {
  const end = at + decimalDigits(n);
  for (let i = end - 1; i >= at; i--, n = Math.floor(n / 10)) dst[i] = 48 + (n % 10);
  return end;
}

function decimalDigits(n: number): number {
  let digits = 1;
  for (; n >= 10; n = Math.floor(n / 10)) digits++;
  return digits;
}

function upper(b: Buffer): string {
  return b.toString("latin1").toUpperCase();
}
