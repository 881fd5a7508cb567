/** The grant check of a route's `*File` and `kubeconfig` keys: inside `secretDirs`, through symlinks and kubeconfig references. */
import { kubeconfigReferences } from "../kubeconfig-references.js";
import type { RouteConfig } from "../schema.js";
import { isInside, realOrSame } from "./folders.js";
import type { Grant, GrantProblem } from "./grant.js";

/** Each secret file of `upstream` outside the grant's folders, and the folders that held the others. */
export function checkSecretFiles(
  upstream: RouteConfig["upstream"],
  grant: Grant,
  key: string,
  problems: GrantProblem[],
  matched: string[],
): void {
  const dirs = grant.secretDirs.length ? grant.secretDirs.map((d) => d.written).join(", ") : "none";
  const granted = (file: string) => {
    // Through symlinks: a link in a granted folder must not lead out of it.
    const real = realOrSame(file);
    const dir = grant.secretDirs.find((d) => isInside(real, d.real));
    if (dir && !matched.includes(`secretDir ${dir.written}`)) matched.push(`secretDir ${dir.written}`);
    return dir !== undefined;
  };
  for (const { path, file } of secretFiles(upstream, ["upstream"])) {
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
