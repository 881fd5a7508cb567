/**
 * Reload (DESIGN §5): read every file again, validate, build the new route table (routes whose
 * settings did not change keep their upstream and resilience), swap it in with one assignment.
 *
 * Failures stay with their owner:
 * - An invalid root file (or one that its team files in use no longer fit) rejects the whole update.
 * - A team file that is invalid on its own, or whose new routes collide with another file's (prefix,
 *   name, address), or whose upstream cannot be built, is rejected alone: that file keeps its last
 *   good version; every other file's change applies. Changed files are tried one at a time against
 *   the files already accepted, so the problem is always reported in the file that caused it.
 * Each rejected version is logged and counted once (`attache_config_reloads_total{result="error"}`)
 * and stays at /config until that file is fixed or removed.
 *
 * Redis routes may own a RESP listener: a new upstream's listener must be bound (`readiness()`) before
 * its table is swapped in; one that cannot bind sends its file back to the last good version.
 */
import { readFileSync } from "node:fs";
import { expandIncludes, readSource, type FindOptions, type SourceFile } from "../config/load.js";
import { formatProblem, type ConfigProblem } from "../config/problems.js";
import type { RootFileConfig, RouteFileConfig } from "../config/schema.js";
import { assemble, checkRootFile, checkRouteFile, includeOf, type CheckedFile, type Config, type Limits } from "../config/validate.js";
import { configureLog, log } from "../observability/log.js";
import { forgetRoute, metrics } from "../observability/metrics.js";
import { RouteTable, type UpstreamFactory } from "../routing/route-table.js";
import { loadUpstreamKinds } from "../upstreams/create-upstream.js";
import { makeGeneration, type State } from "./generation.js";
import { handOverRespPorts } from "./resp-handover.js";
import type { Retirement } from "./retire.js";
import { awaitReadiness, RouteBuildError } from "./route-build.js";
import { watchDirs } from "./watch-dirs.js";

type RootFile = CheckedFile<RootFileConfig>;
type TeamFile = CheckedFile<RouteFileConfig>;

export interface ReloadOutcome {
  /** A new generation is serving. */
  applied: boolean;
  /** Nothing had changed since the last look (only for reloads that were not forced). */
  unchanged: boolean;
  /** The generation serving now. */
  generation: number;
  /** Every outstanding rejection, as /config shows it. */
  problems: ConfigProblem[];
}

export interface ReloaderOptions {
  state: State;
  find: FindOptions;
  /** Makes the upstream of a new or changed route (already counting in-flight requests). */
  createUpstream: UpstreamFactory;
  retirement: Retirement;
  /** The files of the generation that started. */
  root: RootFile;
  teams: readonly TeamFile[];
  /** Told the folders to watch after every look at the files. */
  watch(dirs: Set<string>): void;
  /** Told the root's `limits` when a reload changes them (the HTTP listeners apply them at once). */
  applyLimits(limits: Limits): void;
}

interface Rejection {
  /** The file's text and problems: the same rejection is not logged or counted twice. */
  key: string;
  problems: ConfigProblem[];
  at: Date;
}

export class Reloader {
  private acceptedRoot: RootFile;
  private acceptedTeams: Map<string, TeamFile>;
  private lastSeen: string;
  /** The include list of the last look: with an unchanged root file, it is the include list still. */
  private lastInclude: readonly string[];
  private rejected = new Map<string, Rejection>();
  private queue: Promise<unknown> = Promise.resolve();
  private queued: { force: boolean; promise: Promise<ReloadOutcome> } | undefined;
  private stopped = false;

  constructor(private readonly o: ReloaderOptions) {
    this.acceptedRoot = o.root;
    this.acceptedTeams = new Map(o.teams.map((t) => [t.source.path, t]));
    this.lastSeen = fingerprint(o.root.source, o.teams.map((t) => t.source));
    this.lastInclude = o.root.value?.include ?? [];
    o.watch(watchDirs(o.root.source.path, this.lastInclude, [...this.acceptedTeams.keys()]));
  }

