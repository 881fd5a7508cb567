/**
 * Path normalisation, done once per request before routing and policy (RFC 3986 §6.2.2):
 * percent-encoded unreserved characters decoded, hex upper-cased, duplicate slashes collapsed, dot
 * segments resolved. Encoded "/", "\", "." and NUL, raw "\", "..;"-style segments and ".." above the
 * root are refused, because an upstream might decode them into a path that policy never saw.
 *
 * `lenientForms` is the other half of the defence: the path as the most forgiving upstream could read
 * it (decoded repeatedly, `;params` and trailing dots dropped, ...). Deny rules are checked against
 * both forms (routing/policy.ts), so no encoding, case or slash trick reaches a denied path (test/integration/path-bypass.test.ts).
 */
import { AttacheError } from "../errors.js";

const HEX = /^[0-9A-Fa-f]{2}$/;
const UNRESERVED = /^[A-Za-z0-9\-_~]$/;
/** Anything the strict form has to decode, collapse, resolve or refuse. */
const NEEDS_WORK = /%|\/\/|\/\.|\\|#/;
const MULTI_SLASH = /\/{2,}/g;

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
  if (!NEEDS_WORK.test(raw)) return raw;
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
    } else if (seg.startsWith(".;") || seg.startsWith("..;")) {
      // Servlet containers read "/..;x/" as "/../" (the Tomcat path-parameter bypass).
      throw bad("dot segment with parameters");
    } else out.push(seg);
  }
  const joined = `/${out.join("/")}`;
  return joined.replace(MULTI_SLASH, "/");
}

/** The strict form may read differently to a lenient upstream only when it holds one of these. */
const AMBIGUOUS = /[%;]|\.\/|\.$|.\/$/;
const PERCENT = /%([0-9A-Fa-f]{2})/g;
const BACKSLASH = /\\/g;
const CONTROL_WS = /[\t\n\r]/g;
const CUT = /[\0?#]/;
const TRAILING_SPACES = / +$/;
const TRAILING_DOTS = /[. ]+$/;

/**
 * A normalised path as lenient upstreams could read it: percent-decoded until nothing is left (double
 * encoding), "\\" as "/", tab/CR/LF dropped (WHATWG URL), cut at NUL, "?" or "#", `;params` dropped
 * from each segment (servlet containers) or kept (WHATWG URL), trailing dots and spaces dropped
 * (Windows, IIS), dot segments resolved with empty segments collapsed first ("/a//.." → "/") or
 * counted ("/a//.." → "/a/", as a WHATWG URL does), and no trailing slash (non-strict routers).
 * Returns the readings that differ from the path itself: none in the common case, which costs one
 * regex test.
 */
export function lenientForms(path: string): string[] {
  if (!AMBIGUOUS.test(path)) return [];
  let s = path;
  for (let i = 0; i < 8 && s.includes("%"); i++) {
    const next = s.replace(PERCENT, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === s) break;
    s = next;
  }
  s = s.replace(BACKSLASH, "/").replace(CONTROL_WS, "");
  const cut = s.search(CUT);
  if (cut !== -1) s = s.slice(0, cut);
  // Upstreams differ in ways that matter: a forgiving server drops `;params` (servlet containers) and
  // trailing dots and spaces (Windows, IIS) before it resolves dot segments; a WHATWG URL parser keeps
  // every segment as it is ("..;x" and ".. " are names, not dot segments). Either may or may not count
  // an empty segment. Every combination is a reading a deny rule must see.
  const segments = s.split("/").slice(1);
  const forms = new Set<string>();
  for (const forgiving of [true, false]) {
    for (const emptyIsSegment of [false, true]) forms.add(resolveLeniently(segments, forgiving, emptyIsSegment));
  }
  forms.delete(path);
  return [...forms];
}

function resolveLeniently(segments: readonly string[], forgiving: boolean, emptyIsSegment: boolean): string {
  const out: string[] = [];
  for (const segment of segments) {
    let seg = segment;
    if (forgiving) {
      const semi = seg.indexOf(";");
      if (semi !== -1) seg = seg.slice(0, semi);
      seg = seg.replace(TRAILING_SPACES, "");
    }
    if (seg === "..") out.pop();
    else if (seg === "." || (seg === "" && !emptyIsSegment)) continue;
    else out.push(forgiving ? seg.replace(TRAILING_DOTS, "") : seg);
  }
  return `/${out.filter((seg) => seg !== "").join("/")}`;
}

function bad(message: string): AttacheError {
  return new AttacheError("bad_request", `malformed path: ${message}`);
}
