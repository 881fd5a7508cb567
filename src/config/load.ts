/**
 * Finds the root config (cosmiconfig search order, docs/operations.md), expands `include` globs, and reads
 * every file into a SourceFile that keeps its YAML document, so problems can name file:line:col.
 */
import { readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, resolve } from "node:path";
import { cosmiconfig } from "cosmiconfig";
import { glob, isDynamicPattern } from "tinyglobby";
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type Node } from "yaml";
import { interpolate } from "./interpolate.js";
import type { ConfigProblem } from "./problems.js";
import { ConfigError, formatPath } from "./problems.js";

export const SEARCH_PLACES = [
  "attache.yaml",
  "attache.yml",
  ".attacherc.yaml",
  ".attacherc.yml",
  ".attacherc.json",
  ".attacherc",
  "attache.config.json",
  "attache.config.yaml",
  "attache.config.yml",
  "attache.config.js",
  "attache.config.mjs",
  "attache.config.cjs",
  "attache.config.ts",
  "package.json",
];

export interface SourceFile {
  /** Absolute path. */
  path: string;
  /** The raw text, kept to detect changes on reload. */
  text: string;
  /** Plain data after ${VAR} expansion; undefined when the file could not be parsed. */
  data: unknown;
  /** Parse and ${VAR} problems. */
  problems: ConfigProblem[];
  /** The ${VAR} references in the file, where each stands (grants limit which a team file may use). */
  variables?: Array<{ name: string; line: number; col: number; path: string }>;
  /** Where a field path stands in the file; line 0 when the format has no positions. */
  locate(path: readonly PropertyKey[], key?: string): { line: number; col: number };
}

export interface FindOptions {
  /** `-c PATH`: a file, or a directory holding the root file. */
  configPath?: string | undefined;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Loads JS/TS configs. */
const explorer = cosmiconfig("attache", { searchPlaces: SEARCH_PLACES, searchStrategy: "none", cache: false });
/**
 * Finds the root file without parsing it: a YAML syntax error must come back from readSource with
 * its line, not as js-yaml's exception from inside the search.
 */
const rawText = (_path: string, content: string) => (content.trim() ? content : null);
const finder = cosmiconfig("attache", {
  searchPlaces: SEARCH_PLACES,
  searchStrategy: "none",
  cache: false,
  loaders: {
    ".yaml": rawText,
    ".yml": rawText,
    noExt: rawText,
    ".json": (_path, content) => {
      try {
        return JSON.parse(content) as unknown;
      } catch {
        return content;
      }
    },
  },
});

/** Path of the root config file, as docs/operations.md says: -c, $ATTACHE_CONFIG, search from cwd, ./config. */
export async function findRootConfig(options: FindOptions = {}): Promise<string> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const given = options.configPath ?? env.ATTACHE_CONFIG;
  if (given) {
    const path = resolve(cwd, given);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      throw new ConfigError([{ file: path, line: 0, col: 0, path: "", message: "no such file or directory" }]);
    }
    if (!isDir) return path;
    const found = await finder.search(path);
    if (found) return found.filepath;
    throw new ConfigError([
      { file: path, line: 0, col: 0, path: "", message: `no attache config here (looked for ${SEARCH_PLACES.join(", ")})` },
    ]);
  }
  const here = await finder.search(cwd);
  if (here && !here.isEmpty) return here.filepath;
  const fallback = resolve(cwd, "config");
  const there = await finder.search(fallback).catch(() => null);
  if (there) return there.filepath;
  throw new ConfigError([
    {
      file: cwd,
      line: 0,
      col: 0,
      path: "",
      message: "no attache config found (use -c PATH, $ATTACHE_CONFIG, ./attache.yaml or ./config/attache.yaml)",
    },
  ]);
}