  /**
   * Reload now, after the one running (reloads never overlap). `force` (SIGHUP) re-validates even
   * when no file changed: a `*File` that was missing may exist now.
   */
  reload(reason: string, force = false): Promise<ReloadOutcome> {
    if (this.queued && (this.queued.force || !force)) return this.queued.promise;
    const entry = { force, promise: undefined as unknown as Promise<ReloadOutcome> };
    // Never rejects: a reload that fails in an unforeseen way leaves the current generation serving.
    entry.promise = this.queue
      .then(() => {
        if (this.queued === entry) this.queued = undefined;
        return this.run(reason, force);
      })
      .catch((err: unknown) => {
        log.error({ err: (err as Error).message, stack: (err as Error).stack }, "reload failed unexpectedly; the current config stays");
        return this.outcome(false);
      });
    this.queued = entry;
    this.queue = entry.promise;
    return entry.promise;
  }

  /** No reload starts after this; resolves once the one running (if any) is over. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue;
  }

  /**
   * Whether the root file and the files its include list names now are exactly those of the last look
   * (read as text, nothing parsed). Anything unusual (a file that cannot be read, an include that names
   * nothing) answers false and leaves it to the full look.
   */
  private async sameTexts(rootPath: string): Promise<boolean> {
    try {
      const root = { path: rootPath, text: readFileSync(rootPath, "utf8") };
      const included = await expandIncludes(rootPath, this.lastInclude, () => ({ line: 0, col: 0 }));
      if (included.problems.length > 0) return false;
      const teams = included.files.map((path) => ({ path, text: readFileSync(path, "utf8") }));
      const same = fingerprint(root, teams) === this.lastSeen;
      if (same) this.o.watch(watchDirs(rootPath, this.lastInclude, included.files));
      return same;
    } catch {
      return false;
    }
  }

  private outcome(applied: boolean, unchanged = false): ReloadOutcome {
    return { applied, unchanged, generation: this.o.state.current.id, problems: this.o.state.lastError?.problems ?? [] };
  }

  private async run(reason: string, force: boolean): Promise<ReloadOutcome> {
    const { state } = this.o;
    if (this.stopped || state.draining) return this.outcome(false, true);
    const env = this.o.find.env ?? process.env;
    const rootPath = state.current.config.rootFile;

    // The periodic recheck and most watch events find nothing changed: the texts tell, without parsing
    // and validating everything (for 1,000 routes, a YAML parse of ~0.3 s every 10 s).
    if (!force && (await this.sameTexts(rootPath))) return this.outcome(false, true);

    // Read everything first: the fingerprint decides whether there is anything to do.
    const rootSource = await readSource(rootPath, env);
    const root = checkRootFile(rootSource);
    // A root file that does not parse still names its files through the last good include list.
    const include = root.value?.include ?? (rootSource.data === undefined ? (this.acceptedRoot.value?.include ?? []) : includeOf(rootSource.data));
    this.lastInclude = include;
    const included = await expandIncludes(rootPath, include, rootSource.locate);
    const sources = await Promise.all(included.files.map((f) => readSource(f, env)));
    this.o.watch(watchDirs(rootPath, include, included.files));
    const seen = fingerprint(rootSource, sources);
    if (!force && seen === this.lastSeen) return this.outcome(false, true);
    this.lastSeen = seen;
    log.info({ reason }, "config reload");

    const teams = sources.map(checkRouteFile);
    const changed = teams.filter((t) => this.acceptedTeams.get(t.source.path)?.source.text !== t.source.text);
    const failures = new Map<string, { text: string; problems: ConfigProblem[] }>();
    for (const t of changed) if (t.problems.length > 0) failures.set(t.source.path, { text: t.source.text, problems: t.problems });

    const rootProblems = [...root.problems, ...included.problems];
    if (rootProblems.length > 0 || !root.value) {
      failures.set(rootPath, { text: rootSource.text, problems: rootProblems });
      return this.settle(failures, false, force);
    }

    // Start from the new root and the team files in use; the root must fit them. A file in use that
    // the new root no longer fits but that changed too (root and team moved together, e.g. an owners
    // grant and the prefix under it) must take its new version instead: it leaves the base.
    const set = new Map<string, TeamFile>();
    for (const t of teams) {
      const accepted = this.acceptedTeams.get(t.source.path);
      if (accepted) set.set(t.source.path, accepted);
    }
    const replaceable = new Set(changed.filter((t) => t.problems.length === 0).map((t) => t.source.path));
    const mustMove = new Set<string>();
    for (;;) {
      const base = assemble(root, sorted(set));
      if (base.problems.length === 0) break;
      const blamed = new Set(base.problems.map((p) => p.file));
      if (![...blamed].every((f) => replaceable.has(f) && set.has(f))) {
        failures.set(rootPath, { text: rootSource.text, problems: [rootMisfit(rootPath), ...base.problems] });
        return this.settle(failures, false, force);
      }
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
        // The candidate goes last: a clash is then reported in the candidate, the file that caused it.
        const tried = assemble(root, [...sorted(trial), candidate]);
        if (tried.problems.length === 0) {
          set.set(candidate.source.path, candidate);
          failures.delete(candidate.source.path);
          progress = true;
        } else {
          failures.set(candidate.source.path, { text: candidate.source.text, problems: tried.problems });
          left.push(candidate);
        }
      }
      pending = left;
    }
    const stuck = pending.filter((t) => mustMove.has(t.source.path));
    if (stuck.length > 0) {
      // Neither the file's last good version (the new root refuses it) nor its new one fits.
      const problems = stuck.flatMap((t) => failures.get(t.source.path)?.problems ?? []);
      for (const t of stuck) failures.delete(t.source.path);
      failures.set(rootPath, { text: rootSource.text, problems: [rootMisfit(rootPath), ...problems] });
      return this.settle(failures, false, force);
    }

