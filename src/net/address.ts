/** The one parser of network addresses: "host:port", "[v6]:port", a URL's host and port, Host headers. */

/** A host (IPv6 without brackets) and a port. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Ports a URL implies when it names none. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = { "http:": 80, "https:": 443, "redis:": 6379, "rediss:": 6379 };

/**
 * "127.0.0.1:8001", "localhost:8001", "[::1]:8001" → host and port. Without a port, `defaultPort` is
 * used when given; otherwise, as for a bad port, the Error names `field` and what was expected.
 */
export function parseHostPort(text: string, field = "address", defaultPort?: number): HostPort {
  const fail = (why: string): never => {
    throw new Error(`${field}: ${why} in ${JSON.stringify(text)}; expected host:port, e.g. 127.0.0.1:8001 or [::1]:8001`);
  };
  let host: string;
  let rest: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return fail("unclosed [");
    host = text.slice(1, close);
    rest = text.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) return fail("text after ]");
  } else {
    const cut = text.lastIndexOf(":");
    if (cut >= 0 && text.indexOf(":") !== cut) return fail("an IPv6 host needs brackets");
    host = cut < 0 ? text : text.slice(0, cut);
    rest = cut < 0 ? "" : text.slice(cut);
  }
  if (host === "") return fail("no host");
  if (rest === "") return defaultPort !== undefined ? { host, port: defaultPort } : fail("no port");
  return { host, port: parsePort(rest.slice(1), fail) };
}

function parsePort(text: string, fail: (why: string) => never): number {
  if (!/^\d{1,5}$/.test(text)) return fail(text === "" ? "no port" : `port ${JSON.stringify(text)} is not a number`);
  const port = Number(text);
  return port > 65535 ? fail(`port ${port} is above 65535`) : port;
}

/** host and port as one "host:port", IPv6 hosts in brackets (as a URL and parseHostPort write them). */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** A URL's host (IPv6 without brackets) and port, the scheme's default port when it names none. */
export function urlHostPort(url: URL): HostPort {
  const port = url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol];
  if (port === undefined) throw new Error(`${url.protocol}// URL ${url.host} names no port and its scheme has no default`);
  return { host: url.hostname.replace(/^\[|\]$/g, ""), port };
}

/**
 * The host part of a Host header or authority, lower-cased, brackets kept: "localhost:8001" → "localhost",
 * "[::1]:8001" → "[::1]". Never throws (the header is the client's); a malformed one comes back whole.
 */
export function authorityHost(authority: string): string {
  const lower = authority.toLowerCase();
  const end = lower.startsWith("[") ? lower.indexOf("]") + 1 : lower.indexOf(":");
  return end > 0 ? lower.slice(0, end) : lower;
}