/** Far above a thousand routes (about 200 KB of YAML). */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/** Reads one file. YAML and JSON keep positions; JS/TS go through cosmiconfig's loaders. */
export async function readSource(path: string, env: NodeJS.ProcessEnv = process.env): Promise<SourceFile> {
  let text: string;
  try {
    // A FIFO or a device named in `include` would block the read or never end: regular files only.
    const st = statSync(path);
    if (!st.isFile()) return failed(path, "", "not a regular file");
    if (st.size > MAX_CONFIG_BYTES)
      return failed(path, "", `is ${st.size} bytes; a config file may hold at most ${MAX_CONFIG_BYTES / 1024 / 1024} MiB`);
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `cannot read: ${(err as Error).message}`;
    return failed(path, "", reason);
  }
  const ext = extname(path);
  if ([".js", ".mjs", ".cjs", ".ts"].includes(ext)) {
    try {
      const loaded = await explorer.load(path);
      return { path, text, data: loaded?.config, problems: [], locate: () => ({ line: 0, col: 0 }) };
    } catch (err) {
      return failed(path, text, `cannot load: ${(err as Error).message}`);
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = doc.errors.map((e) => {
    const pos = lineCounter.linePos(e.pos[0]);
    return { file: path, line: pos.line, col: pos.col, path: "", message: e.message.split("\n")[0]! };
  });
  // package.json holds the config under its "attache" key.
  const base: PropertyKey[] = basename(path) === "package.json" ? ["attache"] : [];
  const locate = (fieldPath: readonly PropertyKey[], key?: string) => locateIn(doc, lineCounter, [...base, ...fieldPath], key);
  if (problems.length > 0) return { path, text, data: undefined, problems, locate };
  // Walking every scalar is a fifth of the parse for big files: skipped when no value can hold "${"
  // (one could only through a double-quoted escape such as \x24, hence the backslash).
  const variables: NonNullable<SourceFile["variables"]> = [];
  if (text.includes("${") || text.includes("\\")) problems.push(...expandVariables(doc, lineCounter, path, env, variables));
  const all = doc.toJS() as unknown;
  const data = base.length ? (all as Record<string, unknown> | null)?.attache : all;
  return { path, text, data: data ?? {}, problems, variables, locate };
}

/** The files that the root's `include` globs name, relative to the root file, sorted, without the root. */
export async function expandIncludes(
  rootPath: string,
  include: readonly string[],
  locate: SourceFile["locate"],
): Promise<{ files: string[]; problems: ConfigProblem[] }> {
  const dir = dirname(rootPath);
  const files = new Set<string>();
  const problems: ConfigProblem[] = [];
  for (const [i, pattern] of include.entries()) {
    if (!isDynamicPattern(pattern)) {
      const path = isAbsolute(pattern) ? pattern : resolve(dir, pattern);
      try {
        // Regular files only: reading a FIFO or a device named here would block or never end.
        if (statSync(path).isFile()) files.add(path);
        else problems.push({ file: rootPath, ...locate(["include", i]), path: `include[${i}]`, message: `not a regular file: ${pattern}` });
      } catch {
        problems.push({ file: rootPath, ...locate(["include", i]), path: `include[${i}]`, message: `no such file: ${pattern}` });
      }
      continue;
    }
    // Dot folders are skipped: a ConfigMap volume holds ..data and ..<timestamp> beside the file links.
    const matches = await glob(pattern, { cwd: dir, absolute: true, dot: false, onlyFiles: true, followSymbolicLinks: true });
    for (const m of matches) files.add(resolve(m));
  }
  files.delete(rootPath);
  return { files: [...files].sort(), problems };
}

function failed(path: string, text: string, message: string): SourceFile {
  return {
    path,
    text,
    data: undefined,
    problems: [{ file: path, line: 0, col: 0, path: "", message }],
    locate: () => ({ line: 0, col: 0 }),
  };
}

function expandVariables(
  doc: Document,
  lineCounter: LineCounter,
  file: string,
  env: NodeJS.ProcessEnv,
  variables: NonNullable<SourceFile["variables"]>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  visit(doc, {
    Scalar(key, node, path) {
      if (key === "key" || typeof node.value !== "string") return;
      const { value, missing, used } = interpolate(node.value, env);
      node.value = value;
      if (used.length === 0) return;
      const pos = lineCounter.linePos(node.range?.[0] ?? 0);
      const fieldPath = pathOf(path, key);
      for (const name of used) variables.push({ name, line: pos.line, col: pos.col, path: fieldPath });
      for (const name of missing) {
        problems.push({
          file,
          line: pos.line,
          col: pos.col,
          path: fieldPath,
          message: `environment variable ${name} is not set (write \${${name}:-default} for a default)`,
        });
      }
    },
  });
  return problems;
}

/** Field path of a node from the ancestry `visit` hands over. */
function pathOf(ancestry: readonly unknown[], ownKey: number | "key" | "value" | null): string {
  const keys: PropertyKey[] = [];
  for (let i = 0; i < ancestry.length; i++) {
    const item = ancestry[i] as { key?: unknown; items?: unknown[] };
    const next = ancestry[i + 1];
    if (isScalar(item.key)) keys.push(String(item.key.value));
    else if (Array.isArray(item.items) && next !== undefined && !isMap(item)) keys.push(item.items.indexOf(next));
  }
  if (typeof ownKey === "number") keys.push(ownKey);
  return formatPath(keys);
}

function locateIn(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[], key?: string): { line: number; col: number } {
  // Walk up to the deepest node that exists: a missing key is reported where its parent stands.
  for (let n = path.length; n >= 0; n--) {
    const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true)) as Node | undefined;
    if (!node?.range) continue;
    if (key !== undefined && n === path.length && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
      const keyNode = pair?.key as Node | undefined;
      if (keyNode?.range) return lineCounter.linePos(keyNode.range[0]);
    }
    return lineCounter.linePos(node.range[0]);
  }
  return { line: 1, col: 1 };
}
