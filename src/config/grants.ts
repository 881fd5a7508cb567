/**
 * Grants: what a team's route file may reach, from the root file's `owners` (see docs/teams-and-grants.md).
 * Modelled on the Gateway API: a grant lists what may attach (prefixes, upstream kinds, hosts) and what
 * may be referenced (secret folders, Redis servers); anything not granted is refused, and the problem
 * names the grant key that would allow it. Checked once, at load; nothing here runs per request.
 */
import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import { formatHostPort, urlHostPort } from "../net/address.js";
import { DEFAULT_DENY } from "../upstreams/kubernetes/default-deny.js";
import { kubeconfigReferences } from "./kubeconfig-references.js";
import type { GrantConfig, PathRuleConfig, RootFileConfig, RouteConfig } from "./schema.js";
import { UPSTREAM_KINDS } from "./schema.js";

export type UpstreamKind = (typeof UPSTREAM_KINDS)[number];

/** One team's grant with every default applied. */
export interface Grant {
  team: string;
  prefixes: readonly string[];
  upstreams: readonly UpstreamKind[];
  /** undefined: any host. */
  hosts: readonly string[] | undefined;
  /** As written, and resolved through symlinks (a Secret volume is a tree of links). */
  secretDirs: ReadonlyArray<{ written: string; real: string }>;
  liftDeny: boolean;
  /** Environment variables its files may name in ${VAR}. */
  env: readonly string[];
  /** Route files that may name this owner (relative to the root file's folder); undefined: any included file. */
  files: readonly string[] | undefined;
  redis: { urls: readonly string[] | undefined; keyPrefix: string | undefined; db: number | undefined };
}

/** Which grant let a route in, and the entries of it that did; shown by `attache routes` and /routes. */
export interface Admission {
  /** `owners.TEAM`, `root file`, or `no owners` (one-team setups: everything allowed). */
  by: string;
  /** The grant entries that matched, e.g. `prefix /payments`, `upstream redis`, `secretDir /var/run/secrets/pay`. */
  matched: string[];
}

/** A grant violation, located by its field path inside the route. */
export interface GrantProblem {
  path: PropertyKey[];
  message: string;
}

/** `owners` with the short form (`team: [/prefix]`) read as prefixes only, http only, no secret files. */
export function resolveGrants(owners: RootFileConfig["owners"]): Map<string, Grant> | undefined {
  if (!owners) return undefined;
  const grants = new Map<string, Grant>();
  for (const [team, entry] of Object.entries(owners))
    grants.set(team, Array.isArray(entry) ? shortGrant(team, entry) : longGrant(team, entry));
  return grants;
}

function shortGrant(team: string, prefixes: string[]): Grant {
  return {
    team,
    prefixes,
    upstreams: ["http"],
    hosts: undefined,
    secretDirs: [],
    liftDeny: false,
    env: [],
    files: undefined,
    redis: { urls: undefined, keyPrefix: undefined, db: undefined },
  };
}

function longGrant(team: string, g: GrantConfig): Grant {
  return {
    team,
    prefixes: g.prefixes,
    upstreams: g.upstreams ?? ["http"],
    hosts: g.hosts?.map((h) => h.toLowerCase()),
    secretDirs: (g.secretDirs ?? []).map((written) => ({ written, real: realOrSame(written) })),
    liftDeny: g.kubernetes?.liftDeny ?? false,
    env: g.env ?? [],
    files: g.files,
    redis: { urls: g.redis?.urls, keyPrefix: g.redis?.keyPrefix, db: g.redis?.db },
  };
}

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

/** The deny rules every kubernetes route starts from: the built-in ones, then the root's `kubernetes.deny`. */
export function kubernetesDenyFloor(root: RootFileConfig): readonly PathRuleConfig[] {
  return [...DEFAULT_DENY, ...(root.kubernetes?.deny ?? [])];
}

/**
 * A kubernetes route's deny list. A route without `deny` gets the floor. A route whose file may lift
 * it (root file, no owners, or a grant with kubernetes.liftDeny) replaces it with its own list; any
 * other route's rules are added to the floor.
 */
