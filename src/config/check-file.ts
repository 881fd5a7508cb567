/** The per-file steps of validation: schema problems (with "did you mean"), then the files a config names. */
import { homedir } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { closest, distance } from "fastest-levenshtein";
import type { z } from "zod";
import { KUBECONFIG_MAX_BYTES, kubeconfigReferences, type KubeconfigReferences } from "./kubeconfig-references.js";
import type { SourceFile } from "./load.js";
import { at } from "./problem-at.js";
import { formatPath, type ConfigProblem } from "./problems.js";
import { rootSchema, routeFileSchema, type RootFileConfig, type RouteFileConfig } from "./schema.js";
import { SECRET_FILE_MAX_BYTES, secretFileProblem } from "./secrets.js";

export interface CheckedFile<T> {
  source: SourceFile;
  value: T | undefined;
  problems: ConfigProblem[];
}

export function checkRootFile(source: SourceFile): CheckedFile<RootFileConfig> {
  return checkFile(source, rootSchema);
}

export function checkRouteFile(source: SourceFile): CheckedFile<RouteFileConfig> {
  return checkFile(source, routeFileSchema);
}

/** zod hides the schema from final issues; the error map keeps the known keys for "did you mean". */
const KNOWN_KEYS = "\u0000known:";

function checkFile<S extends z.ZodType>(source: SourceFile, schema: S): CheckedFile<z.output<S>> {
  if (source.data === undefined) return { source, value: undefined, problems: source.problems };
  const parsed = schema.safeParse(source.data, {
    error: (iss) => {
      if (iss.code !== "unrecognized_keys") return undefined;
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
      return KNOWN_KEYS + Object.keys(shape ?? {}).join(",");
    },
  });
  if (!parsed.success) {
    // A field already reported (an unset ${VAR}) is not reported again for the empty value it left.
    const known = new Set(source.problems.map((p) => p.path));
    const schemaProblems = issuesToProblems(parsed.error.issues, source).filter((p) => !known.has(p.path));
    return { source, value: undefined, problems: [...source.problems, ...schemaProblems] };
  }
  const value = parsed.data as z.output<S>;
  const problems = [...source.problems, ...checkFiles(value, source)];
  return { source, value: problems.length ? undefined : value, problems };
}

function issuesToProblems(issues: readonly z.core.$ZodIssue[], source: SourceFile): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      const branch = bestBranch(issue.errors).map((i) => ({ ...i, path: [...issue.path, ...i.path] }));
      out.push(...issuesToProblems(branch, source));
    } else if (issue.code === "unrecognized_keys") {
      const known = issue.message.startsWith(KNOWN_KEYS) ? issue.message.slice(KNOWN_KEYS.length).split(",").filter(Boolean) : [];
      for (const key of issue.keys) {
        const guess = known.length ? closest(key, known) : undefined;
        const hint = guess && distance(key, guess) <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean "${guess}"?)` : "";
        out.push({
          file: source.path,
          ...source.locate(issue.path, key),
          path: formatPath([...issue.path, key]),
          message: `unknown key "${key}"${hint}`,
        });
      }
    } else {
      out.push(at(source, issue.path, issue.message));
    }
  }
  return out;
}

/** A union's issues from the branch that got furthest: the one the author meant. */
function bestBranch(branches: readonly (readonly z.core.$ZodIssue[])[]): readonly z.core.$ZodIssue[] {
  const score = (issues: readonly z.core.$ZodIssue[]) =>
    Math.max(...issues.map((i) => i.path.length * 2 + (i.code === "unrecognized_keys" || i.code === "invalid_type" ? 0 : 1)));
  return branches.reduce((best, b) => (score(b) > score(best) ? b : best));
}

/**
 * `*File` keys must name regular files of at most 64 KiB, `kubeconfig` a regular file of at most
 * 1 MiB whose own files are secret files too (a FIFO or /dev/zero would stall or flood the reader);
 * relative paths are resolved next to the config file.
 */
function checkFiles(value: unknown, source: SourceFile): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const dir = dirname(source.path);
  const walk = (node: unknown, path: PropertyKey[]) => {
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) walk(item, [...path, i]);
    } else if (node && typeof node === "object") {
      const record = node as Record<string, unknown>;
      for (const [key, child] of Object.entries(record)) {
        if (typeof child === "string" && (key.endsWith("File") || key === "kubeconfig")) {
          const full = child.startsWith("~/") ? resolve(homedir(), child.slice(2)) : isAbsolute(child) ? child : resolve(dir, child);
          const why = secretFileProblem(full, key === "kubeconfig" ? KUBECONFIG_MAX_BYTES : SECRET_FILE_MAX_BYTES);
          if (why) problems.push(at(source, [...path, key], `file ${child} ${why}`));
          else {
            record[key] = full;
            if (key === "kubeconfig") problems.push(...kubeconfigFileProblems(full).map((message) => at(source, [...path, key], message)));
          }
        } else walk(child, [...path, key]);
      }
    }
  };
  walk(value, []);
  return problems;
}

function kubeconfigFileProblems(path: string): string[] {
  let refs: KubeconfigReferences;
  try {
    refs = kubeconfigReferences(path);
  } catch (err) {
    return [`kubeconfig ${path} cannot be read: ${(err as Error).message.split("\n")[0]}`];
  }
  return refs.files.flatMap(({ field, path: file }) => {
    const why = secretFileProblem(file);
    return why ? [`kubeconfig ${path}: ${field} ${file} ${why}`] : [];
  });
}
