/** RESP encoders: a value (RESP2 or RESP3) as Redis writes it, a command as clients send it, an error line. */
import type { Aggregate, RespValue } from "./value.js";
import { CRLF } from "./wire.js";

const AGGREGATE_BYTE: Record<Aggregate, string> = { array: "*", map: "%", set: "~", push: ">", attribute: "|" };
const LINE_BYTE = { simple: "+", error: "-", integer: ":", double: ",", boolean: "#", bignum: "(" } as const;

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
      writeValue(value.annotated, out);
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
