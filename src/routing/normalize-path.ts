/**
 * Path normalisation, done once per request before routing and policy (DESIGN §3, RFC 3986 §6.2.2):
 * percent-encoded unreserved characters decoded, hex upper-cased, duplicate slashes collapsed, dot
 * segments resolved. Encoded "/", "\", "." and NUL, raw "\", and ".." above the root are refused,
 * because an upstream might decode them into a path that policy never saw.
 */
import { AttacheError } from "../errors.js";

const HEX = /^[0-9A-Fa-f]{2}$/;
const UNRESERVED = /^[A-Za-z0-9\-_~]$/;

/** Split a request target into its normalised path and raw query ("?..." or ""). */
export function normalizeTarget(target: string): { path: string; query: string } {
  const q = target.indexOf("?");
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? "" : target.slice(q);
  return { path: normalizePath(rawPath), query };
}

export function normalizePath(raw: string): string {
  if (raw[0] !== "/") throw bad("request target must be an absolute path");
  // Fast path: nothing to decode, collapse or resolve.
  if (!/%|\/\/|\/\.|\\|#/.test(raw)) return raw;
  if (raw.includes("\\")) throw bad("backslash in path");
  if (raw.includes("#")) throw bad("fragment in request target");
  const decoded = raw.includes("%") ? decodeUnreserved(raw) : raw;
  return resolveDots(decoded);
}

function decodeUnreserved(raw: string): string {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch !== "%") {
      out += ch;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!HEX.test(hex)) throw bad("malformed percent-encoding");
    const char = String.fromCharCode(parseInt(hex, 16));
    if (char === "/" || char === "\\" || char === "." || char === "\0") throw bad(`encoded ${JSON.stringify(char)} in path`);
    out += UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return out;
}

function resolveDots(path: string): string {
  const segments = path.split("/");
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const seg = segments[i]!;
    if (seg === "..") {
      if (out.length === 0) throw bad("path escapes the root");
      out.pop();
      if (i === last) out.push("");
    } else if (seg === ".") {
      if (i === last) out.push("");
    } else if (seg === "") {
      // Empty segments collapse ("//"), but a trailing slash is kept: it can mean something upstream.
      if (i === last) out.push("");
    } else out.push(seg);
  }
  const joined = "/" + out.join("/");
  return joined.replace(/\/{2,}/g, "/");
}

function bad(message: string): AttacheError {
  return new AttacheError("bad_request", `malformed path: ${message}`);
}
