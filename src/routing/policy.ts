/** Route policy: allowed methods and allow/deny path rules (deny wins), checked on the forwarded path. */
import { AttacheError } from "../errors.js";
import { compilePathPattern, type PathPattern } from "../config/path-pattern.js";
import type { PathRuleConfig } from "../config/schema.js";
import { lenientForms } from "./normalize-path.js";

interface CompiledRule {
  /** RE2: linear in the path, whatever the pattern (config/path-pattern.ts). */
  regex: PathPattern;
  methods: ReadonlySet<string> | undefined;
}

export class RoutePolicy {
  private readonly methods: ReadonlySet<string> | undefined;
  private readonly allowHeader: string | undefined;
  private readonly allow: CompiledRule[] | undefined;
  private readonly deny: CompiledRule[];

  constructor(
    private readonly route: string,
    config: {
      methods?: readonly string[] | undefined;
      allow?: readonly PathRuleConfig[] | undefined;
      deny?: readonly PathRuleConfig[] | undefined;
    },
  ) {
    this.methods = config.methods && new Set(config.methods);
    this.allowHeader = config.methods?.join(", ");
    // Deny rules ignore case: a case-insensitive upstream must not be reachable at /EXEC when /exec is denied.
    this.deny = (config.deny ?? []).map((r) => compile(r, true));
    this.allow = config.allow?.map((r) => compile(r, false));
  }

  /**
   * Throws method_not_allowed or path_denied; `path` is the normalised path after the prefix.
   * Deny rules see the path and its lenient readings (normalize-path.ts): whatever an upstream could
   * decode the path into, a deny rule on that is a deny. Allow rules see the path only, so that
   * leniency never widens what is allowed.
   */
  check(method: string, path: string): void {
    if (this.methods && !this.methods.has(method)) {
      throw new AttacheError("method_not_allowed", `route ${this.route}: method ${method} is not allowed (allowed: ${this.allowHeader})`, {
        route: this.route,
      });
    }
    if (this.deny.length > 0) {
      const lenient = lenientForms(path);
      for (const rule of this.deny) {
        if (applies(rule, method, path) || lenient.some((form) => applies(rule, method, form))) throw denied(this.route, method, path);
      }
    }
    if (this.allow && !this.allow.some((rule) => applies(rule, method, path))) throw denied(this.route, method, path);
  }

  /** The Allow header for a 405. */
  get allowedMethods(): string | undefined {
    return this.allowHeader;
  }
}

function compile(rule: PathRuleConfig, ignoreCase: boolean): CompiledRule {
  return { regex: compilePathPattern(rule.path, { ignoreCase }), methods: rule.methods && new Set(rule.methods) };
}

function applies(rule: CompiledRule, method: string, path: string): boolean {
  return (!rule.methods || rule.methods.has(method)) && rule.regex.test(path);
}

function denied(route: string, method: string, path: string): AttacheError {
  return new AttacheError("path_denied", `route ${route}: ${method} ${path} is denied by policy`, { route });
}
