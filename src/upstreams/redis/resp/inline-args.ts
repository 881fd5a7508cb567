/** The arguments of an inline command line, split as Redis' sdssplitargs splits them. */

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
