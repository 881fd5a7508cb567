/**
 * Replies as the Redis HTTP API gives them: JSON that keeps Redis' types (integers are numbers,
 * strings past 2^53; nil is null; a bulk string that is not UTF-8 is {"base64": "..."}), pub/sub
 * messages as server-sent events, and keys in paths percent-decoded to bytes.
 */
import { isUtf8 } from "node:buffer";
import type { RespValue } from "../resp/value.js";

/** A RESP value as JSON, keeping its type (see the file comment). */
export function toJson(v: RespValue): unknown {
  switch (v.type) {
    case "simple":
      return Buffer.from(v.value, "latin1").toString("utf8");
    case "error":
      return { error: Buffer.from(v.value, "latin1").toString("utf8") };
    case "integer": {
      const n = Number(v.value);
      return Number.isSafeInteger(n) ? n : v.value;
    }
    case "bulk":
      if (v.value === null) return null;
      return isUtf8(v.value) ? v.value.toString("utf8") : { base64: v.value.toString("base64") };
    case "array":
      return v.value === null ? null : v.value.map(toJson);
  }
}

/** Percent-decoding to bytes (a key need not be UTF-8); undefined on a malformed escape. */
export function percentDecode(text: string): Buffer | undefined {
  const raw = Buffer.from(text, "utf8");
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== 37) {
      out[n++] = c;
      continue;
    }
    const hex = raw.toString("latin1", i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    out[n++] = parseInt(hex, 16);
    i += 2;
  }
  return out.subarray(0, n);
}

/**
 * A pub/sub message as one server-sent event, in bytes: `data:` is {"channel", "message"} (and
 * "pattern") as toJson gives them. Made as one buffer of its own size, with no string in between:
 * what a slow subscriber holds is what its output limit counts, and large messages make no garbage
 * strings (see output-limit.ts).
 */
export function sseEvent(v: RespValue): Buffer | undefined {
  if (v.type !== "array" || !v.value) return undefined;
  const [kind, ...rest] = v.value;
  const name = kind?.type === "bulk" ? kind.value?.toString("latin1") : undefined;
  const fields =
    name === "message" && rest.length === 2 ? MESSAGE_FIELDS : name === "pmessage" && rest.length === 3 ? PMESSAGE_FIELDS : undefined;
  if (!fields) return undefined;
  const parts: Buffer[] = [EVENT_HEAD];
  for (let i = 0; i < fields.length; i++) {
    parts.push(fields[i]!);
    pushJson(parts, rest[i]!);
  }
  parts.push(EVENT_TAIL);
  return Buffer.concat(parts);
}

const EVENT_HEAD = Buffer.from("event: message\ndata: {");
const EVENT_TAIL = Buffer.from("}\n\n");
const MESSAGE_FIELDS = ['"channel":', ',"message":'].map((f) => Buffer.from(f));
const PMESSAGE_FIELDS = ['"pattern":', ',"channel":', ',"message":'].map((f) => Buffer.from(f));
const QUOTE = Buffer.from('"');

/** JSON.stringify(toJson(v)) as bytes onto `parts`; a UTF-8 bulk string with nothing to escape goes between quotes as it is. */
function pushJson(parts: Buffer[], v: RespValue): void {
  if (v.type === "bulk" && v.value && isUtf8(v.value) && !needsEscape(v.value)) parts.push(QUOTE, v.value, QUOTE);
  else parts.push(Buffer.from(JSON.stringify(toJson(v))));
}

/** Bytes JSON.stringify would escape in a string: control characters, '"' and '\\'. */
function needsEscape(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c < 0x20 || c === 0x22 || c === 0x5c) return true;
  }
  return false;
}