    // Build; an upstream that cannot be built sends its file back to its last good version.
    for (let attempt = 0; ; attempt++) {
      const assembled = assemble(root, sorted(set));
      if (!assembled.config) {
        // Cannot happen (each file was accepted against the others); reject rather than guess.
        failures.set(rootPath, { text: rootSource.text, problems: assembled.problems });
        return this.settle(failures, false, force);
      }
      const sameFiles = root.source.text === this.acceptedRoot.source.text && sameTeams(set, this.acceptedTeams);
      if (sameFiles) return this.settle(failures, false, force);
      try {
        const table = await this.build(assembled.config);
        this.swap(root, set, assembled.config, table);
        return this.settle(failures, true, force);
      } catch (err) {
        if (!(err instanceof RouteBuildError) || err.route.source.file === rootPath || attempt > set.size) {
          const route = err instanceof RouteBuildError ? err.route : undefined;
          const problem: ConfigProblem = route
            ? { file: route.source.file, line: route.source.line, col: route.source.col, path: "", message: `route ${route.prefix}: ${err instanceof Error ? err.message : String(err)}` }
            : { file: rootPath, line: 0, col: 0, path: "", message: `cannot build the route table: ${(err as Error).message}` };
          failures.set(rootPath, { text: rootSource.text, problems: [problem] });
          return this.settle(failures, false, force);
        }
        const file = err.route.source.file;
        const bad = set.get(file)!;
        failures.set(file, {
          text: bad.source.text,
          problems: [{ file, line: err.route.source.line, col: err.route.source.col, path: "", message: `route ${err.route.prefix}: ${err.message}` }],
        });
        const accepted = this.acceptedTeams.get(file);
        if (accepted && accepted !== bad) set.set(file, accepted);
        else set.delete(file);
      }
    }
  }

  /**
   * The new table, its RESP listeners bound. The redis upstream shares a listening socket between
   * generations of a route with the same `listen` string (the new route takes new connections, the
   * old one finishes its clients). The same port written differently (`localhost:6380` after
   * `127.0.0.1:6380`) cannot be shared: the old route is closed first and its RESP clients reconnect.
   */
  private async build(config: Config): Promise<RouteTable> {
    await loadUpstreamKinds(config);
    const reusable = await handOverRespPorts(config, this.o.state.current.table.routes, this.o.retirement);
    const table = RouteTable.build(config, this.o.createUpstream, { routes: reusable });
    const kept = new Set(reusable.map((r) => r.upstream));
    const unready = await awaitReadiness(
      table.routes.filter((r) => !kept.has(r.upstream)),
      this.o.retirement,
    );
    if (unready) throw new RouteBuildError(unready.route.config, unready.reason);
    return table;
  }

  private swap(root: RootFile, teams: Map<string, TeamFile>, config: Config, table: RouteTable): void {
    const { state, retirement } = this.o;
    const old = state.current;
    state.current = makeGeneration(old.id + 1, config, table);
    this.acceptedRoot = root;
    this.acceptedTeams = new Map(teams);

    const live = new Set(table.routes.map((r) => r.upstream));
    for (const r of old.table.routes) if (!live.has(r.upstream)) retirement.retire(r, config.shutdown.drainTimeout);
    const names = new Set(table.routes.map((r) => r.name));
    for (const r of old.table.routes) if (!names.has(r.name)) forgetRoute(r.name);

    if (JSON.stringify(config.log) !== JSON.stringify(old.config.log)) configureLog(config.log);
    if (JSON.stringify(config.limits) !== JSON.stringify(old.config.limits)) this.o.applyLimits(config.limits);
    if (config.listen !== old.config.listen || config.admin !== old.config.admin || config.probe !== old.config.probe) {
      log.warn({ listen: config.listen, admin: config.admin, probe: config.probe }, "listen, admin and probe addresses changed: they apply at the next restart");
    }
    const oldByKey = new Set(old.table.routes.map((r) => r.key));
    const newPrefixes = new Set(table.routes.map((r) => r.prefix));
    const oldPrefixes = new Set(old.table.routes.map((r) => r.prefix));
    log.info(
      {
        generation: state.current.id,
        added: table.routes.filter((r) => !oldPrefixes.has(r.prefix)).map((r) => r.prefix),
        changed: table.routes.filter((r) => oldPrefixes.has(r.prefix) && !oldByKey.has(r.key)).map((r) => r.prefix),
        removed: old.table.routes.filter((r) => !newPrefixes.has(r.prefix)).map((r) => r.prefix),
      },
      "config reloaded",
    );
  }

  /** Log and count new rejections once, keep every outstanding one for /config. */
  private settle(failures: Map<string, { text: string; problems: ConfigProblem[] }>, applied: boolean, force: boolean): ReloadOutcome {
    const { state } = this.o;
    const next = new Map<string, Rejection>();
    let fresh = 0;
    for (const [file, f] of failures) {
      const key = `${f.text}\u0000${f.problems.map(formatProblem).join("\n")}`;
      const before = this.rejected.get(file);
      if (before && before.key === key) {
        next.set(file, before);
        continue;
      }
      fresh++;
      next.set(file, { key, problems: f.problems, at: new Date() });
      metrics.configReloads.inc({ result: "error" });
      log.warn({ file, problems: f.problems.map(formatProblem) }, file === state.current.config.rootFile ? "config update rejected: the root file is invalid; the current config stays" : "route file rejected: its last good version stays");
    }
    this.rejected = next;
    state.configSettled([...next.keys()]);
    if (next.size === 0) state.lastError = undefined;
    else {
      const all = [...next.values()];
      state.lastError = { at: new Date(Math.max(...all.map((r) => r.at.getTime()))), problems: all.flatMap((r) => r.problems) };
    }
    if (applied || (force && fresh === 0 && next.size === 0)) metrics.configReloads.inc({ result: "success" });
    return this.outcome(applied);
  }
}

function rootMisfit(rootPath: string): ConfigProblem {
  return { file: rootPath, line: 0, col: 0, path: "", message: "root file change rejected: the route files in use no longer fit it (see the problems that follow)" };
}

function sorted(files: Map<string, TeamFile>): TeamFile[] {
  return [...files.keys()].sort().map((k) => files.get(k)!);
}

function sameTeams(a: Map<string, TeamFile>, b: Map<string, TeamFile>): boolean {
  if (a.size !== b.size) return false;
  for (const [path, file] of a) if (b.get(path)?.source.text !== file.source.text) return false;
  return true;
}

function fingerprint(root: Pick<SourceFile, "path" | "text">, teams: ReadonlyArray<Pick<SourceFile, "path" | "text">>): string {
  return JSON.stringify([root.path, root.text, ...teams.map((t) => [t.path, t.text])]);
}
