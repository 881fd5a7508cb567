/**
 * Grants: what a team's route file may reach, from the root file's `owners` (see docs/teams-and-grants.md).
 * Modelled on the Gateway API: a grant lists what may attach (prefixes, upstream kinds, hosts) and what
 * may be referenced (secret folders, Redis servers); anything not granted is refused, and the problem
 * names the grant key that would allow it. Checked once, at load; nothing here runs per request.
 * The checks per upstream kind, secret folders and the kubernetes deny floor live in grants/.
 */
import { resolve } from "node:path";
import { UPSTREAM_KINDS, type RouteConfig } from "./schema.js";
import { isInside } from "./grants/folders.js";
import type { Grant, GrantProblem } from "./grants/grant.js";
import { checkHttp } from "./grants/http.js";
import { checkKubernetes } from "./grants/kubernetes.js";
import { checkRedis } from "./grants/redis.js";
import { checkSecretFiles } from "./grants/secret-files.js";

export { type Admission, type Grant, type GrantProblem, resolveGrants, type UpstreamKind } from "./grants/grant.js";
export { hostMatches } from "./grants/http.js";
export { kubernetesDeny, kubernetesDenyFloor } from "./grants/kubernetes.js";
export { redisDb } from "./grants/redis.js";

/**
 * Why the route file at `path` may not name `grant`'s team as its owner, or undefined when it may.
 * `owner` is written by the team itself; `files` ties the name to the files (ConfigMap mounts) that
 * only that team can write, as the Gateway API ties routes to namespaces.
 */
export function fileMayClaim(grant: Grant, path: string, rootDir: string): string | undefined {
  if (!grant.files) return undefined;
  const allowed = grant.files.map((f) => resolve(rootDir, f));
  if (allowed.some((f) => path === f || isInside(path, f))) return undefined;
  return `this file may not name owner ${grant.team}: owners.${grant.team}.files allows ${grant.files.join(", ")}`;
}

/** Each ${VAR} in a team file that its grant does not list: attache's environment may hold secrets. */
export function variableProblems(
  grant: Grant,
  variables: ReadonlyArray<{ name: string; line: number; col: number; path: string }>,
): Array<{ line: number; col: number; path: string; message: string }> {
  return variables
    .filter((v) => !grant.env.includes(v.name))
    .map((v) => ({
      ...v,
      message: `environment variable ${v.name} is not granted to ${grant.team} (owners.${grant.team}.env: ${grant.env.join(", ") || "none"})`,
    }));
}

/** Every way `route` exceeds `grant`, and the grant entries that admitted it. */
export function checkGrant(route: RouteConfig, grant: Grant): { problems: GrantProblem[]; matched: string[] } {
  const problems: GrantProblem[] = [];
  const matched: string[] = [];
  const key = `owners.${grant.team}`;
  const prefix = grant.prefixes.find((g) => isUnder(route.prefix, g));
  if (prefix) matched.push(`prefix ${prefix}`);
  else
    problems.push({
      path: ["prefix"],
      message: `prefix ${route.prefix} is outside what owners grants ${grant.team} (${grant.prefixes.join(", ")})`,
    });
  const kind = UPSTREAM_KINDS.find((k) => route.upstream[k] !== undefined)!;
  if (!grant.upstreams.includes(kind)) {
    problems.push({
      path: ["upstream", kind],
      message: `upstream kind ${kind} is not granted to ${grant.team} (${key}.upstreams: ${grant.upstreams.join(", ")})`,
    });
  } else matched.push(`upstream ${kind}`);

  const { http, kubernetes, redis } = route.upstream;
  if (http) checkHttp(http, grant, key, problems, matched);
  if (kubernetes) checkKubernetes(route, grant, key, problems, matched);
  if (redis) checkRedis(redis, grant, key, problems, matched);
  checkSecretFiles(route.upstream, grant, key, problems, matched);
  return { problems, matched };
}

/** `/a/b` is under `/a` (segment boundary), and under itself; `/ab` is not under `/a`. */
export function isUnder(prefix: string, granted: string): boolean {
  if (granted === "/" || prefix === granted) return true;
  return prefix.startsWith(granted) && prefix[granted.length] === "/";
}
