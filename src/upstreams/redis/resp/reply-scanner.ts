/** Reply frame boundaries in Redis' byte stream, with no values built: what the shared connection's tap needs. */
import { CR, isInteger, LF, Pending, parseLength, ProtocolError } from "./wire.js";

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
