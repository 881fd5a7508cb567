/**
 * Commands from apps' byte streams: request framing (multibulk and inline, as Redis reads them), with
 * attache's per-client limits (limits.redis maxArgs, maxBulkLength, maxQueryBuffer) checked at each
 * header, and the exact byte offsets of a command that lies whole in one buffer.
 */
import { splitArgs } from "./inline-args.js";
import { CR, INCOMPLETE, LF, LIMITS, Pending, parseLength, ProtocolError } from "./wire.js";

/** What one client's command may hold: attache's limits (`limits.redis`), below Redis' own. */
export interface CommandLimits {
  /** Largest single argument, in bytes. */
  readonly maxBulkLength: number;
  /** Arguments per command, its name included. */
  readonly maxArgs: number;
  /** Bytes of one command's arguments together (the one being read counted at its declared length). */
  readonly maxQueryBuffer: number;
}

/** A client passed one of its CommandLimits: refused as its header arrives, before the bytes are held. */
export class LimitError extends Error {
  constructor(
    message: string,
    /** For attache_client_disconnects_total's `reason`. */
    readonly reason: "max_args" | "max_bulk_length" | "query_buffer",
  ) {
    super(message);
  }
}

const REDIS_LIMITS: CommandLimits = {
  maxBulkLength: LIMITS.bulkMax,
  maxArgs: LIMITS.multibulkMax,
  maxQueryBuffer: Number.MAX_SAFE_INTEGER,
};

/** `raw`: the command's exact bytes when it arrived within one buffer (a multibulk command only). */
export type CommandHandler = (args: Buffer[], raw: Buffer | undefined) => void;

/**
 * Offered each multibulk command that lies whole in the buffer being parsed (of up to
 * WHOLE_MAX_ARGS arguments), before any argument is cut out of it: the command is b[start, end),
 * its argument i is b[offsets[2i], offsets[2i + 1]) (its name is argument 0). `offsets` is valid
 * during the call only. Returns true when it took the command; false, and the command goes to the
 * CommandHandler as usual.
 */
export type WholeCommandHandler = (b: Buffer, start: number, end: number, argc: number, offsets: readonly number[]) => boolean;

/** Longer commands go to the CommandHandler only: the offsets a parser keeps stay small. */
export const WHOLE_MAX_ARGS = 256;

/**
 * Commands from a client: RESP multibulk (`*N` of `$len` bulks) or inline (`GET key\r\n`), as Redis
 * reads them (networking.c processMultibulkBuffer / processInlineBuffer). A protocol error throws a
 * ProtocolError whose message is Redis' text ("Protocol error: invalid bulk length"); the caller
 * answers it and closes the connection, as Redis does.
 */
export class CommandParser {
  private readonly pending = new Pending();
  /** Multibulk in progress: args so far and how many remain. */
  private args: Buffer[] | undefined;
  private remaining = 0;
  /**
   * Where the multibulk command in progress starts in the buffer being parsed; -1: in an earlier
   * one. An offset into one buffer only: every feed starts with -1 (a command whose first write ended
   * at an argument boundary must not be sent from a stale offset into the next write).
   */
  private start = -1;
  private failed = false;

  /** Bytes of the arguments of the multibulk command in progress read so far. */
  private argBytes = 0;

  /** Where the arguments of the command `whole` found last are (see WholeCommandHandler). */
  private readonly offsets: number[] = [];
  private argc = 0;
  private readonly wholeMaxArgs: number;

  constructor(
    private readonly onCommand: CommandHandler,
    private readonly onWhole?: WholeCommandHandler,
    private readonly limits: CommandLimits = REDIS_LIMITS,
  ) {
    this.wholeMaxArgs = Math.min(WHOLE_MAX_ARGS, limits.maxArgs);
  }

  feed(chunk: Buffer): void {
    if (this.failed) return;
    if (!this.pending.push(chunk)) {
      // Lines have a bound: a client that streams a header or inline command without a newline is cut.
      if (this.pending.need === 0 && this.pending.length > LIMITS.inlineMax) this.lineTooLong();
      return;
    }
    const b = this.pending.take();
    this.start = -1;
    let pos = 0;
    while (pos < b.length) {
      if (this.onWhole && !this.args && b[pos] === 42) {
        const end = this.whole(b, pos);
        if (end > 0 && this.onWhole(b, pos, end, this.argc, this.offsets)) {
          pos = end;
          continue;
        }
      }
      const next = this.args ? this.bulk(b, pos) : b[pos] === 42 ? this.multibulkHeader(b, pos) : this.inline(b, pos);
      if (next === INCOMPLETE) {
        const rest = b.subarray(pos);
        this.pending.keep(rest, this.need === 0 ? 0 : this.need - pos);
        if (this.pending.need === 0 && rest.length > LIMITS.inlineMax) this.lineTooLong();
        return;
      }
      pos = next;
    }
  }

  private need = 0;

