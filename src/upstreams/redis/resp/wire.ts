/**
 * What the RESP parsers share: the bytes CR/LF, Redis' own limits and protocol error, strict length
 * parsing, and the chunk buffer that keeps every parser linear in the bytes it receives, however the
 * stream is split: a value whose length is known (a bulk string) is gathered as a list of chunks and
 * joined once, a line waits for a newline before anything is joined (no quadratic
 * buffering).
 */

export const CRLF = Buffer.from("\r\n");
export const CR = 13;
export const LF = 10;

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

/** A parser's step found the element at hand not all received yet. */
export const INCOMPLETE = Symbol("incomplete");

/**
 * Holds the bytes not consumed yet as a list of chunks and joins them only when the parser can make
 * progress: `need` bytes in total (a bulk of known length) or a newline in the newest chunk (a line).
 */
export class Pending {
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
export function parseLength(b: Buffer, start: number, end: number): number | undefined {
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

/** An integer reply's text: an optional minus and at least one digit. */
export function isInteger(b: Buffer, start: number, end: number): boolean {
  if (b[start] === 45 /* - */) start++;
  if (end <= start) return false;
  for (let i = start; i < end; i++) if (b[i]! < 48 || b[i]! > 57) return false;
  return true;
}