export function kubernetesDeny(route: RouteConfig, floor: readonly PathRuleConfig[], mayLift: boolean): readonly PathRuleConfig[] {
  if (route.deny === undefined) return floor;
  return mayLift ? route.deny : [...floor, ...route.deny];
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
  if (kubernetes) {
    const own = route.deny?.length ?? 0;
    if (route.deny !== undefined && own === 0 && !grant.liftDeny) {
      problems.push({
        path: ["deny"],
        message: `deny: [] would lift the platform's kubernetes deny floor; ${key}.kubernetes.liftDeny grants that (deny rules written here are added to the floor)`,
      });
    } else if (route.deny !== undefined && grant.liftDeny) matched.push("kubernetes.liftDeny (own deny list)");
    else matched.push(own ? `deny floor + ${own} rule(s)` : "deny floor");
    // Passing the app's Impersonate-* headers lifts a promise as the deny floor does: the same grant.
    if (kubernetes.identityHeaders === "pass" && !grant.liftDeny) {
      problems.push({
        path: ["upstream", "kubernetes", "identityHeaders"],
        message: `identityHeaders: pass would let the app impersonate whoever attache's ServiceAccount may; ${key}.kubernetes.liftDeny grants that`,
      });
    }
  }
  if (redis) checkRedis(redis, grant, key, problems, matched);

  const dirs = grant.secretDirs.length ? grant.secretDirs.map((d) => d.written).join(", ") : "none";
  const granted = (file: string) => {
    // Through symlinks: a link in a granted folder must not lead out of it.
    const real = realOrSame(file);
    const dir = grant.secretDirs.find((d) => isInside(real, d.real));
    if (dir && !matched.includes(`secretDir ${dir.written}`)) matched.push(`secretDir ${dir.written}`);
    return dir !== undefined;
  };
  for (const { path, file } of secretFiles(route.upstream, ["upstream"])) {
    if (!granted(file)) {
      problems.push({
        path,
        message: `file ${file} is outside the folders granted to ${grant.team} for secret files (${key}.secretDirs: ${dirs})`,
      });
      continue;
    }
    if (path.at(-1) !== "kubeconfig") continue;
    // A kubeconfig inside the folders must not lead out of them, nor run a command as attache.
    let refs: ReturnType<typeof kubeconfigReferences>;
    try {
      refs = kubeconfigReferences(file);
    } catch (err) {
      problems.push({ path, message: `kubeconfig ${file} cannot be read: ${(err as Error).message.split("\n")[0]}` });
      continue;
    }
    for (const ref of refs.files.filter((f) => !granted(f.path))) {
      problems.push({
        path,
        message: `kubeconfig ${ref.field} names ${ref.path}, outside the folders granted to ${grant.team} for secret files (${key}.secretDirs: ${dirs})`,
      });
    }
    for (const plugin of refs.plugins) {
      problems.push({
        path,
        message: `kubeconfig ${plugin} would run a plugin inside attache; only a kubeconfig named in the root file may`,
      });
    }
  }
  return { problems, matched };
}

type HttpConfig = NonNullable<RouteConfig["upstream"]["http"]>;
type RedisConfig = NonNullable<RouteConfig["upstream"]["redis"]>;

function checkHttp(http: HttpConfig, grant: Grant, key: string, problems: GrantProblem[], matched: string[]): void {
  const target = (names: string[], path: PropertyKey[], shown: string) => {
    if (!grant.hosts) return;
    const hit = grant.hosts.find((pattern) => names.some((n) => hostMatches(n, pattern)));
    if (hit) {
      if (!matched.includes(`host ${hit}`)) matched.push(`host ${hit}`);
    } else
      problems.push({ path, message: `host ${shown} is not granted to ${grant.team} (${key}.hosts: ${grant.hosts.join(", ") || "none"})` });
  };
  http.endpoints?.forEach((url, i) => {
    const host = new URL(url).hostname;
    target([host], ["upstream", "http", "endpoints", i], host);
  });
  const dns = http.discovery?.dns;
  if (dns) {
    target([dns.name], ["upstream", "http", "discovery", "dns", "name"], dns.name);
    // Its own DNS servers could answer any address for a granted name.
    if (grant.hosts && dns.servers)
      problems.push({
        path: ["upstream", "http", "discovery", "dns", "servers"],
        message: `dns servers of its own are not allowed where ${key}.hosts restricts targets: names are resolved by the pod's resolvers`,
      });
  }
  const k8s = http.discovery?.kubernetes;
  if (k8s) {
    const base = ["upstream", "http", "discovery", "kubernetes"];
    // Another API server or kubeconfig would receive the pod's Kubernetes credentials.
    for (const connection of ["server", "kubeconfig", "context"] as const) {
      if (k8s[connection] !== undefined && !grant.upstreams.includes("kubernetes")) {
        problems.push({
          path: [...base, connection],
          message: `${connection} chooses where the pod's Kubernetes credentials go; only a team granted the kubernetes upstream may set it (${key}.upstreams)`,
        });
      }
    }
    if (grant.hosts && k8s.namespace === undefined) {
      problems.push({
        path: [...base, "service"],
        message: `name the service's namespace: ${key}.hosts restricts targets to ${grant.hosts.join(", ") || "none"}`,
      });
    } else if (k8s.namespace !== undefined) {
      const name = `${k8s.service}.${k8s.namespace}.svc`;
      target([name, `${name}.cluster.local`], [...base, "service"], `${name}.cluster.local`);
    }
  }
}

