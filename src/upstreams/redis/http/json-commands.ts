/**
 * JSON command bodies of the Redis HTTP API, checked as their bytes arrive (see http-body.ts): the API's
 * only grammar, {"command": [arg, ...]} or {"pipeline": [[arg, ...], ...]}, an argument being a
 * string, a number or {"base64": "..."}. The scan keeps where each argument is; the arguments are
 * made afterwards in slices, with a turn of the event loop between slices, so that no request holds
 * the loop for long.
 */
import { AttacheError } from "../../../errors.js";

/** Arguments decoded per turn of the event loop. */
const SLICE = 1024;

const STRING = 0;
const ESCAPED = 1;
const NUMBER = 2;
const BASE64 = 3;

/** Where the scan is in the grammar. */
enum G {
  Body,
  Key,
  Colon,
  Member,
  AfterMember,
  Done,
  FirstArg,
  Arg,
  AfterArg,
  B64Key,
  B64Colon,
  B64Value,
  B64End,
  FirstCommand,
  Command,
  AfterCommand,
}

const SHAPE = 'the body must be {"command": [...]} or {"pipeline": [[...], ...]}';
const ARG = 'an argument must be a string, a number or {"base64": "..."}';

/** The streaming scan: grammar and counts as bytes arrive; arguments' places kept for decode(). */
export class CommandScanner {
  single = true;
  /** Per argument: start, end (absolute byte offsets, strings with their quotes), kind. */
  private readonly refs: number[] = [];
  /** Per command: its number of arguments. */
  private readonly sizes: number[] = [];
  private g = G.Body;
  private offset = 0;
  private inString = false;
  private backslash = false;
  private escaped = false;
  private inNumber = false;
  private start = 0;
  /** The bytes of a key being read (they are short: longer ones are wrong anyway). */
  private key = "";
  private args = 0;
  private count = 0;

  constructor(
    private readonly route: string,
    private readonly maxArgs: number,
  ) {}

