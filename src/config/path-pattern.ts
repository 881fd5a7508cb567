/**
 * The regular expressions of `allow` / `deny` rules, compiled by RE2 (re2js, pure JavaScript): the
 * time to match grows linearly with the path whatever the pattern, so a rule such as `^/(a+)+$` cannot
 * stall the process on a crafted path. RE2 syntax has no lookaround and no backreferences; a pattern it
 * cannot take is a config problem that says why.
 */
import { RE2JS } from "re2js";

/** Far above any useful path rule; bounds the compiled program too. */
export const MAX_PATTERN_LENGTH = 4096;

export interface PathPattern {
  /** True when the pattern matches anywhere in `path` (as RegExp.test: anchor with ^ and $). */
  test(path: string): boolean;
}

/** Why `source` is not a usable path pattern, or undefined when it is. */
export function pathPatternProblem(source: string): string | undefined {
  if (source.length > MAX_PATTERN_LENGTH) return `regular expression is longer than ${MAX_PATTERN_LENGTH} characters`;
  try {
    RE2JS.compile(source);
    return undefined;
  } catch (err) {
    const why = (err as Error).message.replace(/^error parsing regexp: /, "");
    if (!validForJavaScript(source)) return `invalid regular expression: ${why}`;
    return `regular expression not supported by the linear-time engine (RE2: no lookahead, lookbehind, backreferences or possessive repeats): ${why}`;
  }
}

/** Compiling a RegExp never runs it: safe for telling a typo from a feature RE2 lacks. */
function validForJavaScript(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** Compiles a pattern that passed `pathPatternProblem`; throws otherwise. */
export function compilePathPattern(source: string, options: { ignoreCase: boolean }): PathPattern {
  return RE2JS.compile(source, options.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
}
