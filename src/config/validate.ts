/**
 * Schema and cross-file rules → a resolved, frozen Config, or every problem at once.
 * Per-file steps (checkRootFile, checkRouteFile) are separate from `assemble` so that reload can
 * keep a team's last good file when only that file is wrong (docs/operations.md, Lifecycle).
 */
import { homedir } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { closest, distance } from "fastest-levenshtein";
import type { z } from "zod";
import { parseHostPort } from "../net/address.js";
import { DEFAULTS } from "./defaults.js";
import {
  checkGrant,
  fileMayClaim,
  kubernetesDeny,
  kubernetesDenyFloor,
  resolveGrants,
  variableProblems,
  type Admission,
} from "./grants.js";
import { expandIncludes, findRootConfig, readSource, type FindOptions, type SourceFile } from "./load.js";
import { KUBECONFIG_MAX_BYTES, kubeconfigReferences, type KubeconfigReferences } from "./kubeconfig-references.js";
import { formatPath, type ConfigProblem } from "./problems.js";
import { SECRET_FILE_MAX_BYTES, secretFileProblem } from "./secrets.js";
import {
  rootSchema,
  routeFileSchema,
  type CircuitBreakerConfig,
  type LimitsConfig,
  type PathRuleConfig,
  type TracingConfig,
  type PoolConfig,
  type RetryConfig,
  type RootFileConfig,
  type RouteConfig,
  type RouteFileConfig,
} from "./schema.js";

export type ResolvedCircuitBreaker = Required<Omit<CircuitBreakerConfig, "maxConcurrent">> & Pick<CircuitBreakerConfig, "maxConcurrent">;
/** `maxFreeSockets` has no default: undici's pool does not enforce it (resilience/pool.ts). */
export type ResolvedPool = Required<Omit<PoolConfig, "maxFreeSockets">> & Pick<PoolConfig, "maxFreeSockets">;
export type ResolvedRetry = Required<RetryConfig>;

/** A route with every default applied, and where it came from. */
export interface ResolvedRoute
  extends Omit<RouteConfig, "name" | "stripPrefix" | "timeout" | "streaming" | "maxBodySize" | "circuitBreaker" | "pool" | "retry"> {
  name: string;
  stripPrefix: boolean;
  timeout: number;
  /** undefined: the upstream kind decides per request (kubernetes: watch, follow and GET lists). */
  streaming: boolean | undefined;
  maxBodySize: number;
  circuitBreaker: ResolvedCircuitBreaker;
  pool: ResolvedPool;
  retry: ResolvedRetry | undefined;
  source: { file: string; line: number; col: number; owner: string | undefined; admittedBy: Admission };
}

export interface Config {
  rootFile: string;
  /** Every file that made this config, root first. */
  files: string[];
  listen: string;
  admin: string;
  /** The probe listener (/healthz and /readyz only), when set. */
  probe: string | undefined;
  allowNonLoopback: boolean;
  acceptHosts: string[];
  include: string[];
  owners: RootFileConfig["owners"];
  shutdown: { drainTimeout: number; idleGrace: number };
  log: { level: string; format: "json" | "pretty"; access: boolean };
  limits: Limits;
  tracing: TracingConfig | undefined;
  routes: ResolvedRoute[];
}

export interface CheckedFile<T> {
  source: SourceFile;
  value: T | undefined;
  problems: ConfigProblem[];
}

export interface LoadResult {
  config: Config | undefined;
  problems: ConfigProblem[];
  root: CheckedFile<RootFileConfig>;
  teams: CheckedFile<RouteFileConfig>[];
}

/** Find, read, check and assemble everything. Never throws for bad config: problems come back. */
export async function loadConfig(options: FindOptions = {}): Promise<LoadResult> {
  const env = options.env ?? process.env;
  const rootPath = await findRootConfig(options);
  const root = checkRootFile(await readSource(rootPath, env));
  const teams: CheckedFile<RouteFileConfig>[] = [];
  const problems = [...root.problems];
  // Even when the root file is wrong, its include list (if readable) is followed: report every problem at once.
  const include = root.value?.include ?? includeOf(root.source.data);
  {
    const included = await expandIncludes(rootPath, include, root.source.locate);
    problems.push(...included.problems);
    for (const file of included.files) {
      const team = checkRouteFile(await readSource(file, env));
      teams.push(team);
      problems.push(...team.problems);
    }
  }
  if (problems.length > 0 || !root.value) return { config: undefined, problems: sortProblems(problems), root, teams };
  const assembled = assemble(root, teams);
  return { config: assembled.config, problems: sortProblems(assembled.problems), root, teams };
}

