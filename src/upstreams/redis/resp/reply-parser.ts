/**
 * Reply values from Redis' byte stream: a resumable parser that keeps every reply type exactly (status
 * vs bulk, null bulk vs null array, errors nested in arrays, and RESP3's maps, sets, doubles, booleans,
 * big numbers, nulls, blob errors, verbatim strings, attributes and pushes). The nesting of arrays is
 * kept on an explicit stack so a partly received array is never parsed twice.
 */
import { encodeValue } from "./encoder.js";
import { resp, type Aggregate, type Frame, type RespValue } from "./value.js";
import { CR, INCOMPLETE, LF, Pending, parseLength, ProtocolError } from "./wire.js";

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
      return { type: "attribute", value: items.slice(0, -1), annotated: items[items.length - 1]! };
    default:
      return { type: kind, value: items };
  }
}

/** A frame whose value is read from its bytes on first use (most frames are forwarded, never read). */
export class RawFrame implements Frame {
  private decoded: RespValue | undefined;

  constructor(readonly raw: Buffer) {}

  get value(): RespValue {
    this.decoded ??= decodeReply(this.raw);
    return this.decoded;
  }
}

/** The value of one complete reply frame. */
export function decodeReply(raw: Buffer): RespValue {
  let value: RespValue | undefined;
  new ReplyParser((v) => (value = v)).feed(raw);
  if (value === undefined) throw new ProtocolError("Protocol error: incomplete reply frame");
  return value;
}
