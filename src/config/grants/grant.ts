/** A team's grant with every default applied (from the root's `owners`), and what a grant check reports. */
import type { GrantConfig, RootFileConfig, UPSTREAM_KINDS } from "../schema.js";
import { realOrSame } from "./folders.js";

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
