/**
 * What a kubeconfig named in a route makes attache read or run: the files its users and clusters
 * name (token-file, client-certificate, client-key, certificate-authority), resolved next to the
 * kubeconfig as kubectl does, and its exec / auth-provider plugins. Validation checks those files as
 * secret files, and grants check them against a team's folders (a kubeconfig must not lead out of them).
 */
import { dirname, isAbsolute, resolve } from "node:path";
import { parse } from "yaml";
import { readSecretFile } from "./secrets.js";

/** A kubeconfig may embed certificates for many clusters; still far below this. */
export const KUBECONFIG_MAX_BYTES = 1024 * 1024;

export interface KubeconfigReferences {
  /** Absolute paths, with the kubeconfig field that names each. */
  files: Array<{ field: string; path: string }>;
  /** `users[NAME].exec` or `users[NAME].auth-provider`: each runs code on attache's behalf. */
  plugins: string[];
}

const USER_FILES = ["token-file", "client-certificate", "client-key"] as const;
const CLUSTER_FILES = ["certificate-authority"] as const;

/** The references of the kubeconfig at `path` (already checked to be a bounded regular file); throws if it is not YAML. */
export function kubeconfigReferences(path: string): KubeconfigReferences {
  const doc = parse(readSecretFile(path, KUBECONFIG_MAX_BYTES).toString("utf8")) as {
    users?: Array<{ name?: unknown; user?: Record<string, unknown> }>;
    clusters?: Array<{ name?: unknown; cluster?: Record<string, unknown> }>;
  } | null;
  const out: KubeconfigReferences = { files: [], plugins: [] };
  const at = (value: unknown) => (isAbsolute(String(value)) ? String(value) : resolve(dirname(path), String(value)));
  for (const u of Array.isArray(doc?.users) ? doc.users : []) {
    const name = String(u?.name ?? "?");
    for (const field of USER_FILES)
      if (typeof u?.user?.[field] === "string") out.files.push({ field: `users[${name}].${field}`, path: at(u.user[field]) });
    for (const plugin of ["exec", "auth-provider"]) if (u?.user?.[plugin] !== undefined) out.plugins.push(`users[${name}].${plugin}`);
  }
  for (const c of Array.isArray(doc?.clusters) ? doc.clusters : []) {
    const name = String(c?.name ?? "?");
    for (const field of CLUSTER_FILES)
      if (typeof c?.cluster?.[field] === "string") out.files.push({ field: `clusters[${name}].${field}`, path: at(c.cluster[field]) });
  }
  return out;
}