function checkRedis(redis: RedisConfig, grant: Grant, key: string, problems: GrantProblem[], matched: string[]): void {
  const urls = grant.redis.urls;
  if (urls) {
    const granted = urls.map((u) => new URL(u));
    const hostPort = (u: URL) => {
      const { host, port } = urlHostPort(u);
      return formatHostPort(host.toLowerCase(), port);
    };
    if (redis.url) {
      const want = new URL(redis.url);
      const hit = granted.find((g) => g.protocol === want.protocol && hostPort(g) === hostPort(want));
      if (hit) matched.push(`redis ${hit.protocol}//${hostPort(hit)}`);
      else
        problems.push({
          path: ["upstream", "redis", "url"],
          message: `redis server ${want.protocol}//${hostPort(want)} is not granted to ${grant.team} (${key}.redis.urls: ${urls.join(", ")})`,
        });
    }
    const nodes = redis.sentinels
      ? (["sentinels", redis.sentinels] as const)
      : redis.cluster
        ? (["cluster", redis.cluster] as const)
        : undefined;
    nodes?.[1].forEach((node, i) => {
      const want = new URL(`redis://${node}`);
      if (granted.some((g) => hostPort(g) === hostPort(want))) return;
      problems.push({
        path: ["upstream", "redis", nodes[0], i],
        message: `redis server ${node} is not granted to ${grant.team} (${key}.redis.urls: ${urls.join(", ")})`,
      });
    });
  }
  const prefix = grant.redis.keyPrefix;
  if (prefix !== undefined) {
    if (redis.keyPrefix === undefined || !redis.keyPrefix.startsWith(prefix)) {
      const path = redis.keyPrefix === undefined ? ["upstream", "redis"] : ["upstream", "redis", "keyPrefix"];
      problems.push({ path, message: `keyPrefix must start with ${JSON.stringify(prefix)} (${key}.redis.keyPrefix)` });
    } else matched.push(`keyPrefix ${JSON.stringify(prefix)}`);
  }
  const db = grant.redis.db;
  if (db !== undefined) {
    const used = redisDb(redis);
    if (used !== db) {
      const how = redis.url ? `use db ${db}` : `the platform pins db ${db}, which only a url route can select`;
      problems.push({
        path: redis.url ? ["upstream", "redis", "url"] : ["upstream", "redis"],
        message: `database ${used} is not granted to ${grant.team}: ${how} (${key}.redis.db)`,
      });
    } else matched.push(`db ${db}`);
  }
}

/** The database a redis route selects: the url's path (`redis://host:6379/2`), else 0. */
export function redisDb(redis: RedisConfig): number {
  const path = redis.url ? new URL(redis.url).pathname : "";
  return path.length > 1 ? Number(path.slice(1)) || 0 : 0;
}

/** Every `*File` and `kubeconfig` value under `node`, with its field path. */
function secretFiles(node: unknown, path: PropertyKey[]): Array<{ path: PropertyKey[]; file: string }> {
  const out: Array<{ path: PropertyKey[]; file: string }> = [];
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) out.push(...secretFiles(item, [...path, i]));
  } else if (node && typeof node === "object") {
    for (const [key, child] of Object.entries(node as Record<string, unknown>)) {
      if (typeof child === "string" && (key.endsWith("File") || key === "kubeconfig")) out.push({ path: [...path, key], file: child });
      else out.push(...secretFiles(child, [...path, key]));
    }
  }
  return out;
}

/** `*.example.com` matches names under example.com (not example.com itself); anything else matches exactly. */
export function hostMatches(host: string, pattern: string): boolean {
  const h = host.toLowerCase();
  return pattern.startsWith("*.") ? h.endsWith(pattern.slice(1)) && h.length > pattern.length - 1 : h === pattern;
}

/** `/a/b` is under `/a` (segment boundary), and under itself; `/ab` is not under `/a`. */
export function isUnder(prefix: string, granted: string): boolean {
  if (granted === "/" || prefix === granted) return true;
  return prefix.startsWith(granted) && prefix[granted.length] === "/";
}

function isInside(file: string, dir: string): boolean {
  const base = dir.endsWith("/") ? dir : `${dir}/`;
  return file.startsWith(base);
}

function realOrSame(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
