/** allow/deny patterns: RE2 syntax, and a clear reason for what the linear-time engine cannot take. */
import { describe, expect, it } from "vitest";
import { compilePathPattern, pathPatternProblem } from "../../../src/config/path-pattern.js";

describe("path patterns", () => {
  it("accepts the usual path rules", () => {
    for (const p of ["^/admin(?:/|$)", String.raw`\.json$`, "pods/[^/]+/exec", String.raw`^/v\d+/`, "(?i)secret", "^/(a+)+$"])
      expect(pathPatternProblem(p)).toBeUndefined();
  });

  it("says why a pattern is refused: a typo, or a feature RE2 lacks", () => {
    expect(pathPatternProblem("(")).toBe("invalid regular expression: missing closing ): `(`");
    expect(pathPatternProblem("^/(?=admin)")).toMatch(
      /^regular expression not supported by the linear-time engine \(RE2: .*\): invalid or unsupported Perl syntax: `\(\?=`$/,
    );
    expect(pathPatternProblem(String.raw`^/(\w+)/\1$`)).toMatch(/not supported by the linear-time engine .*invalid escape sequence: `\\1`/);
    expect(pathPatternProblem("x".repeat(5000))).toBe("regular expression is longer than 4096 characters");
  });

  it("matches anywhere unless anchored, and ignores case when asked", () => {
    const deny = compilePathPattern("pods/[^/]+/exec", { ignoreCase: true });
    expect(deny.test("/api/v1/namespaces/a/pods/p/EXEC")).toBe(true);
    expect(compilePathPattern("pods/[^/]+/exec", { ignoreCase: false }).test("/pods/p/EXEC")).toBe(false);
    expect(compilePathPattern("^/a$", { ignoreCase: false }).test("/a/b")).toBe(false);
  });
});
