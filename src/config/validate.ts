/**
 * Schema and cross-file rules → a resolved, frozen Config, or every problem at once.
 * Per-file steps (checkRootFile, checkRouteFile in check-file.ts) are separate from `assemble` so that reload can
 * keep a team's last good file when only that file is wrong (docs/operations.md, Lifecycle).
 */
import { dirname } from "node:path";
import { checkRootFile, checkRouteFile, type CheckedFile } from "./check-file.js";
import { DEFAULTS } from "./defaults.js";
import { checkGrant, fileMayClaim, kubernetesDenyFloor, resolveGrants, variableProblems, type Admission } from "./grants.js";
import { addressProblems, type ListenerAddress } from "./listener-addresses.js";
import { expandIncludes, findRootConfig, readSource, type FindOptions } from "./load.js";
import { at } from "./problem-at.js";
import type { ConfigProblem } from "./problems.js";
import { resolveLimits, type Limits } from "./resolve-limits.js";
import { resolveRoute, type ResolvedRoute } from "./resolve-route.js";
import type { RootFileConfig, RouteConfig, RouteFileConfig, TracingConfig } from "./schema.js";

export { checkRootFile, checkRouteFile, type CheckedFile } from "./check-file.js";
export { isLoopback } from "./listener-addresses.js";
export type { Limits } from "./resolve-limits.js";
export type { ResolvedCircuitBreaker, ResolvedPool, ResolvedRetry, ResolvedRoute } from "./resolve-route.js";

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
  const addresses: ListenerAddress[] = [
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

  problems.push(...addressProblems(addresses, allowNonLoopback));

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

function where(route: ResolvedRoute): string {
  return `${route.source.file}:${route.source.line}:${route.source.col}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
