/** The reload planner on fixtures: parsed files as plain objects, no files on disk, no upstreams. */
import { describe, expect, it } from "vitest";
import type { SourceFile } from "../../../src/config/load.js";
import { formatProblem } from "../../../src/config/problems.js";
import { checkRootFile, checkRouteFile, type ResolvedRoute } from "../../../src/config/validate.js";
import {
  afterBuildFailure,
  planReload,
  type Accepted,
  type ReloadPlan,
  type RootFile,
  type TeamFile,
} from "../../../src/lifecycle/reload-plan.js";

const ROOT_PATH = "/cfg/attache.yaml";
const source = (path: string, data: unknown): SourceFile => ({
  path,
  text: JSON.stringify(data),
  data,
  problems: [],
  locate: () => ({ line: 0, col: 0 }),
});
const root = (extra: Record<string, unknown> = {}): RootFile => checkRootFile(source(ROOT_PATH, { include: ["teams/*.yaml"], ...extra }));
const route = (prefix: string) => ({ prefix, upstream: { http: { endpoints: ["http://127.0.0.1:9"] } } });
const team = (name: string, prefixes: string[], owner?: string): TeamFile =>
  checkRouteFile(source(`/cfg/teams/${name}.yaml`, { ...(owner && { owner }), routes: prefixes.map(route) }));
/** A file that does not validate on its own: a route without an upstream. */
const invalid = (name: string): TeamFile => checkRouteFile(source(`/cfg/teams/${name}.yaml`, { routes: [{ prefix: "/broken" }] }));
const accepted = (r: RootFile, ...teams: TeamFile[]): Accepted => ({ root: r, teams: new Map(teams.map((t) => [t.source.path, t])) });

/** The plan in a few words: files serving (with their prefixes), and the rejected files. */
function summary(plan: ReloadPlan) {
  return {
    serving: plan.teams ? Object.fromEntries([...plan.teams].map(([path, t]) => [path, t.value?.routes.map((r) => r.prefix)])) : undefined,
    prefixes: plan.config?.routes.map((r) => r.prefix).sort(),
    rejected: [...plan.rejections.keys()],
  };
}
const problems = (plan: ReloadPlan, path: string) => (plan.rejections.get(path)?.problems ?? []).map(formatProblem);