  feed(chunk: Buffer): void {
    const base = this.offset;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.inString) {
        if (this.backslash) this.backslash = false;
        else if (c === 0x5c) this.backslash = this.escaped = true;
        else if (c === 0x22) {
          this.inString = false;
          this.string(base + i + 1);
        } else if (c < 0x20) throw this.bad("a control character inside a string", base + i);
        else if ((this.g === G.Key || this.g === G.B64Key) && this.key.length <= 16) this.key += String.fromCharCode(c);
        continue;
      }
      if (this.inNumber) {
        if ((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x2b || c === 0x65 || c === 0x45) continue;
        this.inNumber = false;
        this.arg(base + i, NUMBER);
      }
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
      this.token(c, base + i);
    }
    this.offset += chunk.length;
  }

  /** The body ended: it must be whole. */
  end(): void {
    if (this.inNumber) {
      this.inNumber = false;
      this.arg(this.offset, NUMBER);
    }
    if (this.g !== G.Done) throw this.bad("the body ends too early", this.offset);
  }

  /** The arguments, made from the whole body in slices (a turn of the event loop between them). */
  async decode(body: Buffer, maxBulkLength: number): Promise<Buffer[][]> {
    const out: Buffer[][] = [];
    let r = 0;
    let made = 0;
    for (const size of this.sizes) {
      const command: Buffer[] = new Array(size);
      for (let j = 0; j < size; j++, r += 3) {
        const arg = this.make(body, this.refs[r]!, this.refs[r + 1]!, this.refs[r + 2]!);
        if (arg.length > maxBulkLength)
          throw tooLarge(this.route, `an argument is larger than ${maxBulkLength} bytes (limits.redis.maxBulkLength)`);
        command[j] = arg;
        if (++made % SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      out.push(command);
    }
    return out;
  }

  private make(body: Buffer, start: number, end: number, kind: number): Buffer {
    switch (kind) {
      case STRING:
        return body.subarray(start + 1, end - 1);
      case ESCAPED:
        return Buffer.from(this.parse(body, start, end) as string, "utf8");
      case NUMBER: {
        const text = body.toString("latin1", start, end);
        const n = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text) ? Number(text) : NaN;
        if (!Number.isFinite(n)) throw this.bad(`${JSON.stringify(text.slice(0, 40))} is not a finite number`, start);
        return Buffer.from(String(n));
      }
      default: {
        const text = body.toString("latin1", start + 1, end - 1);
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw this.bad("base64 must hold only A-Z a-z 0-9 + / and = padding", start);
        return Buffer.from(text, "base64");
      }
    }
  }

  private parse(body: Buffer, start: number, end: number): unknown {
    try {
      return JSON.parse(body.toString("utf8", start, end));
    } catch {
      throw this.bad("a malformed string escape", start);
    }
  }

  /** A string ended at `end` (after its closing quote). */
  private string(end: number): void {
    const key = this.key;
    this.key = "";
    switch (this.g) {
      case G.Key:
        if (key !== "command" && key !== "pipeline") throw this.bad(SHAPE, this.start);
        this.single = key === "command";
        this.g = G.Colon;
        return;
      case G.FirstArg:
      case G.Arg:
        this.arg(end, this.escaped ? ESCAPED : STRING);
        return;
      case G.B64Key:
        if (key !== "base64") throw this.bad(ARG, this.start);
        this.g = G.B64Colon;
        return;
      case G.B64Value:
        // An escape in base64 is refused by make(): base64 has no character that needs one.
        this.refs.push(this.start, end, BASE64);
        this.g = G.B64End;
        return;
      default:
        throw this.bad("a string where none belongs", this.start);
    }
  }

  private arg(end: number, kind: number): void {
    this.refs.push(this.start, end, kind);
    this.g = G.AfterArg;
  }

  /** One more argument or command against maxArgs, refused as soon as it is one too many. */
  private counted(): void {
    if (++this.count > this.maxArgs)
      throw tooLarge(this.route, `more than ${this.maxArgs} arguments in one request (limits.redis.maxArgs)`);
  }

  private token(c: number, at: number): void {
    const g = this.g;
    if ((g === G.Body && c !== 0x7b) || (g === G.Member && c !== 0x5b)) throw this.bad(SHAPE, at);
    if (c === 0x22) {
      // A string: what it is depends on where it is (string()).
      if (g !== G.Key && g !== G.FirstArg && g !== G.Arg && g !== G.B64Key && g !== G.B64Value)
        throw this.bad("a string where none belongs", at);
      if (g === G.FirstArg || g === G.Arg) {
        this.counted();
        this.args++;
      }
      this.inString = true;
      this.escaped = false;
      this.start = at;
      return;
    }
    if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
      if (g !== G.FirstArg && g !== G.Arg) throw this.bad(g === G.Done ? "bytes after the body" : "a number where none belongs", at);
      this.counted();
      this.args++;
      this.inNumber = true;
      this.start = at;
      return;
    }
    switch (c) {
      case 0x7b: // {
        if (g === G.Body) this.g = G.Key;
        else if (g === G.FirstArg || g === G.Arg) {
          this.counted();
          this.args++;
          this.g = G.B64Key;
        } else throw this.bad("an object where none belongs", at);
        return;
      case 0x7d: // }
        if (g === G.AfterMember) this.g = G.Done;
        else if (g === G.B64End) this.g = G.AfterArg;
        else throw this.bad(g === G.Key ? SHAPE : g === G.B64Key ? ARG : "a } where none belongs", at);
        return;
      case 0x3a: // :
        if (g === G.Colon) this.g = G.Member;
        else if (g === G.B64Colon) this.g = G.B64Value;
        else throw this.bad("a : where none belongs", at);
        return;
      case 0x5b: // [
        if (g === G.Member) this.g = this.single ? G.FirstArg : G.FirstCommand;
        else if (g === G.FirstCommand || g === G.Command) {
          this.counted();
          this.g = G.FirstArg;
        } else throw this.bad(g === G.FirstArg || g === G.Arg ? ARG : "a [ where none belongs", at);
        this.args = 0;
        return;
      case 0x5d: // ]
        if (g === G.AfterArg) {
          this.sizes.push(this.args);
          this.g = this.single ? G.AfterMember : G.AfterCommand;
        } else if (g === G.AfterCommand) this.g = G.AfterMember;
        else
          throw this.bad(
            g === G.FirstArg
              ? 'a command must be a non-empty array such as ["GET", "key"]'
              : g === G.FirstCommand
                ? "pipeline must be a non-empty array of commands"
                : "a ] where none belongs",
            at,
          );
        return;
      case 0x2c: // ,
        if (g === G.AfterArg) this.g = G.Arg;
        else if (g === G.AfterCommand) this.g = G.Command;
        else if (g === G.AfterMember) throw this.bad(SHAPE, at);
        else throw this.bad("a , where none belongs", at);
        return;
      default:
        throw this.bad(
          g === G.FirstArg || g === G.Arg ? ARG : g === G.Member ? SHAPE : `unexpected ${JSON.stringify(String.fromCharCode(c))}`,
          at,
        );
    }
  }

  private bad(what: string, at: number): AttacheError {
    return new AttacheError("bad_request", `route ${this.route}: ${what} (at byte ${at})`, { route: this.route });
  }
}

/** body_too_large for the route. */
export function tooLarge(route: string, what: string): AttacheError {
  return new AttacheError("body_too_large", `route ${route}: ${what}`, { route });
}
