/** The reload planner: which files a reload accepts and which it rejects, and why. Pure: no I/O, no timers, no upstreams. */
import type { ConfigProblem } from "../config/problems.js";
import type { RootFileConfig, RouteFileConfig } from "../config/schema.js";
import { assemble, type CheckedFile, type Config, type ResolvedRoute } from "../config/validate.js";

export type RootFile = CheckedFile<RootFileConfig>;
export type TeamFile = CheckedFile<RouteFileConfig>;

/** A rejected version of one file: its text (the same rejection is reported once) and why. */
export interface Rejection {
  text: string;
  problems: ConfigProblem[];
}

/** The files serving now. */
export interface Accepted {
  root: RootFile;
  /** By path. */
  teams: ReadonlyMap<string, TeamFile>;
}

/**
 * What to serve next. `teams` and `config` are absent when the root change is rejected (nothing
 * changes). `rejections` holds every file rejected now, by path, in the order they were found.
 */
export type ReloadPlan =
  | { teams: Map<string, TeamFile>; config: Config; changed: boolean; rejections: Map<string, Rejection> }
  | { teams: undefined; config: undefined; changed: false; rejections: Map<string, Rejection> };

/**
 * Failures stay with their owner:
 * - An invalid root file (its own problems and those of its include list are in `root.problems`),
 *   or one that the team files in use no longer fit (e.g. an owners grant narrowed under a file),
 *   rejects the whole update.
 * - A team file that is invalid on its own, or whose new routes break a rule against the files
 *   already accepted (owner and grant, prefix, name, address), is rejected alone: it keeps its last
 *   good version and every other file's change applies. Changed files are tried one at a time, the
 *   candidate last, so a clash is reported in the file that caused it.
 * `candidates` are every team file the include list names now, already read and checked.
 */
export function planReload(root: RootFile, accepted: Accepted, candidates: readonly TeamFile[]): ReloadPlan {
  const rootPath = root.source.path;
  const rejections = new Map<string, Rejection>();
  const rejectRoot = (problems: ConfigProblem[]): ReloadPlan => {
    rejections.set(rootPath, { text: root.source.text, problems });
    return { teams: undefined, config: undefined, changed: false, rejections };
  };

  const changed = candidates.filter((t) => accepted.teams.get(t.source.path)?.source.text !== t.source.text);
  for (const t of changed) if (t.problems.length > 0) rejections.set(t.source.path, { text: t.source.text, problems: t.problems });
  if (root.problems.length > 0 || !root.value) return rejectRoot(root.problems);

  // Start from the new root and the team files in use; the root must fit them. A file in use that
  // the new root no longer fits but that changed too (root and team moved together, e.g. an owners
  // grant and the prefix under it) must take its new version instead: it leaves the base.
  const set = new Map<string, TeamFile>();
  for (const t of candidates) {
    const inUse = accepted.teams.get(t.source.path);
    if (inUse) set.set(t.source.path, inUse);
  }
  const replaceable = new Set(changed.filter((t) => t.problems.length === 0).map((t) => t.source.path));
  const mustMove = new Set<string>();
  for (;;) {
    const base = assemble(root, sorted(set));
    if (base.problems.length === 0) break;
    const blamed = new Set(base.problems.map((p) => p.file));
    if (![...blamed].every((f) => replaceable.has(f) && set.has(f))) return rejectRoot([rootMisfit(rootPath), ...base.problems]);
    for (const f of blamed) {
      set.delete(f);
      mustMove.add(f);
    }
  }

  // Then each changed team file, on its own, against what is accepted so far. A file rejected in
  // one pass may fit once another file has moved away from its prefix: passes repeat while any lands.
  let pending = changed.filter((t) => t.problems.length === 0);
  for (let progress = true; progress && pending.length > 0; ) {
    progress = false;
    const left: TeamFile[] = [];
    for (const candidate of pending) {
      const trial = new Map(set);
      trial.delete(candidate.source.path);
      const tried = assemble(root, [...sorted(trial), candidate]);
      if (tried.problems.length === 0) {
        set.set(candidate.source.path, candidate);
        rejections.delete(candidate.source.path);
        progress = true;
      } else {
        rejections.set(candidate.source.path, { text: candidate.source.text, problems: tried.problems });
        left.push(candidate);
      }
    }
    pending = left;
  }
  const stuck = pending.filter((t) => mustMove.has(t.source.path));
  if (stuck.length > 0) {
    // Neither the file's last good version (the new root refuses it) nor its new one fits.
    const problems = stuck.flatMap((t) => rejections.get(t.source.path)?.problems ?? []);
    for (const t of stuck) rejections.delete(t.source.path);
    return rejectRoot([rootMisfit(rootPath), ...problems]);
  }
  return settled(root, accepted, set, rejections);
}

