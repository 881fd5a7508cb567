import { describe, expect, it } from "vitest";
import { authorityHost, formatHostPort, parseHostPort, urlHostPort } from "../../../src/net/address.js";

describe("parseHostPort", () => {
  it("reads IPv4, names and bracketed IPv6", () => {
    expect(parseHostPort("127.0.0.1:8001")).toEqual({ host: "127.0.0.1", port: 8001 });
    expect(parseHostPort("localhost:0")).toEqual({ host: "localhost", port: 0 });
    expect(parseHostPort("[::1]:8001")).toEqual({ host: "::1", port: 8001 });
    expect(parseHostPort("[fd00::5]:65535")).toEqual({ host: "fd00::5", port: 65535 });
  });

  it("uses the default port only when one is given", () => {
    expect(parseHostPort("redis", "cluster[0]", 6379)).toEqual({ host: "redis", port: 6379 });
    expect(parseHostPort("[::1]", "cluster[0]", 6379)).toEqual({ host: "::1", port: 6379 });
    expect(() => parseHostPort("redis", "listen")).toThrow(/^listen: no port in "redis"; expected host:port/);
    expect(() => parseHostPort("[::1]", "admin")).toThrow(/^admin: no port/);
    expect(() => parseHostPort("redis:", "listen")).toThrow(/^listen: no port/);
  });

  it("refuses bad ports, naming the field", () => {
    expect(() => parseHostPort("127.0.0.1:70000", "listen")).toThrow(/^listen: port 70000 is above 65535/);
    expect(() => parseHostPort("127.0.0.1:http", "admin")).toThrow(/^admin: port "http" is not a number/);
    expect(() => parseHostPort("127.0.0.1:-1", "admin")).toThrow(/^admin: port "-1" is not a number/);
    expect(() => parseHostPort("127.0.0.1:123456", "admin")).toThrow(/is not a number/);
  });

  it("refuses unbracketed IPv6, a missing host and stray text", () => {
    expect(() => parseHostPort("::1:8001", "listen")).toThrow(/^listen: an IPv6 host needs brackets/);
    expect(() => parseHostPort(":8001", "listen")).toThrow(/^listen: no host/);
    expect(() => parseHostPort("[::1:8001", "listen")).toThrow(/^listen: unclosed \[/);
    expect(() => parseHostPort("[::1]x:8001", "listen")).toThrow(/^listen: text after \]/);
  });

  it("round-trips with formatHostPort", () => {
    for (const text of ["127.0.0.1:1", "[::1]:8001", "redis.default.svc:6379"]) {
      const { host, port } = parseHostPort(text);
      expect(formatHostPort(host, port)).toBe(text);
    }
  });
});

describe("urlHostPort", () => {
  it("gives the scheme's default port when the URL names none", () => {
    expect(urlHostPort(new URL("http://a"))).toEqual({ host: "a", port: 80 });
    expect(urlHostPort(new URL("https://a/x"))).toEqual({ host: "a", port: 443 });
    expect(urlHostPort(new URL("redis://a"))).toEqual({ host: "a", port: 6379 });
    expect(urlHostPort(new URL("rediss://[::1]:7000"))).toEqual({ host: "::1", port: 7000 });
    expect(urlHostPort(new URL("http://[fd00::1]:8080/base"))).toEqual({ host: "fd00::1", port: 8080 });
  });

  it("throws for a scheme without a default port and no port", () => {
    expect(() => urlHostPort(new URL("ftp2://a"))).toThrow(/names no port/);
  });
});

describe("authorityHost", () => {
  it.each([
    ["localhost:8001", "localhost"],
    ["LOCALHOST", "localhost"],
    ["[::1]:8001", "[::1]"],
    ["[::1]", "[::1]"],
    ["", ""],
    ["[", "["],
    [":80", ":80"],
  ])("%j → %j", (authority, host) => {
    expect(authorityHost(authority)).toBe(host);
  });
});