export function checkRootFile(source: SourceFile): CheckedFile<RootFileConfig> {
  return checkFile(source, rootSchema);
}

export function checkRouteFile(source: SourceFile): CheckedFile<RouteFileConfig> {
  return checkFile(source, routeFileSchema);
}

/** Cross-file rules (unique prefixes and names, owners, addresses) and defaults → Config. */
export function assemble(
  root: CheckedFile<RootFileConfig>,
  teams: readonly CheckedFile<RouteFileConfig>[],
): { config: Config | undefined; problems: ConfigProblem[] } {
  const rootValue = root.value!;
  const problems: ConfigProblem[] = [];
  const owners = rootValue.owners;
  const grants = resolveGrants(owners);
  const floor = kubernetesDenyFloor(rootValue);
  const routes: ResolvedRoute[] = [];
  const byPrefix = new Map<string, ResolvedRoute>();
  const byName = new Map<string, ResolvedRoute>();

  const listen = rootValue.listen ?? DEFAULTS.listen;
  const admin = rootValue.admin ?? DEFAULTS.admin;
  const allowNonLoopback = rootValue.allowNonLoopback ?? false;
  const probe = rootValue.probe;
  // `anywhere`: the probe listener serves only /healthz and /readyz, so it may bind beyond loopback by itself.
  const addresses: Array<{ address: string; file: SourceFile; path: PropertyKey[]; anywhere?: boolean }> = [
    { address: listen, file: root.source, path: ["listen"] },
    { address: admin, file: root.source, path: ["admin"] },
  ];
  if (probe) addresses.push({ address: probe, file: root.source, path: ["probe"], anywhere: true });

  const files: Array<{ file: CheckedFile<{ owner?: string | undefined; routes?: RouteConfig[] | undefined }>; isRoot: boolean }> = [
    { file: root, isRoot: true },
    ...teams.map((file) => ({ file, isRoot: false })),
  ];
  for (const { file, isRoot } of files) {
    const value = file.value;
    if (!value) continue;
    const source = file.source;
    const owner = value.owner;
    if (!isRoot && owners && owner === undefined) {
      problems.push(at(source, [], "owner is missing: the root file sets owners, so every route file must name its owner"));
    } else if (!isRoot && owners && owner !== undefined && !(owner in owners)) {
      problems.push(
        at(source, ["owner"], `owner ${JSON.stringify(owner)} is not listed in the root file's owners (${Object.keys(owners).join(", ")})`),
      );
    }
    const grant = !isRoot && grants && owner !== undefined ? grants.get(owner) : undefined;
    const claim = grant && fileMayClaim(grant, source.path, dirname(root.source.path));
    if (claim) problems.push(at(source, ["owner"], claim));
    if (grant) for (const v of variableProblems(grant, source.variables ?? [])) problems.push({ file: source.path, ...v });
    for (const [i, config] of (value.routes ?? []).entries()) {
      const pos = source.locate(["routes", i, "prefix"]);
      let admittedBy: Admission = { by: isRoot ? "root file" : "no owners", matched: [] };
      if (grant) {
        const checked = checkGrant(config, grant);
        for (const p of checked.problems) problems.push(at(source, ["routes", i, ...p.path], p.message));
        admittedBy = { by: `owners.${grant.team}`, matched: checked.matched };
      }
      // Only a file the root trusts with it may replace the kubernetes deny floor.
      const mayLiftDeny = isRoot || !grants || (grant?.liftDeny ?? false);
      const route = resolveRoute(
        config,
        rootValue,
        { file: source.path, line: pos.line, col: pos.col, owner, admittedBy },
        { floor, mayLiftDeny },
      );
      const clash = byPrefix.get(route.prefix);
      if (clash) {
        problems.push(at(source, ["routes", i, "prefix"], `prefix ${route.prefix} is already claimed by ${where(clash)}`));
        continue;
      }
      const nameClash = byName.get(route.name);
      if (nameClash) {
        problems.push(
          at(source, ["routes", i, config.name ? "name" : "prefix"], `route name ${route.name} is already used by ${where(nameClash)}`),
        );
        continue;
      }
      byPrefix.set(route.prefix, route);
      byName.set(route.name, route);
      routes.push(route);
      if (config.upstream.redis?.listen) {
        addresses.push({ address: config.upstream.redis.listen, file: source, path: ["routes", i, "upstream", "redis", "listen"] });
      }
    }
  }

  const seen = new Map<string, string>();
  for (const a of addresses) {
    const label = formatPath(a.path);
    if (!allowNonLoopback && !a.anywhere && !isLoopback(a.address)) {
      problems.push(
        at(
          a.file,
          a.path,
          `${a.address} is not a loopback address; set allowNonLoopback: true in the root file to expose attache beyond this machine`,
        ),
      );
    }
    // Port 0 asks the OS for a free port: never a clash (tests use it for every listener).
    const other = a.address.endsWith(":0") ? undefined : seen.get(a.address);
    if (other) problems.push(at(a.file, a.path, `${a.address} is already used by ${other}`));
    else seen.set(a.address, `${label} in ${a.file.path}`);
  }

  if (problems.length > 0) return { config: undefined, problems };
  const config: Config = {
    rootFile: root.source.path,
    files: [root.source.path, ...teams.map((t) => t.source.path)],
    listen,
    admin,
    probe,
    allowNonLoopback,
    acceptHosts: rootValue.acceptHosts ?? [...DEFAULTS.acceptHosts],
    include: rootValue.include ?? [],
    owners,
    shutdown: { ...DEFAULTS.shutdown, ...rootValue.shutdown },
    log: { ...DEFAULTS.log, ...rootValue.log },
    limits: resolveLimits(rootValue.limits),
    tracing: rootValue.tracing,
    routes,
  };
  return { config: deepFreeze(config), problems };
}

