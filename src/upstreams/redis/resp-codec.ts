/**
 * RESP on the wire: a resumable reply parser that keeps every reply type exactly (status vs bulk,
 * null bulk vs null array, errors nested in arrays, and RESP3's maps, sets, doubles, booleans, big
 * numbers, nulls, blob errors, verbatim strings, attributes and pushes), a command parser for what
 * apps send (multibulk and inline, with Redis' own limits and protocol-error texts), and the encoders.
 *
 * Both parsers are linear in the bytes they receive, however the stream is split: a value whose
 * length is known (a bulk string) is gathered as a list of chunks and joined once, a line waits for
 * a newline before anything is joined, and the nesting of arrays is kept on an explicit stack so a
 * partly received array is never parsed twice (ARCHITECTURE.md: no quadratic buffering).
 */

/**
 * One RESP value. Line types (simple strings, errors, integers, doubles, booleans, big numbers) are
 * kept as latin1 text: byte-exact on re-encode. A map's entries are flat: key, value, key, value.
 * An attribute (RESP3 `|`) is kept with the value it annotates (`then`), as one element.
 */
export type RespValue =
  | { readonly type: "simple"; readonly value: string }
  | { readonly type: "error"; readonly value: string }
  | { readonly type: "integer"; readonly value: string }
  | { readonly type: "bulk"; readonly value: Buffer | null }
  | { readonly type: "array"; readonly value: RespValue[] | null }
  | { readonly type: "null" }
  | { readonly type: "double" | "boolean" | "bignum"; readonly value: string }
  | { readonly type: "blobError" | "verbatim"; readonly value: Buffer }
  | { readonly type: "map" | "set" | "push"; readonly value: RespValue[] }
  | { readonly type: "attribute"; readonly value: RespValue[]; readonly then: RespValue };

/** RESP3 aggregate kinds and their type bytes. */
type Aggregate = "array" | "map" | "set" | "push" | "attribute";
const AGGREGATE_BYTE: Record<Aggregate, string> = { array: "*", map: "%", set: "~", push: ">", attribute: "|" };
const LINE_BYTE = { simple: "+", error: "-", integer: ":", double: ",", boolean: "#", bignum: "(" } as const;

export const resp = {
  simple: (value: string): RespValue => ({ type: "simple", value }),
  error: (value: string): RespValue => ({ type: "error", value }),
  integer: (value: number | bigint | string): RespValue => ({ type: "integer", value: String(value) }),
  bulk: (value: Buffer | string | null): RespValue => ({ type: "bulk", value: typeof value === "string" ? Buffer.from(value) : value }),
  array: (value: RespValue[] | null): RespValue => ({ type: "array", value }),
  nullBulk: { type: "bulk", value: null } as RespValue,
  nullArray: { type: "array", value: null } as RespValue,
  ok: { type: "simple", value: "OK" } as RespValue,
};

const CRLF = Buffer.from("\r\n");
const CR = 13;
const LF = 10;

/** Redis' own limits (networking.c, Redis 7): what a real server refuses, attache refuses with the same text. */
export const LIMITS = {
  /** PROTO_INLINE_MAX_SIZE: longest inline command and longest `*N` / `$N` header line. */
  inlineMax: 64 * 1024,
  /** INT_MAX: the largest multibulk count Redis 7 accepts. */
  multibulkMax: 2147483647,
  /** proto-max-bulk-len default: 512mb. */
  bulkMax: 512 * 1024 * 1024,
};

export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

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

const REDIS_LIMITS: CommandLimits = { maxBulkLength: LIMITS.bulkMax, maxArgs: LIMITS.multibulkMax, maxQueryBuffer: Number.MAX_SAFE_INTEGER };

// ---------------------------------------------------------------------------------------------
// Encoding