/**
 * The plan once an upstream could not be built (e.g. a TLS file that cannot be read): the team file
 * of its `route` goes back to its last good version (or out, if it is new). A failure without a
 * route, a route of the root file, or a plan that already went back `attempts` times more than it
 * has files, rejects the root change.
 */
export function afterBuildFailure(
  plan: ReloadPlan,
  accepted: Accepted,
  root: RootFile,
  failure: { route: ResolvedRoute | undefined; message: string },
  attempts: number,
): ReloadPlan {
  const rejections = new Map(plan.rejections);
  const rootPath = root.source.path;
  const { route, message } = failure;
  const teams = plan.teams;
  if (!route || !teams || route.source.file === rootPath || attempts > teams.size) {
    const problem: ConfigProblem = route
      ? { file: route.source.file, line: route.source.line, col: route.source.col, path: "", message: `route ${route.prefix}: ${message}` }
      : { file: rootPath, line: 0, col: 0, path: "", message: `cannot build the route table: ${message}` };
    rejections.set(rootPath, { text: root.source.text, problems: [problem] });
    return { teams: undefined, config: undefined, changed: false, rejections };
  }
  const file = route.source.file;
  const set = new Map(teams);
  const bad = set.get(file)!;
  rejections.set(file, {
    text: bad.source.text,
    problems: [{ file, line: route.source.line, col: route.source.col, path: "", message: `route ${route.prefix}: ${message}` }],
  });
  const inUse = accepted.teams.get(file);
  if (inUse && inUse !== bad) set.set(file, inUse);
  else set.delete(file);
  return settled(root, accepted, set, rejections);
}

/** The plan for `set`, assembled; whether it differs from what serves now. */
function settled(root: RootFile, accepted: Accepted, set: Map<string, TeamFile>, rejections: Map<string, Rejection>): ReloadPlan {
  const assembled = assemble(root, sorted(set));
  if (!assembled.config) {
    // Cannot happen (each file was accepted against the others); reject rather than guess.
    rejections.set(root.source.path, { text: root.source.text, problems: assembled.problems });
    return { teams: undefined, config: undefined, changed: false, rejections };
  }
  const changed = root.source.text !== accepted.root.source.text || !sameTeams(set, accepted.teams);
  return { teams: set, config: assembled.config, changed, rejections };
}

function rootMisfit(rootPath: string): ConfigProblem {
  return {
    file: rootPath,
    line: 0,
    col: 0,
    path: "",
    message: "root file change rejected: the route files in use no longer fit it (see the problems that follow)",
  };
}

function sorted(files: ReadonlyMap<string, TeamFile>): TeamFile[] {
  return [...files.keys()].sort().map((k) => files.get(k)!);
}

function sameTeams(a: ReadonlyMap<string, TeamFile>, b: ReadonlyMap<string, TeamFile>): boolean {
  if (a.size !== b.size) return false;
  for (const [path, file] of a) if (b.get(path)?.source.text !== file.source.text) return false;
  return true;
}