describe("planReload", () => {
  it("nothing changed: the same files serve and nothing is rejected", () => {
    const r = root();
    const a = team("a", ["/a"]);
    const plan = planReload(r, accepted(r, a), [a]);
    expect(plan.changed).toBe(false);
    expect(summary(plan)).toEqual({ serving: { "/cfg/teams/a.yaml": ["/a"] }, prefixes: ["/a"], rejected: [] });
  });

  it("a new and a changed team file apply together", () => {
    const r = root();
    const plan = planReload(r, accepted(r, team("a", ["/a"])), [team("a", ["/a", "/a2"]), team("b", ["/b"])]);
    expect(plan.changed).toBe(true);
    expect(summary(plan)).toEqual({
      serving: { "/cfg/teams/a.yaml": ["/a", "/a2"], "/cfg/teams/b.yaml": ["/b"] },
      prefixes: ["/a", "/a2", "/b"],
      rejected: [],
    });
  });

  it("a team file invalid on its own is rejected alone and keeps its last good version; another file's change applies", () => {
    const r = root();
    const plan = planReload(r, accepted(r, team("a", ["/a"]), team("b", ["/b"])), [invalid("a"), team("b", ["/b", "/b2"])]);
    expect(summary(plan)).toEqual({
      serving: { "/cfg/teams/a.yaml": ["/a"], "/cfg/teams/b.yaml": ["/b", "/b2"] },
      prefixes: ["/a", "/b", "/b2"],
      rejected: ["/cfg/teams/a.yaml"],
    });
    expect(problems(plan, "/cfg/teams/a.yaml").join("\n")).toMatch(/^\/cfg\/teams\/a\.yaml:.*upstream/);
    expect(plan.rejections.get("/cfg/teams/a.yaml")!.text).toBe(invalid("a").source.text);
  });

  it("a new invalid team file is rejected and does not serve", () => {
    const r = root();
    const a = team("a", ["/a"]);
    const plan = planReload(r, accepted(r, a), [a, invalid("new")]);
    expect(plan.changed).toBe(false);
    expect(summary(plan)).toEqual({ serving: { "/cfg/teams/a.yaml": ["/a"] }, prefixes: ["/a"], rejected: ["/cfg/teams/new.yaml"] });
  });

  it("a prefix taken from another file is reported in the file that took it; the other keeps it", () => {
    const r = root();
    const z = team("z", ["/z"]);
    // a sorts before z: the clash is still reported in a, the candidate.
    const plan = planReload(r, accepted(r, team("a", ["/a"]), z), [team("a", ["/a", "/z"]), z]);
    expect(summary(plan)).toEqual({
      serving: { "/cfg/teams/a.yaml": ["/a"], "/cfg/teams/z.yaml": ["/z"] },
      prefixes: ["/a", "/z"],
      rejected: ["/cfg/teams/a.yaml"],
    });
    expect(problems(plan, "/cfg/teams/a.yaml").join("\n")).toMatch(/prefix \/z is already claimed by .*z\.yaml/);
  });

  it("a prefix freed by one file and claimed by another in the same update: both land (passes repeat)", () => {
    const r = root();
    const plan = planReload(r, accepted(r, team("a", ["/a"]), team("b", ["/shared"])), [team("a", ["/a", "/shared"]), team("b", ["/b"])]);
    expect(summary(plan)).toEqual({
      serving: { "/cfg/teams/a.yaml": ["/a", "/shared"], "/cfg/teams/b.yaml": ["/b"] },
      prefixes: ["/a", "/b", "/shared"],
      rejected: [],
    });
  });

  it("owners: a team file outside its grant, or naming no listed owner, is rejected alone", () => {
    const r = root({ owners: { pay: ["/pay"], ops: ["/ops"] } });
    const pay = team("pay", ["/pay"], "pay");
    const plan = planReload(r, accepted(r, pay, team("ops", ["/ops"], "ops")), [
      team("pay", ["/pay", "/ops2"], "pay"),
      team("ops", ["/ops"], "nobody"),
    ]);
    expect(summary(plan)).toEqual({
      serving: { "/cfg/teams/ops.yaml": ["/ops"], "/cfg/teams/pay.yaml": ["/pay"] },
      prefixes: ["/ops", "/pay"],
      rejected: ["/cfg/teams/pay.yaml", "/cfg/teams/ops.yaml"],
    });
    expect(problems(plan, "/cfg/teams/pay.yaml").join("\n")).toMatch(/prefix \/ops2 is outside what owners grants pay/);
    expect(problems(plan, "/cfg/teams/ops.yaml").join("\n")).toMatch(/owner "nobody" is not listed in the root file's owners/);
  });

  it("an invalid root file rejects the whole update: even valid team changes wait", () => {
    const bad: RootFile = { ...root(), problems: [{ file: ROOT_PATH, line: 3, col: 1, path: "include[0]", message: "matches no file" }] };
    const a = team("a", ["/a"]);
    const plan = planReload(bad, accepted(root(), a), [team("a", ["/a", "/a2"]), invalid("b")]);
    expect(plan.teams).toBeUndefined();
    expect(plan.config).toBeUndefined();
    expect([...plan.rejections.keys()]).toEqual(["/cfg/teams/b.yaml", ROOT_PATH]);
    expect(problems(plan, ROOT_PATH)).toEqual([`${ROOT_PATH}:3:1: include[0]: matches no file`]);
  });

  it("a root that narrows a grant under a file in use that did not change is rejected whole", () => {
    const before = root({ owners: { pay: ["/pay"], ops: ["/ops"] } });
    const ops = team("ops", ["/ops"], "ops");
    const pay = team("pay", ["/pay"], "pay");
    const plan = planReload(root({ owners: { pay: ["/pay", "/extra"], ops: ["/other"] } }), accepted(before, ops, pay), [
      ops,
      team("pay", ["/pay", "/extra"], "pay"),
    ]);
    expect(plan.teams).toBeUndefined();
    expect([...plan.rejections.keys()]).toEqual([ROOT_PATH]);
    const listed = problems(plan, ROOT_PATH);
    expect(listed[0]).toMatch(/root file change rejected: the route files in use no longer fit it/);
    expect(listed.join("\n")).toMatch(/ops\.yaml.*prefix \/ops is outside what owners grants ops/);
  });

  it("a root that moves a grant applies with the team file that moves under it, in one plan", () => {
    const before = root({ owners: { pay: ["/pay"] } });
    const plan = planReload(root({ owners: { pay: ["/billing"] } }), accepted(before, team("pay", ["/pay"], "pay")), [
      team("pay", ["/billing"], "pay"),
    ]);
    expect(plan.changed).toBe(true);
    expect(summary(plan)).toEqual({ serving: { "/cfg/teams/pay.yaml": ["/billing"] }, prefixes: ["/billing"], rejected: [] });
  });

  it("a root that moves a grant while the team file moves elsewhere: neither version fits, the root is rejected", () => {
    const before = root({ owners: { pay: ["/pay"] } });
    const plan = planReload(root({ owners: { pay: ["/billing"] } }), accepted(before, team("pay", ["/pay"], "pay")), [
      team("pay", ["/wrong"], "pay"),
    ]);
    expect(plan.teams).toBeUndefined();
    expect([...plan.rejections.keys()]).toEqual([ROOT_PATH]);
    const listed = problems(plan, ROOT_PATH);
    expect(listed[0]).toMatch(/root file change rejected/);
    expect(listed.join("\n")).toMatch(/pay\.yaml.*prefix \/wrong is outside what owners grants pay/);
  });

  it("a removed team file leaves the plan", () => {
    const r = root();
    const plan = planReload(r, accepted(r, team("a", ["/a"]), team("b", ["/b"])), [team("a", ["/a"])]);
    expect(plan.changed).toBe(true);
    expect(summary(plan)).toEqual({ serving: { "/cfg/teams/a.yaml": ["/a"] }, prefixes: ["/a"], rejected: [] });
  });
});

describe("afterBuildFailure", () => {
  const r = root();
  const routeOf = (plan: ReloadPlan, prefix: string): ResolvedRoute => plan.config!.routes.find((x) => x.prefix === prefix)!;

  it("a changed file whose upstream cannot be built goes back to its last good version; the others' changes stay", () => {
    const was = accepted(r, team("a", ["/a"]), team("b", ["/b"]));
    const plan = planReload(r, was, [team("a", ["/a", "/a2"]), team("b", ["/b", "/b2"])]);
    const next = afterBuildFailure(plan, was, r, { route: routeOf(plan, "/a2"), message: "cannot read ca.pem" }, 0);
    expect(summary(next)).toEqual({
      serving: { "/cfg/teams/a.yaml": ["/a"], "/cfg/teams/b.yaml": ["/b", "/b2"] },
      prefixes: ["/a", "/b", "/b2"],
      rejected: ["/cfg/teams/a.yaml"],
    });
    expect(problems(next, "/cfg/teams/a.yaml")).toEqual(["/cfg/teams/a.yaml: route /a2: cannot read ca.pem"]);
    expect(next.changed).toBe(true);
    expect(plan.rejections.size).toBe(0);
  });

  it("a new file whose upstream cannot be built leaves the plan; with nothing else changed there is nothing to apply", () => {
    const was = accepted(r, team("a", ["/a"]));
    const plan = planReload(r, was, [team("a", ["/a"]), team("n", ["/n"])]);
    const next = afterBuildFailure(plan, was, r, { route: routeOf(plan, "/n"), message: "address already in use" }, 0);
    expect(summary(next)).toEqual({ serving: { "/cfg/teams/a.yaml": ["/a"] }, prefixes: ["/a"], rejected: ["/cfg/teams/n.yaml"] });
    expect(next.changed).toBe(false);
  });

  it("a failure without a route, in a root route, or after too many attempts rejects the root change", () => {
    const withRootRoute = root({ routes: [route("/r")] });
    const was = accepted(r, team("a", ["/a"]));
    const plan = planReload(withRootRoute, was, [team("a", ["/a", "/a2"])]);
    const unknown = afterBuildFailure(plan, was, withRootRoute, { route: undefined, message: "boom" }, 0);
    expect(unknown.teams).toBeUndefined();
    expect(problems(unknown, ROOT_PATH)).toEqual([`${ROOT_PATH}: cannot build the route table: boom`]);
    const rootRoute = afterBuildFailure(plan, was, withRootRoute, { route: routeOf(plan, "/r"), message: "boom" }, 0);
    expect(problems(rootRoute, ROOT_PATH)).toEqual([`${ROOT_PATH}: route /r: boom`]);
    const tooMany = afterBuildFailure(plan, was, withRootRoute, { route: routeOf(plan, "/a2"), message: "boom" }, plan.teams!.size + 1);
    expect(tooMany.teams).toBeUndefined();
    expect(problems(tooMany, ROOT_PATH)).toEqual(["/cfg/teams/a.yaml: route /a2: boom"]);
  });
});