/** Every limit with its value: the root's `limits` over `DEFAULTS.limits`, one level at a time. */
export interface Limits {
  headersTimeout: number;
  keepAliveTimeout: number;
  maxConnections: number;
  redis: { maxQueryBuffer: number; maxBulkLength: number; maxArgs: number; output: { hard: number; soft: number; softFor: number } };
}

function resolveLimits(l: LimitsConfig = {}): Limits {
  const d = DEFAULTS.limits;
  return {
    headersTimeout: l.headersTimeout ?? d.headersTimeout,
    keepAliveTimeout: l.keepAliveTimeout ?? d.keepAliveTimeout,
    maxConnections: l.maxConnections ?? d.maxConnections,
    redis: { ...d.redis, ...l.redis, output: { ...d.redis.output, ...l.redis?.output } },
  };
}

function resolveRoute(
  config: RouteConfig,
  root: RootFileConfig,
  source: ResolvedRoute["source"],
  deny: { floor: readonly PathRuleConfig[]; mayLiftDeny: boolean },
): ResolvedRoute {
  const d = root.defaults ?? {};
  const retry = config.retry ?? d.retry;
  return {
    ...config,
    // Resolved here, so that /routes shows the rules in force and a change of the floor rebuilds the route.
    ...(config.upstream.kubernetes ? { deny: [...kubernetesDeny(config, deny.floor, deny.mayLiftDeny)] } : {}),
    name: config.name ?? config.prefix,
    stripPrefix: config.stripPrefix ?? DEFAULTS.route.stripPrefix,
    timeout: config.timeout ?? d.timeout ?? (config.upstream.kubernetes ? DEFAULTS.route.kubernetes.timeout : DEFAULTS.route.timeout),
    streaming: config.streaming,
    maxBodySize: config.maxBodySize ?? d.maxBodySize ?? DEFAULTS.route.maxBodySize,
    circuitBreaker: { ...DEFAULTS.route.circuitBreaker, ...d.circuitBreaker, ...config.circuitBreaker },
    pool: { ...DEFAULTS.route.pool, ...d.pool, ...config.pool },
    retry: retry && {
      on: [...DEFAULTS.route.retry.on],
      backoff: DEFAULTS.route.retry.backoff,
      maxBackoff: DEFAULTS.route.retry.maxBackoff,
      ...retry,
    },
    source,
  };
}

/** Files in the order they were read (root first), then by position. */
function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const order = [...new Set(problems.map((p) => p.file))];
  return problems.sort((a, b) => order.indexOf(a.file) - order.indexOf(b.file) || a.line - b.line || a.col - b.col);
}

/** The root file's include list, read leniently from data that failed the schema (reload keeps watching it). */
export function includeOf(data: unknown): string[] {
  const include = (data as { include?: unknown } | undefined)?.include;
  return Array.isArray(include) ? include.filter((i): i is string => typeof i === "string") : [];
}

// ---- per-file checks ----

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

function at(source: SourceFile, path: readonly PropertyKey[], message: string): ConfigProblem {
  return { file: source.path, ...source.locate(path), path: formatPath(path), message };
}

function where(route: ResolvedRoute): string {
  return `${route.source.file}:${route.source.line}:${route.source.col}`;
}

export function isLoopback(address: string): boolean {
  const { host } = parseHostPort(address);
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
