import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CommandScanner } from "../../../../src/upstreams/redis/http/json-commands.js";

/** What JSON.parse makes of a body, by the API's rules: the commands' bytes, or undefined when refused. */
function reference(text: string): { single: boolean; commands: string[][] } | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!body || typeof body !== "object" || Array.isArray(body) || Object.keys(body).length !== 1) return undefined;
  const { command, pipeline } = body as { command?: unknown; pipeline?: unknown };
  const list = command !== undefined ? [command] : pipeline;
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const commands: string[][] = [];
  for (const c of list) {
    if (!Array.isArray(c) || c.length === 0) return undefined;
    const args: string[] = [];
    for (const a of c) {
      if (typeof a === "string") args.push(Buffer.from(a, "utf8").toString("hex"));
      else if (typeof a === "number" && Number.isFinite(a)) args.push(Buffer.from(String(a)).toString("hex"));
      else if (
        a &&
        typeof a === "object" &&
        !Array.isArray(a) &&
        Object.keys(a).length === 1 &&
        typeof (a as { base64?: unknown }).base64 === "string" &&
        /^[A-Za-z0-9+/]*={0,2}$/.test((a as { base64: string }).base64)
      )
        args.push(Buffer.from((a as { base64: string }).base64, "base64").toString("hex"));
      else return undefined;
    }
    commands.push(args);
  }
  return { single: command !== undefined, commands };
}

/** The scanner over `body` cut at `cuts`; undefined when it refuses. */
async function scan(body: Buffer, cuts: number[], maxArgs = 1_000_000): Promise<{ single: boolean; commands: string[][] } | undefined> {
  const scanner = new CommandScanner("/r", maxArgs);
  try {
    let from = 0;
    for (const cut of [...cuts.filter((c) => c > 0 && c < body.length).sort((a, b) => a - b), body.length]) {
      scanner.feed(body.subarray(from, cut));
      from = cut;
    }
    scanner.end();
    const commands = await scanner.decode(body, Infinity);
    return { single: scanner.single, commands: commands.map((c) => c.map((a) => a.toString("hex"))) };
  } catch {
    return undefined;
  }
}

const arg = fc.oneof(
  fc.string({ unit: "grapheme" }),
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.uint8Array().map((b) => ({ base64: Buffer.from(b).toString("base64") })),
);
const command = fc.array(arg, { minLength: 1, maxLength: 5 });
const body = fc.oneof(
  command.map((c) => ({ command: c })),
  fc.array(command, { minLength: 1, maxLength: 4 }).map((p) => ({ pipeline: p })),
);

describe("CommandScanner", () => {
  it("property: any valid body, split anywhere and spaced any way, gives what JSON.parse gives", async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.array(fc.nat(400)), fc.boolean(), async (value, cuts, spaced) => {
        const text = JSON.stringify(value, null, spaced ? 2 : undefined);
        const expected = reference(text);
        expect(expected).toBeDefined();
        expect(await scan(Buffer.from(text), cuts)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("property: any text at all is refused exactly when JSON.parse's reading refuses it, and otherwise read the same", async () => {
    const pieces = fc.constantFrom(
      '{"command":',
      '{"pipeline":',
      "[",
      "]",
      "{",
      "}",
      ",",
      ":",
      '"a"',
      '"\\u00e9"',
      '"\\"',
      "1",
      "-0.5e3",
      "01",
      "true",
      "null",
      '{"base64":"AA=="}',
      '{"base64":"*"}',
      " ",
      '"base64"',
      "x",
    );
    await fc.assert(
      fc.asyncProperty(fc.array(pieces, { maxLength: 14 }), fc.array(fc.nat(60)), async (parts, cuts) => {
        const text = parts.join("");
        expect(await scan(Buffer.from(text), cuts)).toEqual(reference(text));
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses a body past maxArgs as soon as the argument one too many arrives, not at its end", () => {
    const scanner = new CommandScanner("/r", 1000);
    const chunk = Buffer.from(',""'.repeat(10_000));
    scanner.feed(Buffer.from('{"command":["SET"'));
    expect(() => scanner.feed(chunk)).toThrow(/more than 1000 arguments/);
    // A pipeline's commands count too: 400 commands of 2 arguments are 1200.
    const pipeline = new CommandScanner("/r", 1000);
    pipeline.feed(Buffer.from('{"pipeline":[["PING"]'));
    expect(() => pipeline.feed(Buffer.from(',["GET",1]'.repeat(400)))).toThrow(/more than 1000 arguments/);
    // An empty command is refused as soon as it closes.
    expect(() => new CommandScanner("/r", 1000).feed(Buffer.from('{"pipeline":[[]'))).toThrow(/non-empty array/);
  });

  it("says where the body is wrong", async () => {
    const refused = (text: string) => {
      const scanner = new CommandScanner("/r", 10);
      try {
        scanner.feed(Buffer.from(text));
        scanner.end();
      } catch (err) {
        return (err as Error).message;
      }
      return "accepted";
    };
    expect(refused('{"command": ["GET", true]}')).toMatch(/argument must be a string, a number or \{"base64": "..."\} \(at byte 20\)/);
    expect(refused('{"command": []}')).toMatch(/non-empty array/);
    expect(refused('{"pipeline": []}')).toMatch(/pipeline must be a non-empty array/);
    expect(refused('{"command": ["GET"], "pipeline": [["GET"]]}')).toMatch(/must be \{"command"/);
    expect(refused('{"command": ["GET"]')).toMatch(/ends too early/);
    expect(refused('{"command": ["GET"]} x')).toMatch(/after the body|unexpected/);
    expect(refused('{"command": ["GET"]}')).toBe("accepted");
  });
});