  /**
   * The end of the multibulk command at `pos` when all of it is in `b` and it is plainly well formed
   * (a count from 1 to WHOLE_MAX_ARGS, bulk lengths without sign or leading zero, CRLF after each
   * header), and its arguments' places in `offsets`; -1 otherwise: the general path then reads it,
   * with its partial-input handling and Redis' error texts.
   */
  private whole(b: Buffer, pos: number): number {
    let p = pos + 1;
    let count = 0;
    for (; p < b.length && b[p]! >= 48 && b[p]! <= 57; p++) {
      count = count * 10 + b[p]! - 48;
      if (p - pos > 10) return -1;
    }
    if (count === 0 || count > this.wholeMaxArgs || b[pos + 1] === 48 || b[p] !== CR || b[p + 1] !== LF) return -1;
    let bytes = 0;
    p += 2;
    for (let i = 0; i < count; i++) {
      if (b[p] !== 36 /* $ */) return -1;
      const digits = ++p;
      let len = 0;
      for (; p < b.length && b[p]! >= 48 && b[p]! <= 57; p++) {
        len = len * 10 + b[p]! - 48;
        if (p - digits > 9) return -1;
      }
      bytes += len;
      if (
        p === digits ||
        (b[digits] === 48 && p - digits > 1) ||
        len > this.limits.maxBulkLength ||
        bytes > this.limits.maxQueryBuffer ||
        b[p] !== CR ||
        b[p + 1] !== LF
      )
        return -1;
      p += 2;
      this.offsets[2 * i] = p;
      this.offsets[2 * i + 1] = p + len;
      // As in bulk(): the two bytes after the data are skipped unchecked, as Redis does.
      p += len + 2;
      if (p > b.length) return -1;
    }
    this.argc = count;
    return p;
  }

  private lineTooLong(): never {
    if (this.args) this.fail("too big bulk count string");
    const first = this.pending.chunks[0];
    this.fail(first && first[0] === 42 ? "too big mbulk count string" : "too big inline request");
  }

  private multibulkHeader(b: Buffer, pos: number): number | typeof INCOMPLETE {
    this.need = 0;
    const lf = b.indexOf(LF, pos);
    if (lf === -1) {
      if (b.length - pos > LIMITS.inlineMax) this.fail("too big mbulk count string");
      return INCOMPLETE;
    }
    // Redis looks for "\r": a "*3\n" header has no CR and is an invalid length.
    const cr = b[lf - 1] === CR ? lf - 1 : lf;
    const count = parseLength(b, pos + 1, cr);
    if (count === undefined || count > LIMITS.multibulkMax || cr === lf) this.fail("invalid multibulk length");
    if (count <= 0) return lf + 1; // "*0" and "*-1" are ignored, with no reply
    if (count > this.limits.maxArgs)
      this.limit("max_args", `command has ${count} arguments, more than limits.redis.maxArgs (${this.limits.maxArgs})`);
    this.argBytes = 0;
    this.start = pos;
    this.args = [];
    this.remaining = count;
    return lf + 1;
  }

  private bulk(b: Buffer, pos: number): number | typeof INCOMPLETE {
    this.need = 0;
    if (b[pos] !== 36) this.fail(`expected '$', got '${String.fromCharCode(b[pos]!)}'`);
    const lf = b.indexOf(LF, pos);
    if (lf === -1) {
      if (b.length - pos > LIMITS.inlineMax) this.fail("too big bulk count string");
      return INCOMPLETE;
    }
    const cr = b[lf - 1] === CR ? lf - 1 : lf;
    const len = parseLength(b, pos + 1, cr);
    if (len === undefined || len < 0 || len > LIMITS.bulkMax || cr === lf) this.fail("invalid bulk length");
    // Checked at the header: nothing of an argument past a limit is held.
    if (len > this.limits.maxBulkLength)
      this.limit("max_bulk_length", `argument of ${len} bytes, more than limits.redis.maxBulkLength (${this.limits.maxBulkLength})`);
    if (this.argBytes + len > this.limits.maxQueryBuffer)
      this.limit("query_buffer", `command of more than limits.redis.maxQueryBuffer (${this.limits.maxQueryBuffer} bytes)`);
    const end = lf + 1 + len + 2;
    if (b.length < end) {
      this.need = end;
      return INCOMPLETE;
    }
    // Redis skips the two bytes after the data without checking them; so do we.
    this.args!.push(b.subarray(lf + 1, lf + 1 + len));
    this.argBytes += len;
    if (--this.remaining === 0) {
      const args = this.args!;
      this.args = undefined;
      this.onCommand(args, this.start >= 0 ? b.subarray(this.start, end) : undefined);
    }
    return end;
  }

  private inline(b: Buffer, pos: number): number | typeof INCOMPLETE {
    this.need = 0;
    const lf = b.indexOf(LF, pos);
    if (lf === -1) {
      if (b.length - pos > LIMITS.inlineMax) this.fail("too big inline request");
      return INCOMPLETE;
    }
    if (lf - pos > LIMITS.inlineMax) this.fail("too big inline request");
    const end = lf > pos && b[lf - 1] === CR ? lf - 1 : lf;
    const args = splitArgs(b.subarray(pos, end));
    if (args === undefined) this.fail("unbalanced quotes in request");
    if (args.length > this.limits.maxArgs)
      this.limit("max_args", `command has ${args.length} arguments, more than limits.redis.maxArgs (${this.limits.maxArgs})`);
    if (args.length > 0) this.onCommand(args, undefined);
    return lf + 1;
  }

  private fail(message: string): never {
    this.failed = true;
    this.pending.clear();
    throw new ProtocolError(`Protocol error: ${message}`);
  }

  private limit(reason: LimitError["reason"], message: string): never {
    this.failed = true;
    this.pending.clear();
    this.args = undefined;
    throw new LimitError(message, reason);
  }
}