export function encodeValue(value: RespValue): Buffer {
  const parts: Buffer[] = [];
  writeValue(value, parts);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

function writeValue(value: RespValue, out: Buffer[]): void {
  switch (value.type) {
    case "simple":
    case "error":
    case "integer":
    case "double":
    case "boolean":
    case "bignum":
      out.push(Buffer.from(`${LINE_BYTE[value.type]}${value.value}\r\n`, "latin1"));
      return;
    case "null":
      out.push(Buffer.from("_\r\n"));
      return;
    case "blobError":
    case "verbatim":
      out.push(Buffer.from(`${value.type === "blobError" ? "!" : "="}${value.value.length}\r\n`), value.value, CRLF);
      return;
    case "map":
      out.push(Buffer.from(`%${value.value.length / 2}\r\n`));
      for (const item of value.value) writeValue(item, out);
      return;
    case "set":
    case "push":
      out.push(Buffer.from(`${AGGREGATE_BYTE[value.type]}${value.value.length}\r\n`));
      for (const item of value.value) writeValue(item, out);
      return;
    case "attribute":
      out.push(Buffer.from(`|${value.value.length / 2}\r\n`));
      for (const item of value.value) writeValue(item, out);
      writeValue(value.then, out);
      return;
    case "bulk":
      if (value.value === null) out.push(Buffer.from("$-1\r\n"));
      else out.push(Buffer.from(`$${value.value.length}\r\n`), value.value, CRLF);
      return;
    case "array":
      if (value.value === null) {
        out.push(Buffer.from("*-1\r\n"));
        return;
      }
      out.push(Buffer.from(`*${value.value.length}\r\n`));
      for (const item of value.value) writeValue(item, out);
      return;
  }
}

/** A command as a RESP array of bulk strings: what every client sends. */
export function encodeCommand(args: readonly (Buffer | string)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const b = typeof arg === "string" ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

/** An error reply line from a message ("ERR ..."); CR/LF would break the frame and become spaces, as Redis does. */
export function errorReply(message: string): Buffer {
  return Buffer.from(`-${message.replace(/[\r\n]+/g, " ")}\r\n`);
}

// ---------------------------------------------------------------------------------------------
// Shared chunk handling

/**
 * Holds the bytes not consumed yet as a list of chunks and joins them only when the parser can make
 * progress: `need` bytes in total (a bulk of known length) or a newline in the newest chunk (a line).
 */
class Pending {
  chunks: Buffer[] = [];
  length = 0;
  /** Total bytes needed before parsing can progress; 0: waiting for a newline. */
  need = 0;

  push(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.need > 0) return this.length >= this.need;
    return chunk.indexOf(LF) !== -1;
  }

  take(): Buffer {
    const b = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    this.chunks = [];
    this.length = 0;
    this.need = 0;
    return b;
  }

  keep(rest: Buffer, need: number): void {
    if (rest.length > 0) {
      this.chunks = [rest];
      this.length = rest.length;
    }
    this.need = need;
  }

  clear(): void {
    this.chunks = [];
    this.length = 0;
    this.need = 0;
  }
}

/** Parse a RESP integer header text (between type byte and CR) strictly, as Redis' string2ll does. */
function parseLength(b: Buffer, start: number, end: number): number | undefined {
  if (end <= start || end - start > 20) return undefined;
  let i = start;
  let negative = false;
  if (b[i] === 45 /* - */) {
    negative = true;
    i++;
    if (i === end) return undefined;
  }
  let n = 0;
  // string2ll refuses leading zeros ("01") but accepts "0".
  if (b[i] === 48 && end - i > 1) return undefined;
  for (; i < end; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  if (n > Number.MAX_SAFE_INTEGER) return undefined;
  return negative ? -n : n;
}

// ---------------------------------------------------------------------------------------------
// Replies (from Redis)

const INCOMPLETE = Symbol("incomplete");

export type FrameHandler = (value: RespValue, raw: Buffer) => void;

/**
 * Reply frames from a byte stream. `raw` is the frame's exact bytes: a slice of the received chunk
 * when the frame arrived in one piece, otherwise the canonical re-encoding (what Redis sends is canonical).
 */
export class ReplyParser {
  private readonly pending = new Pending();
  private readonly stack: Array<{ kind: Aggregate; items: RespValue[]; remaining: number }> = [];
  /** The current top-level frame began in an earlier buffer: its raw bytes are re-encoded. */
  private crossed = false;
  private failed = false;

  constructor(private readonly onFrame: FrameHandler) {}

  /** Feed bytes; throws ProtocolError on bytes that are not RESP (the stream is then unusable). */
  feed(chunk: Buffer): void {
    if (this.failed) return;
    if (!this.pending.push(chunk)) return;
    const b = this.pending.take();
    let pos = 0;
    let frameStart = 0;
    for (;;) {
      const start = pos;
      const r = this.element(b, pos);
      if (r === INCOMPLETE) {
        if (this.stack.length > 0 || start > frameStart) this.crossed = true;
        this.pending.keep(b.subarray(start), this.need === 0 ? 0 : this.need - start);
        return;
      }
      pos = r.end;
      let value: RespValue;
      if (r.count !== undefined) {
        const kind = r.kind!;
        // Elements to read: a map's pairs count twice; an attribute is followed by the value it annotates.
        const elements = kind === "map" ? 2 * r.count : kind === "attribute" ? 2 * r.count + 1 : r.count;
        if (elements > 0) {
          this.stack.push({ kind, items: [], remaining: elements });
          continue;
        }
        value = r.count === 0 ? aggregate(kind, []) : resp.nullArray;
      } else value = r.value!;
      // Attach upward through finished arrays.
      for (;;) {
        const top = this.stack[this.stack.length - 1];
        if (!top) {
          const raw = this.crossed ? encodeValue(value) : b.subarray(frameStart, pos);
          this.crossed = false;
          frameStart = pos;
          this.onFrame(value, raw);
          break;
        }
        top.items.push(value);
        if (--top.remaining > 0) break;
        this.stack.pop();
        value = aggregate(top.kind, top.items);
      }
      if (pos >= b.length) {
        this.pending.keep(b.subarray(pos), 0);
        if (this.stack.length > 0) this.crossed = true;
        return;
      }
    }
  }

  /** Forget a half-received frame (the connection was replaced). */
  reset(): void {
    this.pending.clear();
    this.stack.length = 0;
    this.crossed = false;
    this.failed = false;
  }

  private need = 0;

  private element(b: Buffer, pos: number): typeof INCOMPLETE | { end: number; value?: RespValue; count?: number; kind?: Aggregate } {
    this.need = 0;
    if (pos >= b.length) return INCOMPLETE;
    const lf = b.indexOf(LF, pos + 1);
    if (lf === -1) return INCOMPLETE;
    if (b[lf - 1] !== CR) return this.fail("expected CRLF");
    const type = b[pos];
    switch (type) {
      case 95: // _
        if (lf - pos !== 2) return this.fail("invalid null");
        return { end: lf + 1, value: RESP3_NULL };
      case 44: // ,
        return { end: lf + 1, value: { type: "double", value: b.toString("latin1", pos + 1, lf - 1) } };
      case 35: // #
        if (lf - pos !== 3 || (b[pos + 1] !== 116 && b[pos + 1] !== 102)) return this.fail("invalid boolean");
        return { end: lf + 1, value: { type: "boolean", value: b.toString("latin1", pos + 1, lf - 1) } };
      case 40: {
        // (
        const text = b.toString("latin1", pos + 1, lf - 1);
        if (!/^-?\d+$/.test(text)) return this.fail(`invalid big number ${JSON.stringify(text)}`);
        return { end: lf + 1, value: { type: "bignum", value: text } };
      }
      case 33: // !
      case 61: {
        // =
        const len = parseLength(b, pos + 1, lf - 1);
        if (len === undefined || len < 0) return this.fail("invalid blob length");
        const end = lf + 1 + len + 2;
        if (b.length < end) {
          this.need = end;
          return INCOMPLETE;
        }
        if (b[end - 2] !== CR || b[end - 1] !== LF) return this.fail("blob not followed by CRLF");
        return { end, value: { type: type === 33 ? "blobError" : "verbatim", value: b.subarray(lf + 1, lf + 1 + len) } };
      }
      case 37: // %
      case 126: // ~
      case 62: // >
      case 124: {
        // |
        const count = parseLength(b, pos + 1, lf - 1);
        if (count === undefined || count < 0) return this.fail("invalid aggregate length");
        return { end: lf + 1, count, kind: type === 37 ? "map" : type === 126 ? "set" : type === 62 ? "push" : "attribute" };
      }
      case 43: // +
        // "+OK", the commonest reply, shares one value object.
        if (lf - pos === 4 && b[pos + 1] === 79 && b[pos + 2] === 75) return { end: lf + 1, value: resp.ok };
        return { end: lf + 1, value: { type: "simple", value: b.toString("latin1", pos + 1, lf - 1) } };
      case 45: // -
        return { end: lf + 1, value: { type: "error", value: b.toString("latin1", pos + 1, lf - 1) } };
      case 58: {
        // :
        const text = b.toString("latin1", pos + 1, lf - 1);
        if (!/^-?\d+$/.test(text)) return this.fail(`invalid integer ${JSON.stringify(text)}`);
        return { end: lf + 1, value: { type: "integer", value: text } };
      }
      case 36: {
        // $
        const len = parseLength(b, pos + 1, lf - 1);
        if (len === undefined || len < -1) return this.fail("invalid bulk length");
        if (len === -1) return { end: lf + 1, value: resp.nullBulk };
        const end = lf + 1 + len + 2;
        if (b.length < end) {
          this.need = end;
          return INCOMPLETE;
        }
        if (b[end - 2] !== CR || b[end - 1] !== LF) return this.fail("bulk string not followed by CRLF");
        return { end, value: { type: "bulk", value: b.subarray(lf + 1, lf + 1 + len) } };
      }
      case 42: {
        // *
        const count = parseLength(b, pos + 1, lf - 1);
        if (count === undefined || count < -1) return this.fail("invalid multibulk length");
        return { end: lf + 1, count, kind: "array" };
      }
      default:
        return this.fail(`unexpected type byte 0x${(type ?? 0).toString(16)}`);
    }
  }

  private fail(message: string): never {
    this.failed = true;
    this.pending.clear();
    throw new ProtocolError(`Protocol error: ${message}`);
  }
}

const RESP3_NULL: RespValue = { type: "null" };

/** An aggregate's value from its elements (an attribute's last element is the value it annotates). */
function aggregate(kind: Aggregate, items: RespValue[]): RespValue {
  switch (kind) {
    case "array":
      return { type: "array", value: items };
    case "attribute":
      return { type: "attribute", value: items.slice(0, -1), then: items[items.length - 1]! };
    default:
      return { type: kind, value: items };
  }
}

/** A reply frame: its exact bytes, and its value. */
export interface Frame {
  readonly raw: Buffer;
  readonly value: RespValue;
}

/** A frame whose value is read from its bytes on first use (most frames are forwarded, never read). */
export class RawFrame implements Frame {
  private decoded: RespValue | undefined;

  constructor(readonly raw: Buffer) {}

  get value(): RespValue {
    return (this.decoded ??= decodeReply(this.raw));
  }
}

/** The value of one complete reply frame. */
export function decodeReply(raw: Buffer): RespValue {
  let value: RespValue | undefined;
  new ReplyParser((v) => (value = v)).feed(raw);
  if (value === undefined) throw new ProtocolError("Protocol error: incomplete reply frame");
  return value;
}

export type FrameBoundsHandler = (b: Buffer, start: number, end: number) => void;

/**
 * Reply frames from a byte stream by their boundaries only, with no values built: what a relay
 * needs (the RESP listener forwards the bytes; decodeReply reads a value where one is needed). A
 * frame is handed over as b[start, end): a range of the received chunk when it arrived in one
 * piece, else a buffer joining its pieces. The same checks as ReplyParser; linear in the bytes
 * received however they are split (a frame's finished pieces are kept, never scanned again).
 */
export class ReplyScanner {
  private readonly pending = new Pending();
  /** Pieces of the frame in progress from earlier chunks. */
  private pieces: Buffer[] = [];
  private piecesLength = 0;
  /** Elements still to read before the frame in progress is complete; 0 between frames. */
  private remaining = 0;
  private failed = false;
  private need = 0;

  constructor(private readonly onFrame: FrameBoundsHandler) {}

  /** Feed bytes; throws ProtocolError on bytes that are not RESP (the stream is then unusable). */
  feed(chunk: Buffer): void {
    if (this.failed) return;
    if (!this.pending.push(chunk)) return;
    const b = this.pending.take();
    let pos = 0;
    let frameStart = 0;
    while (pos < b.length) {
      // One element: a frame is one element, or an array header and the elements it counts.
      if (this.remaining === 0) this.remaining = 1;
      const end = this.element(b, pos);
      if (end < 0) break;
      pos = end;
      if (this.remaining > 0) continue;
      if (this.pieces.length === 0) this.onFrame(b, frameStart, pos);
      else {
        this.pieces.push(b.subarray(0, pos));
        const joined = Buffer.concat(this.pieces, this.piecesLength + pos);
        this.pieces = [];
        this.piecesLength = 0;
        this.onFrame(joined, 0, joined.length);
      }
      frameStart = pos;
    }
    if (pos > frameStart) {
      this.pieces.push(b.subarray(frameStart, pos));
      this.piecesLength += pos - frameStart;
    }
    this.pending.keep(b.subarray(pos), this.need === 0 ? 0 : this.need - pos);
  }

  /** Reads the element at `pos` and updates `remaining`; its end, or -1 when it is not all here. */
  private element(b: Buffer, pos: number): number {
    this.need = 0;
    const lf = b.indexOf(LF, pos + 1);
    if (lf === -1) return -1;
    if (b[lf - 1] !== CR) this.fail("expected CRLF");
    switch (b[pos]) {
      case 43: // +
      case 45: // -
      case 44: // , (RESP3 double)
        break;
      case 95: // _ (RESP3 null)
        if (lf - pos !== 2) this.fail("invalid null");
        break;
      case 35: // # (RESP3 boolean)
        if (lf - pos !== 3 || (b[pos + 1] !== 116 && b[pos + 1] !== 102)) this.fail("invalid boolean");
        break;
      case 58: // :
      case 40: // ( (RESP3 big number)
        if (!isInteger(b, pos + 1, lf - 1)) this.fail(`invalid integer ${JSON.stringify(b.toString("latin1", pos + 1, lf - 1))}`);
        break;
      case 36: // $
      case 33: // ! (RESP3 blob error)
      case 61: {
        // = (RESP3 verbatim string)
        const len = parseLength(b, pos + 1, lf - 1);
        if (len === undefined || len < (b[pos] === 36 ? -1 : 0)) this.fail("invalid bulk length");
        if (len === -1) break;
        const end = lf + 1 + len + 2;
        if (b.length < end) {
          this.need = end;
          return -1;
        }
        if (b[end - 2] !== CR || b[end - 1] !== LF) this.fail("bulk string not followed by CRLF");
        this.remaining--;
        return end;
      }
      case 42: {
        // *
        const count = parseLength(b, pos + 1, lf - 1);
        if (count === undefined || count < -1) this.fail("invalid multibulk length");
        if (count > 0) this.remaining += count;
        break;
      }
      case 126: // ~ (RESP3 set)
      case 62: // > (RESP3 push)
      case 37: // % (RESP3 map: pairs)
      case 124: {
        // | (RESP3 attribute: pairs, then the value it annotates, all one element)
        const count = parseLength(b, pos + 1, lf - 1);
        if (count === undefined || count < 0) this.fail("invalid aggregate length");
        this.remaining += b[pos] === 37 ? 2 * count : b[pos] === 124 ? 2 * count + 1 : count;
        break;
      }
      default:
        this.fail(`unexpected type byte 0x${(b[pos] ?? 0).toString(16)}`);
    }
    this.remaining--;
    return lf + 1;
  }

  private fail(message: string): never {
    this.failed = true;
    this.pending.clear();
    throw new ProtocolError(`Protocol error: ${message}`);
  }
}

/** An integer reply's text: an optional minus and at least one digit. */
function isInteger(b: Buffer, start: number, end: number): boolean {
  if (b[start] === 45 /* - */) start++;
  if (end <= start) return false;
  for (let i = start; i < end; i++) if (b[i]! < 48 || b[i]! > 57) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Commands (from apps)

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
      if (p === digits || (b[digits] === 48 && p - digits > 1) || len > this.limits.maxBulkLength || bytes > this.limits.maxQueryBuffer || b[p] !== CR || b[p + 1] !== LF) return -1;
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
    if (count > this.limits.maxArgs) this.limit("max_args", `command has ${count} arguments, more than limits.redis.maxArgs (${this.limits.maxArgs})`);
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
    if (len > this.limits.maxBulkLength) this.limit("max_bulk_length", `argument of ${len} bytes, more than limits.redis.maxBulkLength (${this.limits.maxBulkLength})`);
    if (this.argBytes + len > this.limits.maxQueryBuffer) this.limit("query_buffer", `command of more than limits.redis.maxQueryBuffer (${this.limits.maxQueryBuffer} bytes)`);
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
    if (args.length > this.limits.maxArgs) this.limit("max_args", `command has ${args.length} arguments, more than limits.redis.maxArgs (${this.limits.maxArgs})`);
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

const isSpace = (c: number | undefined) => c === 32 || c === 10 || c === 13 || c === 9 || c === 11 || c === 12;
const isHex = (c: number | undefined) => c !== undefined && ((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70));
const hexVal = (c: number) => (c <= 57 ? c - 48 : (c | 32) - 87);
const ESCAPES: Record<number, number> = { 110: 10, 114: 13, 116: 9, 98: 8, 97: 7 };

/** Redis' sdssplitargs: words, "double quotes" with \n \xHH escapes, 'single quotes'. undefined: unbalanced quotes. */
export function splitArgs(line: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  let p = 0;
  const n = line.length;
  for (;;) {
    while (p < n && isSpace(line[p])) p++;
    // A NUL ends the line, as the end of Redis' C string does (it looped forever here before).
    if (p >= n || line[p] === 0) return out;
    const cur: number[] = [];
    let inq = false;
    let insq = false;
    for (;;) {
      const c = line[p];
      if (inq) {
        if (p >= n || c === 0) return undefined;
        if (c === 92 && line[p + 1] === 120 && isHex(line[p + 2]) && isHex(line[p + 3])) {
          cur.push(hexVal(line[p + 2]!) * 16 + hexVal(line[p + 3]!));
          p += 3;
        } else if (c === 92 && p + 1 < n) {
          p++;
          const e = line[p]!;
          cur.push(ESCAPES[e] ?? e);
        } else if (c === 34) {
          // The closing quote must be followed by a space or nothing.
          if (p + 1 < n && line[p + 1] !== 0 && !isSpace(line[p + 1])) return undefined;
          p++;
          break;
        } else cur.push(c!);
      } else if (insq) {
        if (p >= n || c === 0) return undefined;
        if (c === 92 && line[p + 1] === 39) {
          p++;
          cur.push(39);
        } else if (c === 39) {
          if (p + 1 < n && line[p + 1] !== 0 && !isSpace(line[p + 1])) return undefined;
          p++;
          break;
        } else cur.push(c!);
      } else {
        if (p >= n || isSpace(c) || c === 0) break;
        if (c === 34) inq = true;
        else if (c === 39) insq = true;
        else cur.push(c!);
      }
      p++;
    }
    out.push(Buffer.from(cur));
  }
}
